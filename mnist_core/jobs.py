"""Background training jobs: a Job (stop flag, snapshots) and the runner, over a backend that runs them.

A `JobRunner` is meant to exist once per process (the app holds it in `st.cache_resource`), so
every browser session sees, and can stop, the same jobs. Where a job runs is its backend's concern
(`Backend`: start, stop, close); the default, `ThreadBackend`, keeps a queue per device drained by
$MNIST_LAB_RUNS_PER_DEVICE worker threads (one: jobs on one device run one at a time); with
$MNIST_LAB_RAY_ADDRESS set, `ray_backend.RayBackend` runs each on a Ray cluster instead, the job's body
(`train_job`) being the same. The training loop reports through `Job._on_event` (called from the
worker) into lists guarded by the job's lock; a page reads `Job.snapshot()`, a copy taken under that
lock, and never touches the live lists. Nothing here imports streamlit.

Every job writes a small JSON status file next to its checkpoint at each change of status, and a
new runner restores the runs it finds there (mnist_core.runs: names, status files, listing, what a
restart leaves: "interrupted" for a job whose process is gone while it was queued or running).

Who may stop a run: the session that started it (its `owner` token), or the code that holds the
runner (the command line, tests, `close`). Nothing else sets a job's stop flag: closing a browser,
opening a new session or rerunning a page never does, and another visitor's session is not shown a
Stop button for a run it did not start.

An uploaded checkpoint becomes a run through `add_upload`: it gets a name no job (queued, running
or done) and no file uses, and its accuracy is measured on the test set by an "evaluate" job when
the data is there; until then (or without the data) the file's own figure is only "claimed".
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from . import checkpoints, data, devices, inference, settings, training
from .events import ACTIVE, Event, EventKind, RunStatus
from .models import ARCHS
from .runs import (  # noqa: F401
    EVALUATE,
    NAME_LEN,
    RESERVED,
    STATUS_FORMAT,
    STATUS_SUFFIX,
    TRAIN,
    Run,
    RunsFolder,
    owner_tag,
)
from .training import TrainConfig

log = logging.getLogger(__name__)

# events.RunStatus's members by the names code and tests import from here (ACTIVE: queued or running);
# NAME_LEN, RESERVED, STATUS_FORMAT, STATUS_SUFFIX, TRAIN, EVALUATE: from mnist_core.runs, importable here too
QUEUED, RUNNING = RunStatus.QUEUED, RunStatus.RUNNING
FINISHED, STOPPED, DIVERGED = RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED
FAILED, INTERRUPTED = RunStatus.FAILED, RunStatus.INTERRUPTED
STATUSES = tuple(RunStatus)
EVAL_QUEUE = "evaluate"  # measurements have their own worker: never stuck behind hours of training
EVAL_BATCH = 500
NOT_STARTED = "stopped before it started; nothing was trained"
LIMIT_ENV = "MNIST_LAB_RUNS_PER_SESSION"  # named in messages
RAY_ENV = "MNIST_LAB_RAY_ADDRESS"


def session_run_limit() -> int:
    """How many runs one session may have queued or running at once (settings.runs_per_session)."""
    return settings.runs_per_session()


RESTORED = "restored"  # the owner of a run followed from elsewhere: no session's token, so no session stops it
ANYONE = object()  # stop(owner=ANYONE): the runner's own holder (command line, tests, close)
UPLOAD_MAX_BYTES = 16 * 2**20  # one uploaded checkpoint (the largest model here is under 3 MB)


class Job:
    """One training run. Read it through `snapshot()`, `status` and `message`; stop with `stop()`."""

    def __init__(self, job_id: str, name: str, config: TrainConfig, path: Path, data_root: str | None = None,
                 kind: str = TRAIN, owner: str | None = None):
        self.id = job_id
        self.name = name
        self.kind = kind
        self.owner = owner  # the session token that may stop it (None: whoever holds the runner)
        self.owner_tag = owner_tag(owner)  # who started it, as shown to everyone (never the token itself)
        self.worker: str | None = None  # the Ray actor that runs it (mnist_core.ray_backend), if any
        self.uploaded = 0  # bytes, for an uploaded checkpoint (counted against settings.uploads_max_bytes())
        self.config = config
        self.path = path  # where the checkpoint goes (inside the runs directory)
        self.data_root = data_root
        self.created = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._status, self._message = QUEUED, ""
        self._steps: list[tuple] = []  # (step, epoch, loss, seconds): appended, never changed
        self._step_acc: list[tuple] = []  # (step, epoch, the epoch's running training accuracy)
        self._epochs: list[dict] = []
        self._progress: dict = {}  # the latest start/step/epoch figures
        self._times = {"started": None, "ended": None}
        self._saved: str | None = None
        self._test_accuracy: float | None = None
        self._history_from: Path | None = None  # a restored run reads its curves lazily from here
        self.foreign = False  # restored from a status file of another live process

    @classmethod
    def restored(cls, run: Run) -> Job:
        """The job for a run found in the runs folder (before a restart, or in another process)."""
        job = cls(run.id, run.name, run.config, run.path, kind=run.kind)
        job.created, job.uploaded, job.foreign = run.created, run.uploaded, run.foreign
        job.owner_tag, job.worker = run.owner_tag, run.worker
        job._set(run.status, run.message, started=run.started, ended=run.ended)
        if run.status not in ACTIVE:
            job._done.set()
        if run.checkpoint is not None:
            job._saved, job._history_from = str(run.checkpoint), run.checkpoint
        job._test_accuracy = run.test_accuracy
        return job

    # -- the worker side ---------------------------------------------------------------------
    def _on_event(self, e: Event) -> None:
        """training.train's callback (worker thread): a few appends under the lock."""
        kind = e["type"]
        with self._lock:
            if kind == EventKind.STEP:
                self._steps.append((e["step"], e["epoch"], e["loss"], round(e["elapsed"], 3)))  # as in history
                if "train_accuracy" in e:
                    self._step_acc.append((e["step"], e["epoch"], e["train_accuracy"]))
                self._progress.update(step=e["step"], total_steps=e["total_steps"], epoch=e["epoch"],
                                      elapsed=e["elapsed"], images_per_sec=e["images_per_sec"], lr=e["lr"])
            elif kind == EventKind.EPOCH:
                self._epochs.append({k: v for k, v in e.items() if k not in ("type", "step", "total_steps")})
                self._progress.update(step=e["step"], total_steps=e["total_steps"], epoch=e["epoch"],
                                      elapsed=e["seconds"], images_per_sec=e["images_per_sec"])
                self._test_accuracy = e["test_accuracy"]
            elif kind == EventKind.START:
                self._progress.update({k: e[k] for k in ("total_steps", "steps_per_epoch", "epochs", "device",
                                                         "train_images")}, step=0, epoch=0.0, elapsed=0.0)

    def _set(self, status: RunStatus, message: str = "", **times) -> None:
        with self._lock:
            self._status, self._message = status, message
            self._times.update(times)

    # -- across a process boundary (a Ray worker runs the job; the app keeps a copy) ----------------
    def spec(self, device: str, **extra) -> dict:
        """The job as plain data for a worker elsewhere, which rebuilds it with `from_spec`; its config's
        device is `device` (resolved here, so that the worker never picks another); `extra` joins it."""
        return {"id": self.id, "name": self.name, "config": {**self.config.to_dict(), "device": device},
                "path": str(self.path), "data_root": self.data_root, "created": self.created,
                "owner_tag": self.owner_tag, "worker": self.worker, **extra}

    @classmethod
    def from_spec(cls, spec: dict) -> Job:
        job = cls(spec["id"], spec["name"], TrainConfig.from_dict(spec["config"]), Path(spec["path"]),
                  spec["data_root"])
        job.created, job.owner_tag, job.worker = spec["created"], spec["owner_tag"], spec["worker"]
        return job

    def delta(self, cursor: tuple[int, int, int] = (0, 0, 0)) -> dict:
        """What changed since `cursor` (how many steps, step accuracies and epochs the reader has), as plain
        data: the new rows, and the latest progress, status and results."""
        n_steps, n_acc, n_epochs = cursor
        with self._lock:
            return {"steps": self._steps[n_steps:], "step_accuracy": self._step_acc[n_acc:],
                    "epochs": [dict(r) for r in self._epochs[n_epochs:]], "progress": dict(self._progress),
                    "status": str(self._status), "message": self._message, "times": dict(self._times),
                    "checkpoint": self._saved, "test_accuracy": self._test_accuracy}

    def apply(self, d: dict) -> tuple[int, int, int]:
        """Take in another copy's `delta`; returns the cursor for the next one. A job that has ended here
        takes nothing more (a stop, or its end, is never undone)."""
        with self._lock:
            if self._done.is_set():
                return len(self._steps), len(self._step_acc), len(self._epochs)
            self._steps.extend(tuple(s) for s in d["steps"])
            self._step_acc.extend(tuple(s) for s in d["step_accuracy"])
            self._epochs.extend(d["epochs"])
            self._progress.update(d["progress"])
            self._saved, self._test_accuracy = d["checkpoint"], d["test_accuracy"]
            self._times.update(d["times"])
            self._status, self._message = RunStatus(d["status"]), d["message"]
            if self._status not in ACTIVE:  # it has ended there, with its results in this delta
                self._done.set()
            return len(self._steps), len(self._step_acc), len(self._epochs)

    def end_as_recorded(self, run: Run) -> None:
        """End this copy as its status file says the run ended elsewhere: the status, the message and the
        checkpoint, whose saved curves replace the ones this copy has when they hold at least as many rows
        (it may have missed the last ones; an unreadable checkpoint never takes away the rows it has)."""
        with self._lock:
            self._saved = str(run.checkpoint) if run.checkpoint else None
            self._test_accuracy = run.test_accuracy
            if run.checkpoint:
                self._history_from = run.checkpoint
        self._set(run.status, run.message, ended=run.ended)
        self._done.set()

    # -- the reader side ---------------------------------------------------------------------
    @property
    def status(self) -> RunStatus:
        with self._lock:
            return self._status

    @property
    def message(self) -> str:
        with self._lock:
            return self._message

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def stop(self) -> None:
        """Ask the run to stop: the loop checks the flag between steps and evaluation batches.
        Only JobRunner.stop calls this (after checking who asks)."""
        log.info("stop requested for job %s (%s)", self.name, self.id)
        self._stop.set()

    def stoppable_by(self, owner) -> bool:
        """Whether a stop from `owner` (a session token, or ANYONE) may stop this job."""
        return owner is ANYONE or self.owner is None or owner == self.owner

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or the timeout passed (False)."""
        return self._done.wait(timeout)

    def summary(self) -> dict:
        """The job's row in a list: name, status, accuracy; no curves (cheap, never reads a file)."""
        with self._lock:
            return {"id": self.id, "name": self.name, "kind": self.kind, "uploaded": bool(self.uploaded),
                    "owner": self.owner_tag, "arch": self.config.arch, "dataset": self.config.dataset,
                    "status": self._status, "message": self._message, "test_accuracy": self._test_accuracy,
                    "checkpoint": self._saved, "created": self.created, **self._times,
                    "step": self._progress.get("step"), "total_steps": self._progress.get("total_steps")}

    def snapshot(self) -> dict:
        """A consistent copy of the job's state and metrics, safe to keep and read anywhere."""
        self._load_history()
        with self._lock:
            p = dict(self._progress)
            snap = {
                "id": self.id, "name": self.name, "kind": self.kind, "uploaded": bool(self.uploaded),
                "status": self._status, "message": self._message,
                "config": self.config.to_dict(), "created": self.created, **self._times,
                "steps": list(self._steps), "epochs": [dict(r) for r in self._epochs],
                "step_accuracy": list(self._step_acc),
                "checkpoint": self._saved, "test_accuracy": self._test_accuracy,
                "stop_requested": self._stop.is_set(), "foreign": self.foreign,
            }
        total, step, el = p.get("total_steps") or 0, p.get("step") or 0, p.get("elapsed") or 0.0
        snap.update(
            total_steps=total, step=step, epoch=p.get("epoch", 0.0), elapsed=el, device=p.get("device"),
            images_per_sec=p.get("images_per_sec"), lr=p.get("lr"),
            progress=min(step / total, 1.0) if total else (1.0 if snap["status"] == FINISHED else 0.0),
            eta_seconds=(total - step) * el / step if step and snap["status"] == RUNNING else None,
        )
        return snap

    def _load_history(self) -> None:
        """A restored (or ended elsewhere) run's curves, read once from its checkpoint when first asked for;
        they replace the rows held only when they are the longer record."""
        with self._lock:
            path, self._history_from = self._history_from, None
        if path is None:
            return
        try:
            hist = checkpoints.read(path)["history"]
        except checkpoints.CheckpointError as exc:
            log.warning("%s", exc)
            return
        steps = [tuple(s) for s in hist.get("steps", []) if isinstance(s, (list, tuple)) and len(s) == 4]
        epochs = [dict(r) for r in hist.get("epochs", []) if isinstance(r, dict)]
        step_acc = [tuple(s) for s in hist.get("step_accuracy", []) if isinstance(s, (list, tuple)) and len(s) == 3]
        with self._lock:
            if len(steps) >= len(self._steps) and len(epochs) >= len(self._epochs):
                self._steps, self._epochs, self._step_acc = steps, epochs, step_acc
                if epochs:
                    last = epochs[-1]
                    self._progress.update(epoch=last.get("epoch", 0.0), elapsed=last.get("seconds", 0.0),
                                          images_per_sec=last.get("images_per_sec"))
                if steps:
                    self._progress.update(step=steps[-1][0], total_steps=steps[-1][0])


