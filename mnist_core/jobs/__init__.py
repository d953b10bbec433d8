"""Background jobs: training runs and the measuring of uploaded checkpoints, on a plugged-in backend.

- job.py: the `Job` (its state machine, stop flag, snapshots, and its form as plain data);
- work.py: the jobs' bodies, the same on every backend (`train_job`, `measure_upload`, `end`);
- backend.py: the `Backend` protocol; threads.py: `ThreadBackend` (this process); ray/: the Ray backend (the
  app's side, the cluster's pool of warm workers, a worker);
- factory.py: which backend a runner gets (the only module that imports ray/, lazily);
- runner.py: `JobRunner` (queue, limits, owners, restore, rename and delete).

Who may stop, rename or delete a run is mnist_core.owners' rule (`owners.ANYONE` for the runner's holder).

The names callers use are importable from here: `from mnist_core import jobs; jobs.JobRunner(...)`.
"""

from __future__ import annotations

from ..runs import EVALUATE, RESERVED, STATUS_FORMAT, Run
from .backend import device_queue
from .job import Job
from .runner import LIMIT_ENV, SERVER_LIMIT_ENV, JobRunner, session_run_limit
from .threads import ThreadBackend, devices_cap
from .work import measure_upload

__all__ = [
    "EVALUATE",
    "LIMIT_ENV",
    "RESERVED",
    "SERVER_LIMIT_ENV",
    "STATUS_FORMAT",
    "Job",
    "JobRunner",
    "Run",
    "ThreadBackend",
    "device_queue",
    "devices_cap",
    "measure_upload",
    "session_run_limit",
]
