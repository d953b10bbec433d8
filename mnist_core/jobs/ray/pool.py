"""The pool: one named, detached Ray actor per cluster that holds the queue of runs and a fleet of warm workers.

Every app connected to the cluster hands its runs to the pool (`submit`); the pool keeps them in a queue per
resource shape ("cpu": one CPU; "cuda": one CPU and one GPU), in turn by visitor (jobs.threads.FairQueue, as
the app's own threads), and gives each to an idle warm worker of its shape (mnist_core.jobs.ray.worker) the
moment one is free. Because the queue and the workers live in the cluster, an app restart loses no run and
every app (replica) sees the same runs: `where` says where a run is (queued, with its place; or the worker
that runs it, which the apps read its curves from), `alive` whether it is still queued or running, and
`stop` cancels a queued run (it never runs) or passes the stop to its worker.

The fleet: one "cpu" worker per CPU of the cluster less one per GPU, and once a cuda run has come, one "cuda"
worker per GPU (each keeps one CPU to feed its GPU). It grows as machines join. The workers are the pool's own
actors: one that dies (killed, out of memory, its machine gone) fails the run it had, whose status file then
says so (unless the run wrote its own end first), and a new worker takes its place. Should the pool itself
die, Ray restarts it, empty: its workers end with it, its queued runs read as interrupted, never as running.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import ray

from ... import checkpoints
from ...events import ACTIVE, RunStatus
from ...runs import RunsFolder
from ..job import Job
from ..threads import FairQueue
from ..work import end
from .common import DIED, LOST, NAMESPACE, POOL_NAME, first_line
from .worker import WarmWorker

log = logging.getLogger(__name__)

TICK = 0.1  # at most this long before a call just made is watched too (a run's end is seen at once)
GROW_EVERY = 2.0  # seconds between two looks at the cluster's size
ENDED_KEEP = 120.0  # seconds an ended run stays known (where it ran: the apps read its end there)
WARM_TRIES = 3  # workers of a shape that failed to start in a row before its queued runs are failed


@dataclass
class _Run:
    name: str  # its name in the cluster (Job.worker)
    spec: dict
    shape: str
    owner_key: str  # the visitor's key: the queue takes runs in turn by visitor
    state: str = "queued"  # queued, running, ended
    worker: str | None = None
    ended: float = 0.0


@dataclass
class _Slot:
    name: str
    shape: str
    handle: object
    ref: object  # the call in flight: info() while it warms up, run(spec) while it trains
    state: str = "warming"  # warming, idle, busy
    run: str | None = None
    info: dict = field(default_factory=dict)


@functools.cache
def _worker_class():
    return ray.remote(WarmWorker)


def worker_options(shape: str) -> dict:
    """What a worker of `shape` asks Ray for: one CPU, and for "cuda" one GPU too."""
    return {"num_cpus": 1, "num_gpus": 1 if shape == "cuda" else 0}


class Pool:
    """The queue and the warm workers of one cluster (made a Ray actor by `get_or_create`)."""

    def __init__(self, version: str = ""):
        self.code = version  # the version of the package it and its workers run (common.code_version)
        self._lock = threading.RLock()
        self._queues: dict[str, FairQueue] = {}  # shape -> its waiting runs
        self._runs: dict[str, _Run] = {}  # queued, running, and ended for ENDED_KEEP
        self._slots: dict[str, _Slot] = {}  # worker name -> its slot
        self._folders: dict[str, RunsFolder] = {}
        self._cuda = False  # a cuda run has come: keep cuda workers
        self._failed_warm: dict[str, int] = {}
        born = uuid.uuid4().hex[:6]  # this pool's workers' names: unique across its restarts
        self._names = (f"mnist-lab-worker-{born}-{i}" for i in itertools.count())
        self._grow()
        threading.Thread(target=self._loop, name="mnist-lab-pool", daemon=True).start()

    # -- the apps' calls -------------------------------------------------------------------------
    def submit(self, spec: dict, shape: str) -> None:
        """Queue the run `spec` (Job.spec) for a worker of `shape`; it starts as soon as one is free."""
        with self._lock:
            if spec["worker"] in self._runs:
                return  # handed twice: once is enough
            run = _Run(spec["worker"], spec, shape, spec.get("owner_key") or "")
            self._runs[run.name] = run
            self._queues.setdefault(shape, FairQueue()).push(run)
            grow, self._cuda = shape == "cuda" and not self._cuda, self._cuda or shape == "cuda"
            self._dispatch()
        if grow:
            self._grow()

    def stop(self, name: str) -> str:
        """ "cancelled": it was queued and never runs; "stopping": its worker has the stop, the run ends itself;
        "unknown": the pool has no such run queued or running (ended, or never handed over)."""
        with self._lock:
            run = self._runs.get(name)
            if run is None or run.state == "ended":
                return "unknown"
            if run.state == "queued":
                self._queues[run.shape].remove(run)
                self._runs.pop(name)
                return "cancelled"
            slot = self._slots.get(run.worker)
        if slot is not None:
            slot.handle.stop.remote(name)
        return "stopping"

    def where(self, names: list[str]) -> dict[str, dict]:
        """For each run: {"state": "queued", "position": 1 for the next to start}, {"state": "running" or
        "ended", "worker": the worker's handle (None when it died)}, or {"state": "unknown"}."""
        out = {}
        with self._lock:
            orders = {shape: {r.name: i + 1 for i, r in enumerate(q.order())} for shape, q in self._queues.items()}
            for name in names:
                run = self._runs.get(name)
                if run is None:
                    out[name] = {"state": "unknown"}
                elif run.state == "queued":
                    out[name] = {"state": "queued", "position": orders[run.shape].get(name)}
                else:
                    slot = self._slots.get(run.worker)
                    out[name] = {"state": run.state, "worker": slot.handle if slot else None, "on": run.worker}
        return out

    def version(self) -> str:
        return self.code

    def alive(self, name: str) -> bool:
        """Whether the run `name` is queued or running here."""
        with self._lock:
            run = self._runs.get(name)
            return run is not None and run.state != "ended"

    def workers(self, fresh: bool = False) -> list[dict]:
        """Each worker: its name, shape, state and what it said when warm (pid, node, resources, memory);
        fresh: asked again now (its memory after each run)."""
        with self._lock:
            slots = list(self._slots.values())
        rows = []
        for s in slots:
            info = s.info
            if fresh and s.state != "warming":
                try:
                    info = ray.get(s.handle.info.remote(), timeout=10)
                except Exception:  # it died meanwhile: as last known
                    pass
            rows.append({"name": s.name, "shape": s.shape, "state": s.state, **info})
        return rows

    def runs_on(self) -> dict[str, str | None]:
        """The worker each known run has (or had, for an ended one); None while queued."""
        with self._lock:
            return {r.name: r.worker for r in self._runs.values()}

    # -- the fleet -------------------------------------------------------------------------------
    def _targets(self) -> dict[str, int]:
        total = ray.cluster_resources()
        cpus, gpus = int(total.get("CPU", 0)), int(total.get("GPU", 0))
        return {"cpu": max(cpus - gpus, min(cpus, 1)), "cuda": gpus if self._cuda else 0}

    def _grow(self) -> None:
        """As many workers of each shape as the cluster holds now (a worker's place is Ray's to find)."""
        try:
            targets = self._targets()
        except Exception:
            log.exception("could not read the cluster's size")
            return
        with self._lock:
            for shape, n in targets.items():
                have = sum(1 for s in self._slots.values() if s.shape == shape)
                for _ in range(n - have):
                    name = next(self._names)
                    handle = (
                        _worker_class()
                        .options(
                            name=name, namespace=NAMESPACE, max_restarts=0, max_concurrency=16, **worker_options(shape)
                        )
                        .remote(shape)
                    )
                    self._slots[name] = _Slot(name, shape, handle, handle.info.remote())

    def _loop(self) -> None:
        grown = time.monotonic()
        while True:
            try:
                with self._lock:
                    calls = {s.ref: s for s in self._slots.values() if s.ref is not None}
                ready = []
                if calls:
                    ready, _ = ray.wait(list(calls), num_returns=1, timeout=TICK)
                    if ready:
                        ready, _ = ray.wait(list(calls), num_returns=len(calls), timeout=0)
                else:
                    time.sleep(TICK)
                before = len(self._slots)
                for ref in ready:
                    self._answered(calls[ref], ref)
                if len(self._slots) < before or time.monotonic() - grown > GROW_EVERY:  # replace the dead
                    self._grow()
                    self._forget_ended()
                    grown = time.monotonic()
                with self._lock:
                    self._dispatch()
            except Exception:  # the loop never ends: the apps' runs depend on it
                log.exception("the pool's loop failed; going on")
                time.sleep(1.0)

    def _answered(self, slot: _Slot, ref) -> None:
        """A worker's call has returned: warm now, or its run has ended; or the worker died."""
        try:
            out, error = ray.get(ref), None
        except Exception as exc:
            out, error = None, exc
        dead = isinstance(error, ray.exceptions.RayActorError)
        with self._lock:
            slot.ref = None
            run = self._runs.get(slot.run) if slot.run else None
            if slot.state == "warming":
                return self._warmed(slot, out, error)
            slot.run = None
            if run is not None:
                run.state, run.ended = "ended", time.monotonic()
            if dead:
                self._slots.pop(slot.name, None)
            else:
                slot.state = "idle"
                if out:
                    slot.info.update(
                        rss_last=(slot.info.get("runs", 0) + 1, out["rss"]), runs=slot.info.get("runs", 0) + 1
                    )
        if error is not None and run is not None:
            log.warning("run %s lost its worker %s: %s", run.name, slot.name, first_line(error))
            self._settle_lost(run, DIED if dead else f"internal error on the Ray worker ({first_line(error)})")

    def _warmed(self, slot: _Slot, out, error) -> None:
        if error is None:
            slot.state, slot.info = "idle", out
            self._failed_warm[slot.shape] = 0
            return
        log.warning("worker %s could not start: %s", slot.name, first_line(error))
        self._slots.pop(slot.name, None)
        tries = self._failed_warm[slot.shape] = self._failed_warm.get(slot.shape, 0) + 1
        if tries >= WARM_TRIES and not any(
            s.shape == slot.shape and s.state != "warming" for s in self._slots.values()
        ):
            q = self._queues.get(slot.shape)
            while q is not None and (run := q.pop()) is not None:
                run.state, run.ended = "ended", time.monotonic()
                threading.Thread(
                    target=self._settle_lost, args=(run, f"no worker could start: {first_line(error)}")
                ).start()

    def _dispatch(self) -> None:
        """Give each idle worker the next run of its shape (under the lock)."""
        for shape, q in self._queues.items():
            idle = [s for s in self._slots.values() if s.shape == shape and s.state == "idle"]
            while idle and len(q):
                slot, run = idle.pop(), q.pop()
                run.state, run.worker = "running", slot.name
                slot.state, slot.run = "busy", run.name
                slot.ref = slot.handle.run.remote(run.spec)

    def _forget_ended(self) -> None:
        now = time.monotonic()
        with self._lock:
            for name in [n for n, r in self._runs.items() if r.state == "ended" and now - r.ended > ENDED_KEEP]:
                self._runs.pop(name)

    def _settle_lost(self, run: _Run, why: str) -> None:
        """A run whose worker went away: failed, in its status file too, unless the run wrote its own end."""
        spec = run.spec
        folder = self._folders.get(spec["runs_dir"])
        if folder is None:
            folder = self._folders[spec["runs_dir"]] = RunsFolder(spec["runs_dir"])
        job = Job.from_spec(spec)
        try:
            recorded = folder.read_status(folder.status_path(job.name))
        except checkpoints.CheckpointError:
            recorded = None
        if recorded is not None and recorded.status not in (*ACTIVE, RunStatus.INTERRUPTED):
            return  # it ended, and said so, before its worker went
        if recorded is not None:
            job.set_status(RunStatus.RUNNING, started=recorded.started)
        end(job, folder, RunStatus.FAILED, LOST.format(why=why))


def get_or_create(version: str):
    """The cluster's pool (made by the first app that asks, running that app's code `version`; Ray restarts
    it should it die)."""
    return (
        ray.remote(Pool)
        .options(
            name=POOL_NAME,
            namespace=NAMESPACE,
            lifetime="detached",
            get_if_exists=True,
            num_cpus=0,
            max_restarts=-1,
            max_concurrency=64,
        )
        .remote(version)
    )