class Backend(Protocol):
    """Where jobs run. The runner hands each job over once with `start`, and reads it back through the job
    (its events, status and end); `stop`, `position`, `describe` and `close` are the runner's only other calls."""

    keeps_running: bool  # True when its runs outlive this process (Ray): closing the runner leaves them running

    def start(self, queue: str, job: Job) -> None:
        """Queue the job behind the others of `queue` (a device, or EVAL_QUEUE) and run it in its turn."""

    def stop(self, job: Job) -> bool:
        """Deliver the stop the runner set on the job. True when the job had not started and never will
        (the runner then ends it); False when it runs and will end itself, or has ended."""

    def attach(self, job: Job) -> bool:
        """Follow a run that this backend runs for another process (Ray); False when it cannot."""

    def position(self, job: Job) -> int | None:
        """1 for the next job to start in its queue, 2 for the one after...; None when it is not waiting."""

    def describe(self) -> str:
        """Where jobs run, in words, for the pages."""

    def close(self) -> None:
        """Release what the backend holds (the runner has stopped the jobs that end with it)."""


class ThreadBackend:
    """The default backend, in this process: one queue per name, drained in order by up to `per_queue`
    daemon threads that call `run(job)` (devices_cap(): $MNIST_LAB_RUNS_PER_DEVICE, else 1; the queue of
    measurements always 1). A thread exists only while its queue has jobs; a job sees a stop through its
    own flag, checked between steps."""

    keeps_running = False  # its runs end with the process: closing the runner stops them

    def __init__(self, run: Callable[[Job], None], per_queue: int | None = None):
        self._run = run
        self.per_queue = per_queue or devices_cap()
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Job]] = {}
        self._workers: dict[tuple[str, int], threading.Thread] = {}  # (queue, slot) -> its thread

    def start(self, queue: str, job: Job) -> None:
        with self._lock:
            self._queues.setdefault(queue, deque()).append(job)
            slots = 1 if queue == EVAL_QUEUE else self.per_queue
            for slot in range(slots):
                worker = self._workers.get((queue, slot))
                if worker is None or not worker.is_alive():
                    worker = threading.Thread(target=self._work, args=(queue, slot), daemon=True,
                                              name=f"mnist-lab-{queue}-{slot}")
                    self._workers[(queue, slot)] = worker
                    worker.start()
                    break

    def stop(self, job: Job) -> bool:
        with self._lock:
            for q in self._queues.values():
                if job in q:  # never started: taken out here, not run by a worker
                    q.remove(job)
                    return True
        return False

    def attach(self, job: Job) -> bool:
        return False  # another process's threads are out of reach

    def position(self, job: Job) -> int | None:
        """1 for the next job to start in its queue; None when it is not waiting."""
        with self._lock:
            for q in self._queues.values():
                if job in q:
                    return q.index(job) + 1
        return None

    def describe(self) -> str:
        return f"this server, {self.per_queue} run{'s' * (self.per_queue != 1)} at a time per device"

    def close(self) -> None:
        pass  # nothing held: a worker ends when its queue is empty

    def _work(self, queue: str, slot: int) -> None:
        while True:
            with self._lock:
                jobs = self._queues.get(queue)
                if not jobs:
                    self._workers.pop((queue, slot), None)
                    return
                job = jobs.popleft()
            self._run(job)


