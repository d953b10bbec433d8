"""Training jobs on a Ray cluster: the backend that mnist_core.jobs.factory picks when a Ray address is set.

The runs train on warm workers: long-lived Ray actors that already hold PyTorch, this package and the data
(mnist_core.jobs.ray.worker), one run after another, handed out by the cluster's pool (mnist_core.jobs.ray.pool,
one named, detached actor that keeps the queue in turn by visitor and the fleet of workers, and replaces a
worker that dies). So a run waits for training, not for a process to start (docs/classroom.md argues the
design). The queue and the workers live in the cluster, not in the app: an app restart loses no run, and
every app process connected to the cluster and sharing the runs folder sees the same runs.

On a worker, a run is `work.train_job`, the very body the local threads run: its status files and its
checkpoint land in the runs folder exactly as a local run's do. The worker keeps the run's curves; the app
follows each run with one poller thread that asks the pool where each waiting run is (its place in the queue,
or its worker) and reads what is new from the worker (`Job.delta`) into its own copy of the job (`Job.apply`),
so the pages read it as any job. Stop goes to the pool: a queued run is taken out and never runs, a running
one gets its job's flag set, seen at its next step. A worker that dies mid-run leaves a failed run (the pool
writes it, and this app too if it reads the death first), never one stuck as running.

The runs folder and the data folder must be at the same paths on every node (one machine, or a shared
filesystem). Ray is optional (requirements-ray.txt): nothing here imports it until a backend is made, and
nothing but mnist_core.jobs.factory imports this package. A job's `worker` is its run's name in the cluster.
Measuring uploads stays in this process, in a ThreadBackend, in turn by visitor.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ... import checkpoints, settings
from ...events import ACTIVE, RunStatus
from ...runs import RunsFolder
from ..backend import EVAL_QUEUE, device_queue
from ..job import Job
from ..threads import ThreadBackend
from ..work import NOT_STARTED, end
from .common import DIED, GONE, LOST, NAMESPACE, POOL_NAME, code_version, first_line

log = logging.getLogger(__name__)

__all__ = ["NAMESPACE", "RayBackend", "connect", "first_line", "installed", "reachable", "run_alive"]

POLL_SECONDS = 0.2  # how often the app reads each run's news (the Train page redraws once a second)
CALL_TIMEOUT = 10.0  # seconds to wait for the pool's answer


def installed() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _pool(ray):
    return ray.get_actor(POOL_NAME, namespace=NAMESPACE)


def run_alive(name: str) -> bool | None:
    """Whether the cluster still has the run `name` (queued or running); None when this process is not
    connected to Ray, or Ray cannot say."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    try:
        pool = _pool(ray)
    except ValueError:  # no pool: the cluster has no run of this lab
        return False
    except Exception:  # the cluster is unreachable: it cannot say
        return None
    try:
        return bool(ray.get(pool.alive.remote(name), timeout=CALL_TIMEOUT))
    except Exception:
        return None


