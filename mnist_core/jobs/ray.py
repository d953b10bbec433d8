"""Training jobs on a Ray cluster: the backend that mnist_core.jobs.factory picks when a Ray address is set.

Each training run is one detached Ray actor (`RunActor`, named after the job), asking Ray for a CPU (or a
GPU for a cuda run). Ray queues the actors that do not fit yet, so the queue lives in the cluster, not in
the app: an app restart loses no run, and every app process connected to the cluster and sharing the
runs folder sees the same runs. Inside the actor a thread runs `work.train_job`, the very body the
local threads run: the run's status files and its checkpoint land in the runs folder exactly as a local
run's do. The actor keeps the job's curves; the app follows each run with one poller thread that reads
what is new (`Job.delta`) into its own copy of the job (`Job.apply`), so the pages read it as any job.
Stop reaches the actor's job through a method call and is seen at the next step. An actor ends itself
when its job has ended; one that dies before (its worker killed, its node lost) is found by the poller
and its run marked failed, never left running.

The runs folder and the data folder must be at the same paths on every node (one machine, or a shared
filesystem). Ray is optional (requirements-ray.txt): nothing here imports it until a backend is made, and
nothing but mnist_core.jobs.factory imports this module. A job's `worker` is its actor's name.

The queue's order is Ray's (about the order the runs came): this backend holds no waiting list of its own,
so the thread backend's turn by visitor (jobs.threads.FairQueue) does not apply to training here; the
runner's limits (per session, and settings.runs_per_server() for the whole server) still bound what any
visitor puts in Ray's queue. Measuring uploads stays in this process, in a ThreadBackend, in turn by visitor.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import checkpoints, public, settings
from ..events import ACTIVE, RunStatus
from ..runs import RunsFolder
from .backend import EVAL_QUEUE, device_queue
from .job import Job
from .threads import ThreadBackend
from .work import NOT_STARTED, end, train_job

log = logging.getLogger(__name__)

NAMESPACE = "mnist_lab"
POLL_SECONDS = 0.25  # how often the app reads each run's news (the Train page redraws once a second)
READ_GRACE = 5.0  # how long an ended actor waits for the app to read its end before it goes


def installed() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def actor_alive(name: str) -> bool | None:
    """Whether Ray still has the actor `name` (queued or running); None when this process is not connected
    to Ray, or Ray cannot say."""
    try:
        import ray
    except ImportError:
        return None
    if not ray.is_initialized():
        return None
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    except Exception:  # the cluster is unreachable: it cannot say
        return None
    return True


def connect(address: str) -> None:
    """Join the Ray cluster at `address` ("auto", "ray://host:port", or "local" to start one here), unless
    this process already is connected. Workers get this package (py_modules) and the MNIST_* settings."""
    import ray

    if ray.is_initialized():
        return
    env = settings.for_workers()
    runtime_env = {"py_modules": [str(Path(__file__).resolve().parents[1])], "env_vars": env}  # mnist_core
    extra = {"include_dashboard": False} if address == "local" else {}
    ray.init(address=address, namespace=NAMESPACE, runtime_env=runtime_env, log_to_driver=False, **extra)


def first_line(exc: BaseException) -> str:
    """An exception in one short line, for a run's message (without the server's paths: visitors read it)."""
    text = str(exc).strip().splitlines()
    return public.without_paths(f"{type(exc).__name__}: {text[0][:300]}") if text else type(exc).__name__


class RunActor:
    """One run on a Ray worker (made a Ray actor class by `_actor_class`): trains in a thread from the moment
    Ray places it, answers reads and a stop meanwhile, and removes itself when the run has ended."""

    def __init__(self, spec: dict):
        self.job, self.folder = Job.from_spec(spec), RunsFolder(spec["runs_dir"])
        self._read_end = threading.Event()
        threading.Thread(target=self._work, args=(spec["download"],), name="mnist-lab-run", daemon=True).start()

    def _work(self, download: bool) -> None:
        import ray

        try:
            train_job(self.job, self.folder, download)
        except Exception as exc:
            log.exception("job %s crashed on its Ray worker", self.job.name)
            end(self.job, self.folder, RunStatus.FAILED, f"internal error on the Ray worker ({first_line(exc)})")
        finally:
            # room for every app following it to read its end (its status file and checkpoint have it anyway)
            self._read_end.wait(READ_GRACE)
            time.sleep(4 * POLL_SECONDS)
            try:
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
            except Exception:  # the head is out of reach: end the process; Ray marks the actor dead
                os._exit(0)

    def read(self, cursor: tuple[int, int, int]) -> dict:
        d = self.job.delta(tuple(cursor))
        if RunStatus(d["status"]) not in ACTIVE:
            self._read_end.set()
        return d

    def stop(self) -> None:
        self.job.stop()


@functools.cache
def _actor_class():
    """RunActor as a Ray actor class (made once, when the first run goes to Ray)."""
    import ray

    return ray.remote(max_restarts=0, max_concurrency=4)(RunActor)


@dataclass
class _Followed:
    job: Job
    handle: object  # the actor's handle
    queue: str
    ref: object = None  # the read in flight
    cursor: tuple[int, int, int] = (0, 0, 0)
    started: bool = False  # the actor has answered: Ray placed it, and its thread trains (or has ended)
    errors: int = 0  # reads in a row that failed for a reason other than the actor's end


class RayBackend:
    """backend.Backend over Ray: training jobs become RunActors; measuring an upload (EVAL_QUEUE) stays in this
    process, in a ThreadBackend (it takes seconds and reads the app's own test set)."""

    keeps_running = True  # its runs outlive the app (not with "local": that Ray ends with the app)
    MAX_ERRORS = 20  # failed reads in a row (5 s) before a run is given up as lost

    def __init__(self, run_local: Callable[[Job], None], folder: RunsFolder, download: bool, address: str):
        connect(address)
        self.address = address
        self._folder, self._download = folder, download
        self._local = ThreadBackend(run_local)
        self._lock = threading.Lock()  # guards _followed, and each entry's started
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
        try:
            if queue == "cuda" and not ray.cluster_resources().get("GPU"):
                raise ValueError("the Ray cluster has no GPU: choose the cpu device")
            gpus = {"num_gpus": 1} if queue == "cuda" else {}
            handle = (
                _actor_class()
                .options(name=job.worker, namespace=NAMESPACE, lifetime="detached", num_cpus=1, **gpus)
                .remote(spec)
            )
        except Exception as exc:  # the cluster went away, or cannot hold this run
            log.exception("could not hand run %s to Ray", job.name)
            return end(job, self._folder, RunStatus.FAILED, f"Ray could not take it ({first_line(exc)})")
        self._follow(job, handle, queue, started=False)
        self._folder.write_status(job)  # queued on Ray, named: its actor writes that it runs, seconds from now

    def stop(self, job: Job) -> bool:
        if job.worker is None:
            return self._local.stop(job)
        with self._lock:  # the poller marks a run started under this lock: a stop sees one or the other
            f = self._followed.get(job.id)
            if f is None:
                return job.active  # never handed over, or its end is not read yet: the runner ends it
            if not f.started and self._began_there(job):
                f.started = True  # its actor trains already; this app has not read it yet (a busy machine)
            if not f.started:
                self._followed.pop(job.id)
        try:
            if f.started:
                f.handle.stop.remote()  # the job's own flag, in the actor: seen at its next step
                return False
            import ray

            ray.kill(f.handle, no_restart=True)  # still waiting for a place in the cluster: it never runs
        except Exception:
            log.exception("could not stop run %s on Ray", job.name)
        return True

    def _began_there(self, job: Job) -> bool:
        """Whether the run's status file says its actor has begun it (the actor writes that as it starts), so
        that a stop reaches the actor's own flag and keeps what it trained, never kills it as unstarted."""
        try:
            run = self._folder.read_status(self._folder.status_path(job.name))
        except checkpoints.CheckpointError:
            return False
        return run is not None and run.status == RunStatus.RUNNING

    def close(self) -> None:
        self._closed.set()
        self._poller.join(5)
        self._local.close()

    def attach(self, job: Job) -> bool:
        """Follow a run that Ray runs for another app process (or for this app before a restart)."""
        import ray

        try:
            handle = ray.get_actor(job.worker, namespace=NAMESPACE)
        except Exception:  # gone, or Ray out of reach: the run stays as its status file says
            return False
        self._follow(job, handle, device_queue(job.config), started=job.status == RunStatus.RUNNING)
        return True

    def position(self, job: Job) -> int | None:
        """1 for the next run to start on its device, as far as this app knows (Ray places runs in about the
        order they came, not in turn by visitor; others' runs count once an app has seen them); None when it
        is not waiting."""
        if job.worker is None:
            return self._local.position(job)
        with self._lock:
            f = self._followed.get(job.id)
            if f is None or f.started:
                return None
            return 1 + sum(
                1
                for o in self._followed.values()
                if not o.started and o.queue == f.queue and o.job.created < job.created
            )

    def describe(self) -> str:
        return f"the Ray cluster at {self.address}"

    # -- following the runs ----------------------------------------------------------------------
    def _follow(self, job: Job, handle, queue: str, started: bool) -> None:
        with self._lock:
            self._followed[job.id] = _Followed(job, handle, queue, started=started)

    def _poll(self) -> None:
        import ray

        while not self._closed.is_set():
            with self._lock:
                items = list(self._followed.values())
            try:
                for f in items:
                    if f.ref is None:
                        f.ref = f.handle.read.remote(f.cursor)
                ready = set(
                    ray.wait([f.ref for f in items], num_returns=len(items), timeout=POLL_SECONDS)[0] if items else []
                )
            except Exception:  # the cluster is out of reach for now: the runs are Ray's, read them later
                log.exception("reading the Ray runs failed")
                for f in items:
                    f.ref = None
                self._closed.wait(1.0)
                continue
            for f in items:
                if f.ref in ready:
                    try:
                        self._take(f, ray)
                    except Exception:  # one odd answer never stops the others being followed
                        log.exception("following run %s failed", f.job.name)
            self._closed.wait(POLL_SECONDS)

    def _take(self, f: _Followed, ray) -> None:
        ref, f.ref = f.ref, None
        try:
            d = ray.get(ref)
        except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
            return  # for a moment: read again
        except ray.exceptions.RayActorError as exc:  # the actor is gone (ended, killed, or never began)
            return self._lost(f, exc)
        except Exception as exc:
            log.exception("reading run %s from Ray failed", f.job.name)
            f.errors += 1
            if f.errors >= self.MAX_ERRORS:
                self._lost(f, exc)
            return
        with self._lock:
            if self._followed.get(f.job.id) is not f:
                return  # stopped, or given up, meanwhile
            f.started, f.errors = True, 0
            f.cursor = f.job.apply(d)  # an end it reads ends the job here too
            if f.job.status not in ACTIVE:
                self._followed.pop(f.job.id)

    def _lost(self, f: _Followed, exc: BaseException) -> None:
        """The actor is gone without this app having read its end: its status file has the last word, if it
        wrote one; else the run failed, and its status file now says so."""
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
            why = "its process died or was killed, or its machine left the cluster" if f.started else first_line(exc)
            end(
                job,
                self._folder,
                RunStatus.FAILED,
                f"its Ray worker went away before the run ended ({why}); nothing was saved: start it again",
            )
