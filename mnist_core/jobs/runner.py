"""The job runner: queues jobs on its backend, keeps every job of its runs folder, and says who may stop one.

A `JobRunner` is meant to exist once per process (the app holds it in `st.cache_resource`), so every browser
session sees, and can stop, the same jobs. Where a job runs is its backend's concern (mnist_core.jobs.backend;
factory.make_backend picks threads here, or Ray); what it runs is the same body everywhere
(mnist_core.jobs.work). Nothing here imports streamlit, nor Ray.

Every job writes a small JSON status file next to its checkpoint at each change of status, and a new runner
restores the runs it finds there (mnist_core.runs: names, status files, listing, what a restart leaves:
"interrupted" for a job whose process is gone while it was queued or running).

Who may stop a run: the visitor that started it (its `owner` token; its key, owners.key, once restored from
its status file), or the code that holds the runner (owners.ANYONE: the command line, tests, `close`).
Nothing else sets a job's stop flag: closing a browser, opening a new session or rerunning a page never
does, and another visitor's session is not shown a Stop button for a run it did not start. Who may rename
or delete one (`may_change`): its visitor, or owners.ANYONE (the operator); a run of no visitor (the command
line's, a bare checkpoint) only ANYONE. The key is kept in the status file, so this survives a restart.

Limits: one session has at most settings.runs_per_session() runs queued or running, and the server at most
settings.runs_per_server() (visitors are refused past it; the runner's holder never is).

An uploaded checkpoint becomes a run through `add_upload` (mnist_core.uploads.accept_upload checks it first):
it gets a name no job (queued, running or done) and no file uses, and its accuracy is measured on the test
set by an "evaluate" job when the data is there; until then (or without the data) the file's own figure is
only "claimed".
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import uuid
from pathlib import Path

from .. import checkpoints, data, devices, inference, owners, recipes, settings
from ..config import TrainConfig
from ..events import RunStatus
from ..models import ARCHS
from ..runs import EVALUATE, Run, RunsFolder
from . import factory, work
from .backend import EVAL_QUEUE
from .job import Job

log = logging.getLogger(__name__)

LIMIT_ENV = "MNIST_LAB_RUNS_PER_SESSION"  # named in messages
SERVER_LIMIT_ENV = "MNIST_LAB_RUNS_PER_SERVER"
RESTORED = object()  # the owner of a run followed from elsewhere: no token; its key says which visitor may stop it
NOT_YOURS = "it is another visitor's run; only they, or the lab's operator, may rename or delete it"


def session_run_limit() -> int:
    """How many runs one session may have queued or running at once (settings.runs_per_session)."""
    return settings.runs_per_session()


class JobRunner:
    """Queues training jobs on its backend (threads here, or Ray) and keeps every job of its runs folder."""

    def __init__(
        self, runs_dir: str | os.PathLike | None = None, download: bool = True, ray_address: str | None = None
    ):
        self.folder = RunsFolder(runs_dir, worker_alive=factory.worker_alive)
        self.runs_dir = self.folder.path
        self.download = download  # False: a missing dataset fails the job instead of downloading
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        # threads here, or Ray (ray_address, else $MNIST_LAB_RAY_ADDRESS); backend_warning: why not Ray when asked
        run = functools.partial(work.execute, folder=self.folder, download=download)
        self.backend, self.backend_warning = factory.make_backend(run, self.folder, download, ray_address)
        self.unreadable: dict[str, str] = {}  # file name -> why it is not listed (refresh fills it)
        self.refresh()

    # -- queueing ------------------------------------------------------------------------------
    def _check_limits(self, owner: str | None, more: int) -> None:
        """ValueError when `owner` (a visitor's token) would have more than session_run_limit() runs queued
        or running, or the server more than settings.runs_per_server() (every visitor's, the holder's
        included): on a shared server one student cannot fill the queue, nor can one who reloads the page
        for new sessions. The runner's holder (no owner: the command line, the operator's scripts) is
        limited by neither; its runs count towards the server's."""
        if owner is None:
            return
        key = owners.key(owner)
        limit = session_run_limit()
        mine = sum(1 for j in self._jobs.values() if j.owner_key == key and j.active)
        if mine + more > limit:
            raise ValueError(
                f"you already have {mine} run{'s' * (mine != 1)} queued or running, and "
                f"one visitor may have {limit} at once ({LIMIT_ENV}): stop one, or wait for one to end"
            )
        cap = settings.runs_per_server()
        everyone = sum(1 for j in self._jobs.values() if j.active)
        if everyone + more > cap:
            raise ValueError(
                f"the server already has {everyone} run{'s' * (everyone != 1)} queued or running, every "
                f"visitor's together, and takes at most {cap} at once ({SERVER_LIMIT_ENV}): wait for some to end"
            )

    def submit(
        self,
        config: TrainConfig,
        name: str | None = None,
        data_root: str | os.PathLike | None = None,
        owner: str | None = None,
    ) -> Job:
        """Queue a run. The name is made safe and unique; ValueError for a device not present, or when
        the owner already has session_run_limit() runs queued or running, or the server
        settings.runs_per_server(). owner: the visitor's token that may stop, rename and delete it (None:
        the runner's holder; then only owners.ANYONE renames or deletes it)."""
        device = devices.resolve_device(config.device).type  # ValueError for a device not here
        root = str(data.data_dir(data_root).resolve())
        with self._lock:
            self._check_limits(owner, 1)
            final = self.unique_name(name, config.arch)
            job = Job(uuid.uuid4().hex[:12], final, config, self.folder.checkpoint_path(final), root, owner=owner)
            self._jobs[job.id] = job
            self._write_status(job)
            self.backend.start(device, job)
        return job

    # -- uploads -------------------------------------------------------------------------------
    def upload_bytes(self, owner: str | None = None) -> int:
        """Bytes of uploaded checkpoints kept in the runs folder: every one, or (`owner`, a visitor's token)
        that visitor's only (settings.visitor_uploads_max_bytes() is their share)."""
        key = owners.key(owner) if owner is not None else None
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.uploaded and (key is None or j.owner_key == key)]
        total = 0
        for j in jobs:
            try:
                total += j.path.stat().st_size
            except OSError:
                pass
        return total

    def add_upload(
        self, src: str | os.PathLike, requested: str, meta: dict, data_root=None, owner: str | None = None
    ) -> Job:
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
            name = self.unique_name(requested, arch)
            dest = self.folder.checkpoint_path(name)
            os.replace(src, dest)
            job = Job(uuid.uuid4().hex[:12], name, cfg, dest, root, kind=EVALUATE, owner=owner)
            job.uploaded = size
            job.set_saved(dest, read_curves=True)
            self._jobs[job.id] = job
            claimed = meta["metrics"].get("claimed_test_accuracy")
            said = f"the file claims {claimed:.2%}" if isinstance(claimed, (int, float)) else "the file claims none"
            if data.is_available(dataset, root):
                job.set_status(RunStatus.QUEUED, f"uploaded; measuring its accuracy on the test set ({said})")
                self._write_status(job)
                self.backend.start(EVAL_QUEUE, job)
            else:
                work.end(
                    job,
                    self.folder,
                    RunStatus.FINISHED,
                    f"uploaded; its accuracy is only claimed ({said}): the "
                    f"{data.DATASETS[dataset][1]} test set is not on this machine to measure it",
                )
        return job

    def submit_all(self, fast: bool = True, data_root=None, owner: str | None = None, **overrides) -> list[Job]:
        """Queue every architecture with its recipe (the fast one by default): all of them, or none when
        they would take the owner past session_run_limit()."""
        with self._lock:
            self._check_limits(owner, len(ARCHS))
            recipe = recipes.recommended if fast else recipes.tutorial
            return [self.submit(recipe(a, **overrides), None, data_root, owner) for a in ARCHS]

    def stop(self, job_id: str, owner=None) -> bool:
        """Stop a running job, or cancel a queued one. False when there is no such active job, or
        when `owner` (a session's token) is not the one that started it. Without an owner only a
        job submitted without one can be stopped; owners.ANYONE (the runner's holder) stops any, and a
        visitor stops a run of theirs restored after a restart (its owner key)."""
        job = self.get(job_id)
        if job is None or not job.active or job.foreign or not job.stoppable_by(owner):
            return False
        job.stop()
        with self._lock:
            if self.backend.stop(job):  # never started: it ends here, not in a worker
                work.end(job, self.folder, RunStatus.STOPPED, work.NOT_STARTED)
        return True

    def stop_all(self) -> None:
        for job in self.active():
            self.stop(job.id, owners.ANYONE)

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
        return self.backend.position(job) if job.status == RunStatus.QUEUED and not job.foreign else None

    def describe_backend(self) -> str:
        """Where runs train, in words: "this server, 1 run at a time per device", or "the Ray cluster at auto"."""
        return self.backend.describe()

    def wait_all(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self.active():
            if not job.wait(None if deadline is None else max(deadline - time.monotonic(), 0)):
                return False
        return True

    # -- renaming and deleting a finished run -------------------------------------------------
    def may_change(self, job: Job, by) -> bool:
        """Whether `by` (a visitor's token, or owners.ANYONE) may rename or delete `job`: the visitor who
        made it (its owner key, kept across restarts), or ANYONE; a run of no visitor only ANYONE."""
        return job.changeable_by(by)

    def _finished_run(self, name: str, by) -> Job:
        """The run called `name` in the runs folder, if `by` may rename or delete it; ValueError why not."""
        self.refresh()
        job = next((j for j in self._jobs.values() if j.name == name), None)
        if job is None:
            if str(name).lower() in {a.lower() for a in ARCHS}:
                raise ValueError(f"{name!r} is a shipped model: shipped models are never renamed or deleted")
            raise ValueError(f"there is no run named {name!r} (another session may have renamed or deleted it)")
        if job.path.resolve().parent != self.runs_dir or job.path.resolve().parent == inference.shipped_dir().resolve():
            raise ValueError(f"{name!r} is not one of your runs: shipped models are never renamed or deleted")
        if not job.changeable_by(by):
            raise ValueError(f"{name!r}: {NOT_YOURS}")
        if job.active:
            raise ValueError(
                f"{name!r} is {job.status}: stop it, or wait until it ends, before renaming or deleting it"
            )
        return job

    def rename_run(self, name: str, new: str, *, by) -> Path:
        """Give a finished run a new name: its checkpoint and its status file move together (the weights are
        not rewritten). The new name is made safe and unique as for a new run (my run -> my_run, my_run-2 if
        taken). Returns the checkpoint's new path; ValueError for a shipped model, another visitor's run
        (`by`: the visitor's token, or owners.ANYONE), a queued or running job, an empty name or one that is
        its name already."""
        if not str(new or "").replace("\x00", "").strip():
            raise ValueError("a new name is needed")
        with self._lock:
            job = self._finished_run(name, by)
            if checkpoints.safe_name(str(new).strip()).lower() == job.name.lower():
                raise ValueError(f"{job.name!r} is its name already")
            final = self.unique_name(new, job.config.arch)
            old_ckpt, old_status = job.path, self._status_path(job.name)
            new_ckpt = self.folder.checkpoint_path(final)
            if new_ckpt.exists() or self._status_path(final).exists():  # another process took it meanwhile
                raise ValueError(f"the name {final!r} was just taken; try another")
            if old_ckpt.is_file():
                os.replace(old_ckpt, new_ckpt)
            job.rename(final, new_ckpt)
            if job.id.startswith("ckpt-"):  # a bare checkpoint's id follows its name (refresh makes the same id)
                self._jobs.pop(job.id, None)
                job.id = f"ckpt-{final}"
                self._jobs[job.id] = job
            if old_status.is_file():
                self._write_status(job)
                old_status.unlink(missing_ok=True)
            log.info("run %s renamed to %s", name, final)
            return new_ckpt

    def delete_run(self, name: str, *, by) -> list[Path]:
        """Delete a finished run: its checkpoint and its status file. Returns the files removed; ValueError
        for a shipped model, another visitor's run (`by`, as for rename_run) or a queued or running job."""
        with self._lock:
            job = self._finished_run(name, by)
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
    def unique_name(self, requested: str | None, arch: str) -> str:
        """A safe file stem, unused by a shipped model, a job (queued, running or done) or a file in the runs
        directory (runs.unique_name, the rule uploads follow too)."""
        with self._lock:
            return self.folder.unique_name(requested, arch, taken=[j.name for j in self._jobs.values()])

    def _status_path(self, name: str) -> Path:
        return self.folder.status_path(name)

    def _write_status(self, job: Job) -> None:
        self.folder.write_status(job)

    def _restored(self, run: Run) -> Job:
        """The job for a run found on disk; an interrupted one's status file is rewritten to say so. A run
        that runs elsewhere for another app process (or this app before a restart) is followed live when this
        runner is on Ray too; only the runner's holder may stop it (its session's token is not known here)."""
        job = Job.restored(run)
        if job.status == RunStatus.INTERRUPTED:
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

    def close(self, wait: float = 10.0) -> None:
        """Stop every job that ends with this process, and forget this runner (its status files then read
        as interrupted). Runs on Ray go on: another runner on the same cluster and runs folder follows them."""
        ending = [j for j in self.active() if not (self.backend.keeps_running and j.worker)]
        deadline = time.monotonic() + wait
        for job in ending:
            self.stop(job.id, owners.ANYONE)
        for job in ending:
            job.wait(max(deadline - time.monotonic(), 0))
        self.backend.close()
        self.folder.close()
