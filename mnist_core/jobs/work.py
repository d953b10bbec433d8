"""The jobs' bodies, the same whichever backend runs them (a thread here, a Ray worker): training a model
(`train_job`), measuring an uploaded checkpoint on the test set (`measure_upload`), and a job's end (`end`).

Each takes plain inputs (the job, its runs folder), writes the job's status file at each change of status,
and ends the job itself; `execute` runs the one a job's kind asks for and never raises, so one job never
ends the worker that the rest of its queue waits for.

A job's message is shown to every visitor: it names the model and the folders in words, never a server path
(`end` passes it through public.without_paths; the full error goes to the log).
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time

from .. import checkpoints, data, drawings, inference, public, training
from ..events import RunStatus
from ..runs import EVALUATE, RunsFolder
from .job import Job

log = logging.getLogger(__name__)

NOT_STARTED = "stopped before it started; nothing was trained"
EVAL_BATCH = 500


def end(job: Job, folder: RunsFolder, status: RunStatus, message: str) -> None:
    """Final status: recorded, written to its status file, and only then announced to waiters. The message
    never holds a server path: the runs and data folders are named in words, any other path by its last part."""
    job.finish(status, shown(message, folder, job), folder.write_status)


def shown(message: str, folder: RunsFolder, job: Job) -> str:
    """A message as visitors may read it: no absolute path of this server."""
    return public.without_paths(message, {folder.path: "the runs folder", job.data_root: "the data folder"})


def failure(exc: BaseException, folder: RunsFolder, job: Job) -> str:
    """What went wrong, in one line a visitor may read: a disk fault in words (read-only, full), a drawings
    database fault named as such, else the error's first line without paths. The whole goes to the log."""
    if isinstance(exc, data.DataUnavailable):
        return exc.public
    if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, IsADirectoryError)):
        return public.disk_problem(exc, folder=folder.path)
    if isinstance(exc, (drawings.StoreError, sqlite3.Error)):
        return f"the drawings database cannot be read ({shown(str(exc).splitlines()[0][:300], folder, job)})"
    first = str(exc).splitlines()[0][:300] if str(exc) else ""
    return shown(f"{type(exc).__name__}: {first}" if first else type(exc).__name__, folder, job)


def execute(job: Job, folder: RunsFolder, download: bool = True) -> None:
    """Run the job's body in this thread: training, or measuring an upload. A crash fails the job, never
    the caller (a backend's worker, which goes on with its queue)."""
    try:
        if job.kind == EVALUATE:
            measure_upload(job, folder)
        else:
            train_job(job, folder, download)
    except Exception:
        log.exception("job %s crashed", job.name)
        end(job, folder, RunStatus.FAILED, "internal error; see the server log")


def train_job(job: Job, folder: RunsFolder, download: bool = True) -> None:
    """A training job's whole body, from plain inputs (the job, its runs folder): its status files, the
    training, the checkpoint, its end. Runs wherever the backend runs it (a thread here, a Ray worker).
    download: False makes a missing dataset fail the job instead of downloading it."""
    if job.stop_requested:
        return end(job, folder, RunStatus.STOPPED, NOT_STARTED)
    job.set_status(RunStatus.RUNNING, "training", started=time.time())
    folder.write_status(job)
    try:
        if not download and not data.is_available(job.config.dataset, job.data_root):
            data.load(job.config.dataset, train=True, root=job.data_root, download=False)  # raises, with help
        result = training.train(
            job.config, data_root=job.data_root, on_event=job.record, should_stop=lambda: job.stop_requested
        )
        status, message = result.status, result.message
        if result.usable:
            try:
                saved = result.save(job.path, name=job.name, extra={"job": job.id})
            except (OSError, RuntimeError) as exc:  # a read-only runs folder, a full disk (torch: RuntimeError)
                log.exception("job %s: saving %s failed", job.name, job.path)
                problem = public.disk_problem(exc, folder=folder.path)
                return end(job, folder, RunStatus.FAILED, f"{message}; the model could not be saved: {problem}")
            job.set_saved(saved, result.test_accuracy)
            message += f"; saved in the runs folder as {saved.name}"
        elif status == RunStatus.STOPPED:
            message += "; stopped before its first evaluation, so no model was saved"
        elif status == RunStatus.DIVERGED:
            message += "; the model was not saved"
    except data.DataUnavailable as exc:
        log.warning("job %s: %s", job.name, exc)
        status, message = RunStatus.FAILED, exc.public
    except (ValueError, OSError, RuntimeError, drawings.StoreError, sqlite3.Error) as exc:  # a bad setting, a
        log.exception("job %s failed", job.name)  # full disk, out of memory, a drawings database's fault
        status, message = RunStatus.FAILED, failure(exc, folder, job)
    end(job, folder, status, message)


def measure_upload(job: Job, folder: RunsFolder) -> None:
    """An uploaded checkpoint's accuracy on the test set, written into its metrics."""
    if job.stop_requested:
        return end(job, folder, RunStatus.STOPPED, "stopped before its accuracy was measured; it stays claimed")
    job.set_status(RunStatus.RUNNING, "measuring its accuracy on the test set", started=time.time())
    folder.write_status(job)
    t0 = time.perf_counter()
    try:
        model, meta = checkpoints.load(job.path)
        predictor = inference.Predictor(model, meta, job.name, job.path, tta=False)  # as training measures it
        split = data.load(job.config.dataset, train=False, root=job.data_root, download=False)
        n = len(split)
        total = math.ceil(n / EVAL_BATCH)
        job.set_progress(total_steps=total, step=0, epoch=0.0, elapsed=0.0)
        correct = 0
        for i in range(total):
            if job.stop_requested:
                return end(
                    job, folder, RunStatus.STOPPED, "stopped by request while measuring; its accuracy stays claimed"
                )
            sl = slice(i * EVAL_BATCH, (i + 1) * EVAL_BATCH)
            probs = predictor.proba_batch(split.images[sl].float().numpy() / 255.0)
            correct += int((probs.argmax(1) == split.labels[sl].numpy()).sum())
            el = time.perf_counter() - t0
            job.set_progress(step=i + 1, elapsed=el, images_per_sec=min((i + 1) * EVAL_BATCH, n) / el)
        acc = correct / n if n else 0.0
        claimed = meta["metrics"].get("claimed_test_accuracy")
        checkpoints.update_metrics(job.path, test_accuracy=acc, accuracy_source="measured", measured_images=n)
        job.set_accuracy(acc)
        said = f"; the file claimed {claimed:.2%}" if isinstance(claimed, (int, float)) else ""
        status, message = RunStatus.FINISHED, f"measured {acc:.2%} on the {n:,} test images{said}"
    except (data.DataUnavailable, checkpoints.CheckpointError, ValueError, OSError, RuntimeError) as exc:
        log.exception("measuring %s failed", job.name)
        status, message = (
            RunStatus.FAILED,
            f"could not measure it ({failure(exc, folder, job)}); its accuracy stays claimed",
        )
    end(job, folder, status, message)
