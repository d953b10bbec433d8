"""Background jobs: training runs and the measuring of uploaded checkpoints, on a plugged-in backend.

- job.py: the `Job` (its state machine, stop flag, snapshots, and its form as plain data);
- work.py: the jobs' bodies, the same on every backend (`train_job`, `measure_upload`, `end`);
- backend.py: the `Backend` protocol; threads.py: `ThreadBackend` (this process); ray.py: the Ray backend;
- factory.py: which backend a runner gets (the only module that imports ray.py, lazily);
- runner.py: `JobRunner` (queue, limits, owners, restore, rename and delete).

The names callers use are importable from here: `from mnist_core import jobs; jobs.JobRunner(...)`.
"""

from __future__ import annotations

from ..events import RunStatus
from ..runs import EVALUATE, NAME_LEN, RESERVED, STATUS_FORMAT, STATUS_SUFFIX, TRAIN, Run, owner_tag
from .backend import EVAL_QUEUE, Backend, device_queue
from .factory import make_backend
from .job import ANYONE, Job
from .runner import LIMIT_ENV, RESTORED, JobRunner, session_run_limit
from .threads import ThreadBackend, devices_cap
from .work import EVAL_BATCH, NOT_STARTED, end, execute, measure_upload, train_job

# events.RunStatus's members by the names code and tests import from here
QUEUED, RUNNING = RunStatus.QUEUED, RunStatus.RUNNING
FINISHED, STOPPED, DIVERGED = RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.DIVERGED
FAILED, INTERRUPTED = RunStatus.FAILED, RunStatus.INTERRUPTED
STATUSES = tuple(RunStatus)

__all__ = [
    "ANYONE",
    "DIVERGED",
    "EVALUATE",
    "EVAL_BATCH",
    "EVAL_QUEUE",
    "FAILED",
    "FINISHED",
    "INTERRUPTED",
    "LIMIT_ENV",
    "NAME_LEN",
    "NOT_STARTED",
    "QUEUED",
    "RESERVED",
    "RESTORED",
    "RUNNING",
    "STATUSES",
    "STATUS_FORMAT",
    "STATUS_SUFFIX",
    "STOPPED",
    "TRAIN",
    "Backend",
    "Job",
    "JobRunner",
    "Run",
    "ThreadBackend",
    "device_queue",
    "devices_cap",
    "end",
    "execute",
    "make_backend",
    "measure_upload",
    "owner_tag",
    "session_run_limit",
    "train_job",
]
