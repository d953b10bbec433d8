"""The default backend, in this process: a queue per device, each drained by worker threads, fairly.

Fair: each queue starts its jobs in turn by owner (the visitor's key, Job.owner_key; "" for the runner's
holder), not in the order they came. The next job to start is the first waiting job of the owner served
least recently (an owner never served yet first, in the order they came), so one visitor's 45 queued runs
never keep another's one waiting behind them: a new visitor's run is at most number (owners waiting) in line.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable

from .. import settings
from .backend import EVAL_QUEUE
from .job import Job

SERVED_KEEP = 4096  # owners remembered per queue (when they were last served) before the idle ones are forgotten


def devices_cap() -> int:
    """How many runs one device trains at once on this server: $MNIST_LAB_RUNS_PER_DEVICE, else 1 (on a
    laptop one run gets all of its speed; a many-core server can take several)."""
    return settings.runs_per_device()


def _owner(job) -> str:
    return getattr(job, "owner_key", "") or ""


class FairQueue:
    """One queue's waiting jobs, per owner; `pop` takes the next in the fair order, `order` lists it.
    Not thread-safe on its own: ThreadBackend holds its lock around every call."""

    def __init__(self):
        self._waiting: dict[str, deque] = {}  # owner -> their jobs in the order they came
        self._served: dict[str, int] = {}  # owner -> the tick of their last start (absent: never served)
        self._arrived: dict[int, int] = {}  # id(job) -> the tick it came (ties between never-served owners)
        self._ticks = itertools.count()

    def __len__(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def __contains__(self, job) -> bool:
        return job in self._waiting.get(_owner(job), ())

    def push(self, job) -> None:
        self._waiting.setdefault(_owner(job), deque()).append(job)
        self._arrived[id(job)] = next(self._ticks)

    def remove(self, job) -> bool:
        q = self._waiting.get(_owner(job))
        if q is None or job not in q:
            return False
        q.remove(job)
        self._arrived.pop(id(job), None)
        if not q:
            del self._waiting[_owner(job)]
        return True

    def _rank(self, owner: str, served: dict[str, int], first) -> tuple:
        return (served.get(owner, -1), self._arrived[id(first)])

    def pop(self):
        """The next job to start (None when none waits), its owner marked as served now."""
        if not self._waiting:
            return None
        owner = min(self._waiting, key=lambda o: self._rank(o, self._served, self._waiting[o][0]))
        job = self._waiting[owner].popleft()
        self._arrived.pop(id(job), None)
        if not self._waiting[owner]:
            del self._waiting[owner]
        self._served[owner] = next(self._ticks)
        if len(self._served) > SERVED_KEEP:
            self._served = {o: t for o, t in self._served.items() if o in self._waiting}
        return job

    def order(self) -> list:
        """Every waiting job in the order they will start (if nothing else comes)."""
        served, tick = dict(self._served), max([*self._served.values(), *self._arrived.values(), 0]) + 1
        waiting = {o: list(q) for o, q in self._waiting.items()}
        out = []
        while waiting:
            owner = min(waiting, key=lambda o: self._rank(o, served, waiting[o][0]))
            out.append(waiting[owner].pop(0))
            if not waiting[owner]:
                del waiting[owner]
            served[owner], tick = tick, tick + 1
        return out


class ThreadBackend:
    """jobs.Backend in this process: one fair queue per name (FairQueue: in turn by owner), drained by up to
    `per_queue` daemon threads that call `run(job)` (devices_cap(): $MNIST_LAB_RUNS_PER_DEVICE, else 1; the
    queue of measurements always 1). A thread exists only while its queue has jobs; a job sees a stop
    through its own flag, checked between steps."""

    keeps_running = False  # its runs end with the process: closing the runner stops them

    def __init__(self, run: Callable[[Job], None], per_queue: int | None = None):
        self._run = run
        self.per_queue = per_queue or devices_cap()
        self._lock = threading.Lock()
        self._queues: dict[str, FairQueue] = {}
        self._workers: dict[tuple[str, int], threading.Thread] = {}  # (queue, slot) -> its thread

    def start(self, queue: str, job: Job) -> None:
        with self._lock:
            self._queues.setdefault(queue, FairQueue()).push(job)
            slots = 1 if queue == EVAL_QUEUE else self.per_queue
            for slot in range(slots):
                worker = self._workers.get((queue, slot))
                if worker is None or not worker.is_alive():
                    worker = threading.Thread(
                        target=self._work, args=(queue, slot), daemon=True, name=f"mnist-lab-{queue}-{slot}"
                    )
                    self._workers[(queue, slot)] = worker
                    worker.start()
                    break

    def stop(self, job: Job) -> bool:
        with self._lock:
            return any(q.remove(job) for q in self._queues.values())  # never started: taken out, never run

    def attach(self, job: Job) -> bool:
        return False  # another process's threads are out of reach

    def position(self, job: Job) -> int | None:
        """1 for the next job to start in its queue, in the fair order; None when it is not waiting."""
        with self._lock:
            for q in self._queues.values():
                if job in q:
                    return q.order().index(job) + 1
        return None

    def describe(self) -> str:
        return f"this server, {self.per_queue} run{'s' * (self.per_queue != 1)} at a time per device"

    def workers(self) -> list[threading.Thread]:
        """The worker threads it holds now (none once every queue is empty and its threads have ended)."""
        with self._lock:
            return list(self._workers.values())

    def close(self) -> None:
        pass  # nothing held: a worker ends when its queue is empty

    def _work(self, queue: str, slot: int) -> None:
        while True:
            with self._lock:
                q = self._queues.get(queue)
                job = q.pop() if q is not None else None
                if job is None:
                    self._workers.pop((queue, slot), None)
                    return
            self._run(job)
