"""A warm worker: a long-lived Ray actor that already holds PyTorch, this package and the data, and trains one
run after another (the pool, mnist_core.jobs.ray.pool, hands it each run and replaces it when it dies).

Its process pays the start-up once (Ray's worker, `import torch`, this package, MNIST read from disk: seconds)
instead of once per run. A run is `work.train_job`, the very body the local threads run, in the worker's one
training thread (always the same thread: the allocator's arena is reused run after run). The apps read the
run's curves from here (`read`, the job's `delta`) and a stop reaches the job's own flag (`stop`), seen at its
next step. An ended run stays readable for a while (READ_KEEP) so that every app following it reads its end;
past that its status file and checkpoint have it.

After each run the worker collects its garbage and gives freed memory back to the system (glibc's
malloc_trim), and reports its resident memory: the pool keeps it, and bench/ray_soak.py prints it over 50 runs.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from ...events import ACTIVE, RunStatus
from ...runs import RunsFolder
from ..job import Job
from ..work import end, train_job
from .common import first_line

log = logging.getLogger(__name__)

READ_KEEP = 120.0  # seconds an ended run stays readable here
READ_KEEP_RUNS = 64  # and at most this many ended runs
MMAP_THRESHOLD = 4 * 2**20  # buffers over 4 MB are mmapped, and given back when freed (as the app does)


def resident_bytes() -> int:
    """This process's resident memory (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def give_back_memory() -> None:
    """Collect garbage and hand glibc's free pages back to the system (a no-op off glibc)."""
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def warm_up() -> dict:
    """Everything a run needs, loaded once: torch and the training code, the data set when the data folder has
    it, and one short training on it (torch's first-call costs, the evaluation's buffers); without the data one
    step of a small model. Returns what it did, in words."""
    import ray
    import torch

    from ... import data, models, training
    from ...config import TrainConfig

    libc = _libc()
    if libc is not None and not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        libc.mallopt(-3, MMAP_THRESHOLD)  # -3: M_MMAP_THRESHOLD
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))  # the CPUs Ray reserved for this worker
    if data.is_available("mnist"):  # loaded as a run loads it (the same cache entry), held for every run
        training.train(TrainConfig(arch="mlp", epochs=1, train_limit=256, batch_size=64, device="cpu"))
        return {"threads": torch.get_num_threads(), "data": ["mnist"]}
    model = models.build("mlp")
    loss = torch.nn.functional.cross_entropy(model(torch.rand(8, 1, 28, 28)), torch.zeros(8, dtype=torch.long))
    loss.backward()
    return {"threads": torch.get_num_threads(), "data": []}


class WarmWorker:
    """One warm worker (made a Ray actor by the pool). `run` trains a run to its end and returns how it ended;
    `read`, `stop` and `info` answer meanwhile (the actor takes several calls at once)."""

    def __init__(self, shape: str):
        import ray

        t0 = time.monotonic()
        self.shape = shape
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}  # runs here, by their name in the cluster (job.worker)
        self._ended: OrderedDict[str, tuple[Job, float]] = OrderedDict()  # ended runs, still readable
        self._early_stops: set[str] = set()  # stops that came before their run
        self._folders: dict[str, RunsFolder] = {}
        self._trainer = ThreadPoolExecutor(1, thread_name_prefix="mnist-lab-run")  # every run in one thread
        self._loaded = self._trainer.submit(warm_up).result()
        give_back_memory()
        ctx = ray.get_runtime_context()
        self._info = {
            "shape": shape,
            "pid": os.getpid(),
            "node": ctx.get_node_id(),
            "resources": ctx.get_assigned_resources(),
            "warm_s": round(time.monotonic() - t0, 2),
            "rss_start": resident_bytes(),
            "rss_runs": [],  # (runs done, resident bytes after that run): the first ten, then every tenth
            "rss_last": None,  # (runs done, resident bytes after the last run, once it gave memory back)
            "runs": 0,
            **self._loaded,
        }

    def info(self) -> dict:
        with self._lock:
            return {**self._info, "rss_now": resident_bytes(), "rss_runs": list(self._info["rss_runs"])}

    def run(self, spec: dict) -> dict:
        """Train the run `spec` (Job.spec's plain data) to its end; returns its status and this worker's memory."""
        job = Job.from_spec(spec)
        folder = self._folders.get(spec["runs_dir"])
        if folder is None:
            folder = self._folders[spec["runs_dir"]] = RunsFolder(spec["runs_dir"])
        with self._lock:
            self._jobs[job.worker] = job
            if job.worker in self._early_stops:
                self._early_stops.discard(job.worker)
                job.stop()
        try:
            self._trainer.submit(self._train, job, folder, spec["download"]).result()
        finally:
            with self._lock:
                self._jobs.pop(job.worker, None)
                self._ended[job.worker] = (job, time.monotonic())
                self._forget_old()
        return {"status": str(job.status), "rss": self._after_run()}

    def _train(self, job: Job, folder: RunsFolder, download: bool) -> None:
        try:
            train_job(job, folder, download)
        except Exception as exc:
            log.exception("job %s crashed on its Ray worker", job.name)
            end(job, folder, RunStatus.FAILED, f"internal error on the Ray worker ({first_line(exc)})")
        if job.status in ACTIVE:  # never left running, whatever happened
            end(job, folder, RunStatus.FAILED, "internal error on the Ray worker (the run did not end)")

    def _after_run(self) -> int:
        self._trainer.submit(give_back_memory).result()
        rss = resident_bytes()
        with self._lock:
            self._info["runs"] += 1
            n = self._info["runs"]
            self._info["rss_last"] = (n, rss)
            if n <= 10 or n % 10 == 0:
                self._info["rss_runs"].append((n, rss))
                del self._info["rss_runs"][:-64]
        return rss

    def _forget_old(self) -> None:
        now = time.monotonic()
        while self._ended:
            name, (_, ended) = next(iter(self._ended.items()))
            if len(self._ended) <= READ_KEEP_RUNS and now - ended < READ_KEEP:
                break
            self._ended.pop(name)

    def read(self, name: str, cursor: tuple[int, int, int]) -> dict | None:
        """What is new in the run `name` since `cursor` (Job.delta); None when this worker does not have it
        (not begun here yet, or ended long ago: its status file has it)."""
        with self._lock:
            job = self._jobs.get(name) or self._ended.get(name, (None, 0))[0]
        return None if job is None else job.delta(tuple(cursor))

    def stop(self, name: str) -> None:
        """Stop the run `name`: its own flag, seen at its next step (kept for it when the run has not come)."""
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                if name not in self._ended:
                    self._early_stops.add(name)
                return
        job.stop()