def devices_cap() -> int:
    """How many runs one device trains at once on this server: $MNIST_LAB_RUNS_PER_DEVICE, else 1 (on a
    laptop one run gets all of its speed; a many-core server can take several)."""
    return settings.runs_per_device()


def device_queue(config: TrainConfig) -> str:
    """The queue a run waits in: its device's type ("cpu", "cuda", "mps")."""
    try:
        return devices.resolve_device(config.device).type
    except ValueError:
        return "cpu"


def make_backend(run: Callable[[Job], None], folder: RunsFolder, download: bool,
                 ray_address: str | None = None) -> tuple[Backend, str]:
    """The backend for a runner: Ray when `ray_address` or $MNIST_LAB_RAY_ADDRESS names a cluster, else this
    process's threads. Returns it and a warning ("" when none): a Ray that is named but not installed or
    not reachable leaves training here, and says why."""
    address = settings.ray_address(ray_address)
    if not address:
        return ThreadBackend(run), ""
    from . import ray_backend

    if not ray_backend.installed():
        why = "Ray is not installed (pip install -r requirements-ray.txt)"
    else:
        try:
            return ray_backend.RayBackend(run, folder, download, address), ""
        except Exception as exc:  # a wrong address, a cluster that is down
            log.exception("could not connect to Ray at %s", address)
            said = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            why = f"could not connect to Ray at {address!r} ({said})"
    return ThreadBackend(run), f"Training runs on this server, not on Ray: {why}."