def reachable(address: str, timeout: float = 3.0) -> None:
    """ConnectionError at once when nothing listens at a HOST:PORT or ray://HOST:PORT address (Ray itself
    would wait minutes before it gives up); "auto" and "local" are Ray's to find."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError:
        raise ConnectionError(f"nothing answers at {hostport}") from None


def connect(address: str) -> None:
    """Join the Ray cluster at `address` ("auto", "ray://host:port", or "local" to start one here), unless
    this process already is connected. Workers get this package (py_modules) and the MNIST_* settings."""
    import ray

    if ray.is_initialized():
        return
    reachable(address)
    from pathlib import Path

    env = settings.for_workers()
    runtime_env = {"py_modules": [str(Path(__file__).resolve().parents[2])], "env_vars": env}  # mnist_core
    extra = {"include_dashboard": False} if address == "local" else {}
    ray.init(address=address, namespace=NAMESPACE, runtime_env=runtime_env, log_to_driver=False, **extra)


@dataclass
class _Followed:
    job: Job
    queue: str
    worker: object = None  # the handle of the worker that runs it, once the pool has said
    ref: object = None  # the read in flight
    cursor: tuple[int, int, int] = (0, 0, 0)
    started: bool = False  # its worker has answered with it: it trains (or has ended)
    position: int | None = None  # its place in the pool's queue, as last said
    state: str = "queued"  # as the pool last said: queued, running, ended
    misses: int = 0  # answers in a row without it (its worker has not begun it yet)
    errors: int = 0  # reads in a row that failed for a reason other than the worker's end


class RayBackend:
    """backend.Backend over Ray: training jobs go to the cluster's pool of warm workers; measuring an upload
    (EVAL_QUEUE) stays in this process, in a ThreadBackend (it takes seconds and reads the app's own test set)."""

    keeps_running = True  # its runs outlive the app (not with "local": that Ray ends with the app)
    MAX_ERRORS = 25  # failed reads in a row (5 s) before a run is given up as lost
    MAX_MISSES = 50  # a worker that has not begun its run after 10 s: read where it is again

    def __init__(self, run_local: Callable[[Job], None], folder: RunsFolder, download: bool, address: str):
        connect(address)
        from . import pool

        self.address = address
        self._pool = pool.get_or_create(code_version())
        import ray

        theirs = ray.get(self._pool.version.remote(), timeout=60)  # also: the pool answers (else: not Ray)
        if theirs != code_version():
            log.warning(
                "the Ray cluster's pool runs another version of this lab (%s; this app: %s): its workers train with "
                "that code. Restart the cluster (ray stop; ray start ...) to update them",
                theirs,
                code_version(),
            )
        self._folder, self._download = folder, download
        self._local = ThreadBackend(run_local)
        self._lock = threading.Lock()  # guards _followed
        self._followed: dict[str, _Followed] = {}
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="mnist-lab-ray-poller", daemon=True)
        self._poller.start()

    # -- backend.Backend ----------------------------------------------------------------------------
    def start(self, queue: str, job: Job) -> None:
        if queue == EVAL_QUEUE:
            return self._local.start(queue, job)
        import ray

        job.worker = f"mnist-lab-{job.id}"
        # the device as resolved here: a worker never picks another one (Ray reserved this one for it)
        spec = job.spec(device=queue, runs_dir=str(self._folder.path), download=self._download)
        self._folder.write_status(job)  # queued on Ray, named: before its worker can write that it runs
        try:
            if queue == "cuda" and not ray.cluster_resources().get("GPU"):
                raise ValueError("the Ray cluster has no GPU: choose the cpu device")
            ray.get(self._pool.submit.remote(spec, queue), timeout=CALL_TIMEOUT)
        except Exception as exc:  # the cluster went away, or cannot hold this run
            log.exception("could not hand run %s to Ray", job.name)
            return end(job, self._folder, RunStatus.FAILED, f"Ray could not take it ({first_line(exc)})")
        self._follow(job, queue, started=False)

    def stop(self, job: Job) -> bool:
        if job.worker is None:
            return self._local.stop(job)
        import ray

        try:
            said = ray.get(self._pool.stop.remote(job.worker), timeout=CALL_TIMEOUT)
        except Exception:  # out of reach: the run goes on; its status file and the poller say how it ends
            log.exception("could not stop run %s on Ray", job.name)
            return False
        if said == "cancelled":  # taken out of the queue: it never runs, the runner ends it
            with self._lock:
                self._followed.pop(job.id, None)
            return True
        return False  # its worker stops it at its next step, or it has ended: the poller reads its end

    def close(self) -> None:
        self._closed.set()
        self._poller.join(5)
        self._local.close()

    def attach(self, job: Job) -> bool:
        """Follow a run that the cluster runs for another app process (or for this app before a restart)."""
        self._follow(job, device_queue(job.config), started=job.status == RunStatus.RUNNING)
        return True

    def position(self, job: Job) -> int | None:
        """1 for the next run to start on its device, as the pool said at the last poll (in turn by visitor,
        every app's runs together); None when it is not waiting."""
        if job.worker is None:
            return self._local.position(job)
        with self._lock:
            f = self._followed.get(job.id)
            if f is None or f.started or f.worker is not None:  # on a worker: it has begun, or is about to
                return None
            if f.position is not None:
                return f.position
            return 1 + sum(
                1
                for o in self._followed.values()
                if not o.started and o.queue == f.queue and o.job.created < job.created
            )

    def describe(self) -> str:
        return f"the Ray cluster at {self.address}"

    def workers(self, fresh: bool = False) -> list[dict]:
        """The pool's warm workers: name, shape, state, pid, node, resources, memory (fresh: asked now)."""
        import ray

        return ray.get(self._pool.workers.remote(fresh), timeout=60)

    def wait_warm(self, timeout: float = 120.0) -> bool:
        """Wait until the pool has its workers warm (none still starting); False at the timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.workers()
            if rows and all(r["state"] != "warming" for r in rows):
                return True
            time.sleep(0.2)
        return False

    # -- following the runs ----------------------------------------------------------------------
    def _follow(self, job: Job, queue: str, started: bool) -> None:
        with self._lock:
            self._followed[job.id] = _Followed(job, queue, started=started)

    def _poll(self) -> None:
        import ray

        while not self._closed.is_set():
            t0 = time.monotonic()
            with self._lock:
                items = list(self._followed.values())
            try:
                self._place([f for f in items if f.worker is None], ray)
                for f in items:
                    if f.worker is not None and f.ref is None:
                        f.ref = f.worker.read.remote(f.job.worker, f.cursor)
                refs = [f.ref for f in items if f.ref is not None]
                ready = set(ray.wait(refs, num_returns=len(refs), timeout=POLL_SECONDS)[0] if refs else [])
            except Exception:  # the cluster is out of reach for now: the runs are Ray's, read them later
                log.exception("reading the Ray runs failed")
                for f in items:
                    f.ref = None
                self._closed.wait(1.0)
                continue
            for f in items:
                if f.ref is not None and f.ref in ready:
                    try:
                        self._take(f, ray)
                    except Exception:  # one odd answer never stops the others being followed
                        log.exception("following run %s failed", f.job.name)
            self._closed.wait(max(0.0, POLL_SECONDS - (time.monotonic() - t0)))

    def _place(self, items: list[_Followed], ray) -> None:
        """Ask the pool where the runs not yet on a worker are: queued (their place), on a worker, or unknown."""
        if not items:
            return
        said = ray.get(self._pool.where.remote([f.job.worker for f in items]), timeout=CALL_TIMEOUT)
        for f in items:
            w = said.get(f.job.worker, {"state": "unknown"})
            f.state = w["state"]
            if w["state"] == "queued":
                f.position = w["position"]
            elif w.get("worker") is not None:
                f.worker, f.position = w["worker"], None
            else:  # the pool has no such run, or its worker died: the status file says how it ended
                self._lost(f, GONE if w["state"] == "unknown" else DIED)

    def _take(self, f: _Followed, ray) -> None:
        ref, f.ref = f.ref, None
        try:
            d = ray.get(ref)
        except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
            return  # for a moment: read again
        except ray.exceptions.RayActorError:  # the worker is gone (killed, or its machine lost)
            return self._lost(f, DIED)
        except Exception as exc:
            log.exception("reading run %s from Ray failed", f.job.name)
            f.errors += 1
            if f.errors >= self.MAX_ERRORS:
                self._lost(f, first_line(exc))
            return
        if d is None:  # its worker has not begun it yet, or (ended a while ago) no longer keeps it
            if f.started or f.state == "ended":
                return self._lost(f, GONE)  # its status file has its end
            f.misses += 1
            if f.misses >= self.MAX_MISSES:  # ask the pool where it is again
                f.worker, f.misses = None, 0
            return
        with self._lock:
            if self._followed.get(f.job.id) is not f:
                return  # stopped, or given up, meanwhile
            f.started, f.errors, f.misses = True, 0, 0
            f.cursor = f.job.apply(d)  # an end it reads ends the job here too
            if f.job.status not in ACTIVE:
                self._followed.pop(f.job.id)

    def _lost(self, f: _Followed, why: str) -> None:
        """The run is gone from the cluster without this app having read its end: its status file has the last
        word, if it wrote one; else the run failed, and its status file now says so."""
        with self._lock:
            if self._followed.get(f.job.id) is not f:
                return
            self._followed.pop(f.job.id)
        job = f.job
        try:
            run = self._folder.read_status(self._folder.status_path(job.name))
        except checkpoints.CheckpointError:
            run = None
        if run is not None and run.status not in (*ACTIVE, RunStatus.INTERRUPTED):  # its own end, written
            job.end_as_recorded(run)
        elif job.stop_requested and not f.started:
            end(job, self._folder, RunStatus.STOPPED, NOT_STARTED)
        else:
            end(job, self._folder, RunStatus.FAILED, LOST.format(why=why))
