"""Where jobs run: the protocol every backend follows (as Lightning's Strategy is to its concrete strategies).

The runner (mnist_core.jobs.runner) owns the jobs: their names, owners, limits and the runs folder. A backend
only runs them: it is handed each job once (`start`, with the queue it waits in), runs the job's body
(mnist_core.jobs.work) in its turn, and is read back through the job itself (its events, status and end).
The thread backend runs them in this process (mnist_core.jobs.threads); the Ray backend on a Ray cluster
(mnist_core.jobs.ray). mnist_core.jobs.factory picks one.
"""

from __future__ import annotations

from typing import Protocol

from .. import devices
from ..config import TrainConfig
from .job import Job

EVAL_QUEUE = "evaluate"  # measurements have their own queue: never stuck behind hours of training


def device_queue(config: TrainConfig) -> str:
    """The queue a run waits in: its device's type ("cpu", "cuda", "mps")."""
    try:
        return devices.resolve_device(config.device).type
    except ValueError:
        return "cpu"


class Backend(Protocol):
    """Where jobs run. The runner hands each job over once with `start`, and reads it back through the job
    (its events, status and end); `stop`, `attach`, `position`, `describe` and `close` are its only other calls."""

    keeps_running: bool  # True when its runs outlive this process (Ray): closing the runner leaves them running

    def start(self, queue: str, job: Job) -> None:
        """Queue the job behind the others of `queue` (a device, or EVAL_QUEUE) and run it in its turn."""

    def stop(self, job: Job) -> bool:
        """Deliver the stop the runner set on the job. True when the job had not started and never will
        (the runner then ends it); False when it runs and will end itself, or has ended."""

    def attach(self, job: Job) -> bool:
        """Follow a run that this backend runs for another process (its `worker`); False when it cannot."""

    def position(self, job: Job) -> int | None:
        """1 for the next job to start in its queue, 2 for the one after...; None when it is not waiting."""

    def describe(self) -> str:
        """Where jobs run, in words, for the pages."""

    def close(self) -> None:
        """Release what the backend holds (the runner has stopped the jobs that end with it)."""