def worker_alive(name: str) -> bool | None:
    """Whether Ray still has the actor `name` (None: this process is not on Ray, or Ray cannot say)."""
    from . import ray_backend

    return ray_backend.actor_alive(name)


class JobRunner:
    """Queues training jobs on its backend (threads here, or Ray) and keeps every job of its runs folder."""

    def __init__(self, runs_dir: str | os.PathLike | None = None, download: bool = True,
                 ray_address: str | None = None):
        self.folder = RunsFolder(runs_dir, worker_alive=worker_alive)
        self.runs_dir = self.folder.path
        self.download = download  # False: a missing dataset fails the job instead of downloading
        self.token = self.folder.token  # tells this runner's status files from another's
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        # threads here, or Ray (ray_address, else $MNIST_LAB_RAY_ADDRESS); backend_warning: why not Ray when asked
        self.backend, self.backend_warning = make_backend(self._execute, self.folder, download, ray_address)
        self.unreadable: dict[str, str] = {}  # file name -> why it is not listed (refresh fills it)
        self.refresh()

    # -- queueing ------------------------------------------------------------------------------
    def _check_session_limit(self, owner: str | None, more: int) -> None:
        """ValueError when `owner` (a session) would have more than session_run_limit() runs queued or
        running: on a shared server one student cannot fill the queue. The runner's holder (no owner)
        is not limited."""
        if owner is None:
            return
        limit = session_run_limit()
        mine = sum(1 for j in self._jobs.values() if j.owner == owner and j.active)
        if mine + more > limit:
            raise ValueError(f"this session already has {mine} run{'s' * (mine != 1)} queued or running, and "
                             f"one session may have {limit} at once ({LIMIT_ENV}): stop one, or wait for one to end")

    def submit(self, config: TrainConfig, name: str | None = None, data_root: str | os.PathLike | None = None,
               owner: str | None = None) -> Job:
        """Queue a run. The name is made safe and unique; ValueError for a device not present, or when
        the owner already has session_run_limit() runs queued or running.
        owner: the session token that may stop it (None: only whoever holds the runner)."""
        device = devices.resolve_device(config.device).type  # ValueError for a device not here
        root = str(data.data_dir(data_root).resolve())
        with self._lock:
            self._check_session_limit(owner, 1)
            final = self._unique_name(name, config.arch)
            job = Job(uuid.uuid4().hex[:12], final, config, self.folder.checkpoint_path(final), root, owner=owner)
            self._jobs[job.id] = job
            self._write_status(job)
            self.backend.start(device, job)
        return job

    # -- uploads -------------------------------------------------------------------------------
    def upload_bytes(self) -> int:
        """Bytes of uploaded checkpoints kept in the runs folder."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.uploaded]
        total = 0
        for j in jobs:
            try:
                total += j.path.stat().st_size
            except OSError:
                pass
        return total

    def add_upload(self, src: str | os.PathLike, requested: str, meta: dict, data_root=None,
                   owner: str | None = None) -> Job:
        """Move a checked checkpoint file (`src`, whose metadata is `meta`) into the runs folder under
        a name that no job, queued, running or done, and no file uses; then measure its accuracy on
        the test set in an "evaluate" job when the data is there. The returned job is the upload's
        row: finished at once (accuracy "claimed") when the test set is not available."""
        src = Path(src)
        size = src.stat().st_size
        arch = meta["arch"]
        dataset = meta.get("dataset") or meta["config"].get("dataset") or "mnist"
        try:
            cfg = TrainConfig.from_dict(meta["config"])
        except (TypeError, ValueError):
            cfg = TrainConfig(arch=arch, dataset=dataset)
        root = str(data.data_dir(data_root).resolve())
        with self._lock:
            name = self._unique_name(requested, arch)
            dest = self.folder.checkpoint_path(name)
            os.replace(src, dest)
            job = Job(uuid.uuid4().hex[:12], name, cfg, dest, root, kind=EVALUATE, owner=owner)
            job.uploaded = size
            job._saved, job._history_from = str(dest), dest
            self._jobs[job.id] = job
            claimed = meta["metrics"].get("claimed_test_accuracy")
            said = f"the file claims {claimed:.2%}" if isinstance(claimed, (int, float)) else "the file claims none"
            if data.is_available(dataset, root):
                job._set(QUEUED, f"uploaded; measuring its accuracy on the test set ({said})")
                self._write_status(job)
                self.backend.start(EVAL_QUEUE, job)
            else:
                self._end(job, FINISHED, f"uploaded; its accuracy is only claimed ({said}): the "
                          f"{data.DATASETS[dataset][1]} test set is not on this machine to measure it")
        return job

    def submit_all(self, fast: bool = True, data_root=None, owner: str | None = None, **overrides) -> list[Job]:
        """Queue every architecture with its recipe (the fast one by default): all of them, or none when
        they would take the owner past session_run_limit()."""
        with self._lock:
            self._check_session_limit(owner, len(ARCHS))
            return [self.submit(training.recommended_config(a, fast=fast, **overrides), None, data_root, owner)
                    for a in ARCHS]

    def stop(self, job_id: str, owner=None) -> bool:
        """Stop a running job, or cancel a queued one. False when there is no such active job, or
        when `owner` (a session's token) is not the one that started it. Without an owner only a
        job submitted without one can be stopped; ANYONE (the runner's holder) stops any."""
        job = self.get(job_id)
        if job is None or not job.active or job.foreign or not job.stoppable_by(owner):
            return False
        job.stop()
        with self._lock:
            if self.backend.stop(job):  # never started: it ends here, not in a worker
                self._end(job, STOPPED, NOT_STARTED)
        return True

    def stop_all(self) -> None:
        for job in self.active():
            self.stop(job.id, ANYONE)

    # -- reading -------------------------------------------------------------------------------
    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        """Every job known, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def active(self) -> list[Job]:
        return [j for j in self.jobs() if j.active and not j.foreign]

    def queue_position(self, job: Job) -> int | None:
        """1 for the next run to start on its device; None when it is not waiting (or not known here)."""
        return self.backend.position(job) if job.status == QUEUED and not job.foreign else None

    def describe_backend(self) -> str:
        """Where runs train, in words: "this server, 1 run at a time per device", or "the Ray cluster at auto"."""
        return self.backend.describe()

    def wait_all(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self.active():
            if not job.wait(None if deadline is None else max(deadline - time.monotonic(), 0)):
                return False
        return True

    def _end(self, job: Job, status: RunStatus, message: str) -> None:
        end(job, self.folder, status, message)

    # -- running a job (the backend calls _execute in its turn) ---------------------------------
    def _execute(self, job: Job) -> None:
        try:
            self._run(job)
        except Exception:  # never let one job end the worker: the rest of the queue still runs
            log.exception("job %s crashed", job.name)
            self._end(job, FAILED, "internal error; see the server log")

    def _run(self, job: Job) -> None:
        if job.kind == EVALUATE:
            return self._measure(job)
        train_job(job, self.folder, self.download)

    def _measure(self, job: Job) -> None:
        """An uploaded checkpoint's accuracy on the test set, written into its metrics."""
        if job.stop_requested:
            return self._end(job, STOPPED, "stopped before its accuracy was measured; it stays claimed")
        job._set(RUNNING, "measuring its accuracy on the test set", started=time.time())
        self._write_status(job)
        t0 = time.perf_counter()
        try:
            model, meta = checkpoints.load(job.path)
            predictor = inference.Predictor(model, meta, job.name, job.path, tta=False)  # as training measures it
            split = data.load(job.config.dataset, train=False, root=job.data_root, download=False)
            n = len(split)
            total = math.ceil(n / EVAL_BATCH)
            with job._lock:
                job._progress.update(total_steps=total, step=0, epoch=0.0, elapsed=0.0)
            correct = 0
            for i in range(total):
                if job.stop_requested:
                    return self._end(job, STOPPED, "stopped by request while measuring; its accuracy stays claimed")
                sl = slice(i * EVAL_BATCH, (i + 1) * EVAL_BATCH)
                probs = predictor.proba_batch(split.images[sl].float().numpy() / 255.0)
                correct += int((probs.argmax(1) == split.labels[sl].numpy()).sum())
                el = time.perf_counter() - t0
                with job._lock:
                    job._progress.update(step=i + 1, elapsed=el, images_per_sec=min((i + 1) * EVAL_BATCH, n) / el)
            acc = correct / n if n else 0.0
            claimed = meta["metrics"].get("claimed_test_accuracy")
            checkpoints.update_metrics(job.path, test_accuracy=acc, accuracy_source="measured", measured_images=n)
            with job._lock:
                job._test_accuracy = acc
            said = f"; the file claimed {claimed:.2%}" if isinstance(claimed, (int, float)) else ""
            status, message = FINISHED, f"measured {acc:.2%} on the {n:,} test images{said}"
        except (data.DataUnavailable, checkpoints.CheckpointError, ValueError, OSError, RuntimeError) as exc:
            log.exception("measuring %s failed", job.name)
            why = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            status, message = FAILED, f"could not measure it ({why}); its accuracy stays claimed"
        self._end(job, status, message)

    # -- renaming and deleting a finished run -------------------------------------------------
    def _finished_run(self, name: str) -> Job:
        """The run called `name` in the runs folder, if it may be renamed or deleted; ValueError why not."""
        self.refresh()
        job = next((j for j in self._jobs.values() if j.name == name), None)
        if job is None:
            if str(name).lower() in {a.lower() for a in ARCHS}:
                raise ValueError(f"{name!r} is a shipped model: shipped models are never renamed or deleted")
            raise ValueError(f"there is no run named {name!r} (another session may have renamed or deleted it)")
        if job.path.resolve().parent != self.runs_dir or job.path.resolve().parent == inference.shipped_dir().resolve():
            raise ValueError(f"{name!r} is not one of your runs: shipped models are never renamed or deleted")
        if job.active:
            raise ValueError(f"{name!r} is {job.status}: stop it, or wait until it ends, before renaming or "
                             "deleting it")
        return job

    def rename_run(self, name: str, new: str) -> Path:
        """Give a finished run a new name: its checkpoint and its status file move together (the weights are
        not rewritten). The new name is made safe and unique as for a new run (my run -> my_run, my_run-2 if
        taken). Returns the checkpoint's new path; ValueError for a shipped model, a queued or running job,
        an empty name or one that is its name already."""
        if not str(new or "").replace("\x00", "").strip():
            raise ValueError("a new name is needed")
        with self._lock:
            job = self._finished_run(name)
            if checkpoints.safe_name(str(new).strip()).lower() == job.name.lower():
                raise ValueError(f"{job.name!r} is its name already")
            final = self._unique_name(new, job.config.arch)
            old_ckpt, old_status = job.path, self._status_path(job.name)
            new_ckpt = self.folder.checkpoint_path(final)
            if new_ckpt.exists() or self._status_path(final).exists():  # another process took it meanwhile
                raise ValueError(f"the name {final!r} was just taken; try another")
            if old_ckpt.is_file():
                os.replace(old_ckpt, new_ckpt)
            with job._lock:
                job.name, job.path = final, new_ckpt
                if job._saved:
                    job._saved = str(new_ckpt)
                if job._history_from is not None:
                    job._history_from = new_ckpt
            if job.id.startswith("ckpt-"):  # a bare checkpoint's id follows its name (refresh makes the same id)
                self._jobs.pop(job.id, None)
                job.id = f"ckpt-{final}"
                self._jobs[job.id] = job
            if old_status.is_file():
                self._write_status(job)
                old_status.unlink(missing_ok=True)
            log.info("run %s renamed to %s", name, final)
            return new_ckpt

    def delete_run(self, name: str) -> list[Path]:
        """Delete a finished run: its checkpoint and its status file. Returns the files removed; ValueError
        for a shipped model or a queued or running job."""
        with self._lock:
            job = self._finished_run(name)
            removed = []
            for path in (job.path, self._status_path(job.name)):
                try:
                    path.unlink()
                    removed.append(path)
                except FileNotFoundError:
                    pass
            self._jobs.pop(job.id, None)
            log.info("run %s deleted", name)
            return removed

    # -- the runs folder (mnist_core.runs) ------------------------------------------------------
    def _unique_name(self, requested: str | None, arch: str) -> str:
        """A safe file stem, unused by a shipped model, a job or a file in the runs directory."""
        return self.folder.unique_name(requested, arch, taken=[j.name for j in self._jobs.values()])

    def _status_path(self, name: str) -> Path:
        return self.folder.status_path(name)

    def _write_status(self, job: Job) -> None:
        self.folder.write_status(job)

    def _restored(self, run: Run) -> Job:
        """The job for a run found on disk; an interrupted one's status file is rewritten to say so. A run
        that Ray runs for another app process (or this app before a restart) is followed live when this
        runner is on Ray too; only the runner's holder may stop it (its session's token is not known here)."""
        job = Job.restored(run)
        if job.status == INTERRUPTED:
            self._write_status(job)
        if job.foreign and job.worker and self.backend.attach(job):
            job.foreign, job.owner = False, RESTORED
        return job

    def refresh(self) -> None:
        """Pick up runs on disk this runner does not know: status files, then bare checkpoints."""
        with self._lock:
            for job in [j for j in self._jobs.values() if j.foreign]:  # another process's run: re-read it
                try:
                    run = self.folder.read_status(self._status_path(job.name))
                except checkpoints.CheckpointError as exc:
                    log.warning("%s", exc)
                    continue
                if run is not None:
                    fresh = self._restored(run)
                    fresh.created = job.created
                    self._jobs[job.id] = fresh
            found, self.unreadable = self.folder.scan(j.name for j in self._jobs.values())
            for run in found:
                job = self._restored(run)
                self._jobs[job.id] = job

    def close(self) -> None:
        """Stop every job that ends with this process, and forget this runner (its status files then read
        as interrupted). Runs on Ray go on: another runner on the same cluster and runs folder follows them."""
        ending = [j for j in self.active() if not (self.backend.keeps_running and j.worker)]
        deadline = time.monotonic() + 10
        for job in ending:
            self.stop(job.id, ANYONE)
        for job in ending:
            job.wait(max(deadline - time.monotonic(), 0))
        self.backend.close()
        self.folder.close()


def end(job: Job, folder: RunsFolder, status: RunStatus, message: str) -> None:
    """Final status: recorded, written to its status file, and only then announced to waiters."""
    job._set(status, message, ended=time.time())
    folder.write_status(job)
    job._done.set()


def train_job(job: Job, folder: RunsFolder, download: bool = True) -> None:
    """A training job's whole body, from plain inputs (the job, its runs folder): its status files, the
    training, the checkpoint, its end. Runs wherever the backend runs it (a thread here, a Ray worker).
    download: False makes a missing dataset fail the job instead of downloading it."""
    if job.stop_requested:
        return end(job, folder, STOPPED, NOT_STARTED)
    job._set(RUNNING, "training", started=time.time())
    folder.write_status(job)
    try:
        if not download and not data.is_available(job.config.dataset, job.data_root):
            data.load(job.config.dataset, train=True, root=job.data_root, download=False)  # raises, with help
        result = training.train(job.config, data_root=job.data_root, on_event=job._on_event,
                                should_stop=job._stop.is_set)
        status, message = result.status, result.message
        if result.usable:
            saved = result.save(job.path, name=job.name, extra={"job": job.id})
            with job._lock:
                job._saved = str(saved)
                job._test_accuracy = result.test_accuracy
            message += f"; saved to {saved}"
        elif status == STOPPED:
            message += "; stopped before its first evaluation, so no model was saved"
        elif status == DIVERGED:
            message += "; the model was not saved"
    except data.DataUnavailable as exc:
        status, message = FAILED, str(exc)
    except (ValueError, OSError, RuntimeError) as exc:  # a bad setting, a full disk, out of memory
        log.exception("job %s failed", job.name)
        status, message = FAILED, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    end(job, folder, status, message)
