"""The default backend, in this process: a queue per device, each drained by worker threads."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from .. import settings
from .backend import EVAL_QUEUE
from .job import Job


def devices_cap() -> int:
    """How many runs one device trains at once on this server: $MNIST_LAB_RUNS_PER_DEVICE, else 1 (on a
    laptop one run gets all of its speed; a many-core server can take several)."""
    return settings.runs_per_device()


class ThreadBackend:
    """jobs.Backend in this process: one queue per name, drained in order by up to `per_queue` daemon threads
    that call `run(job)` (devices_cap(): $MNIST_LAB_RUNS_PER_DEVICE, else 1; the queue of measurements
    always 1). A thread exists only while its queue has jobs; a job sees a stop through its own flag,
    checked between steps."""

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
                    worker = threading.Thread(
                        target=self._work, args=(queue, slot), daemon=True, name=f"mnist-lab-{queue}-{slot}"
                    )
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

    def workers(self) -> list[threading.Thread]:
        """The worker threads it holds now (none once every queue is empty and its threads have ended)."""
        with self._lock:
            return list(self._workers.values())

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
