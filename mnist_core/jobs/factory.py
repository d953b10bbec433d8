"""Which backend runs the jobs: Ray when an address names a cluster, else this process's threads.

The one module that imports mnist_core.jobs.ray, and only inside its functions: Ray is optional
(requirements-ray.txt), and a process that trains here never imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .. import settings
from ..runs import RunsFolder
from .backend import Backend
from .job import Job
from .threads import ThreadBackend

log = logging.getLogger(__name__)


def make_backend(
    run: Callable[[Job], None], folder: RunsFolder, download: bool, ray_address: str | None = None
) -> tuple[Backend, str]:
    """The backend for a runner: Ray when `ray_address` or $MNIST_LAB_RAY_ADDRESS names a cluster, else this
    process's threads, which call `run(job)`. Returns it and a warning ("" when none): a Ray that is named
    but not installed or not reachable leaves training here, and says why."""
    address = settings.ray_address(ray_address)
    if not address:
        return ThreadBackend(run), ""
    from . import ray

    if not ray.installed():
        why = "Ray is not installed (pip install -r requirements-ray.txt)"
    else:
        try:
            return ray.RayBackend(run, folder, download, address), ""
        except Exception as exc:  # a wrong address, a cluster that is down
            log.exception("could not connect to Ray at %s", address)
            said = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            why = f"could not connect to Ray at {address!r} ({said})"
    return ThreadBackend(run), f"Training runs on this server, not on Ray: {why}."


def worker_alive(name: str) -> bool | None:
    """Whether the worker `name` that a status file records (a run's name on Ray) still has it, queued or running;
    None when this process cannot say (it is not connected to Ray, or Ray does not answer). Handed to the
    runs folder, which reads status files without knowing what runs a job."""
    from . import ray

    return ray.run_alive(name)
