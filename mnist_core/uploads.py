"""Accepting an uploaded checkpoint into the runs folder: checked before it gets a name, named by the runs
folder's one naming rule (runs.unique_name, as a new run is), within its limits, its accuracy only claimed.

Limits: one file is at most UPLOAD_MAX_BYTES (and checkpoints.MAX_BYTES); the uploads kept in the runs folder
take at most settings.uploads_max_bytes() together, and one visitor's at most settings.visitor_uploads_max_bytes()
(counted by the app's runner, which knows which runs were uploaded, and by whom: their owner key). With the
runner the upload becomes a run whose accuracy is measured on the test set (JobRunner.add_upload); without
one (tests, scripts) the file is only saved.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

from . import checkpoints, inference, public, settings
from .runs import unique_name

log = logging.getLogger(__name__)
UPLOAD_MAX_BYTES = 16 * 2**20  # one uploaded checkpoint (the largest model here is under 3 MB)
VISITOR_SHARE_ENV = "MNIST_UPLOADS_PER_VISITOR_MB"  # named in messages


def display_name(filename: str) -> str:
    """The uploaded file's name as messages show it: its last part, printable, at most 80 characters."""
    name = "".join(ch for ch in Path(str(filename)).name if ch.isprintable())
    return (name[:80] + "...") if len(name) > 80 else (name or "the uploaded file")


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.1f} KB"


def check_size(shown: str, size: int, runner=None, owner: str | None = None) -> None:
    """CheckpointError when `size` bytes is over one file's limit, or (with the app's `runner`) would take the
    uploads kept past settings.uploads_max_bytes(), or `owner`'s (a visitor's token) past their share,
    settings.visitor_uploads_max_bytes(): one visitor never fills the uploads for everyone."""
    limit = min(UPLOAD_MAX_BYTES, checkpoints.MAX_BYTES)
    if size > limit:
        raise checkpoints.CheckpointError(
            f"{shown}: {_mb(size)} is too large for a checkpoint (the limit "
            f"is {_mb(limit)}; the largest model here is under 3 MB)"
        )
    if runner is not None and runner.upload_bytes() + size > settings.uploads_max_bytes():
        raise checkpoints.CheckpointError(
            f"{shown}: not saved: the uploaded models kept here already take {runner.upload_bytes() / 2**20:.0f} MB "
            f"of the {settings.uploads_max_bytes() / 2**20:.0f} MB allowed; ask whoever runs the lab to remove some"
        )
    if runner is not None and owner is not None:
        mine, share = runner.upload_bytes(owner), settings.visitor_uploads_max_bytes()
        if mine + size > share:
            raise checkpoints.CheckpointError(
                f"{shown}: not saved: your uploaded models already take {_mb(mine)} of the {_mb(share)} each "
                f"visitor may keep ({VISITOR_SHARE_ENV}); delete one of yours first"
            )


def accept_upload(filename: str, content: bytes, runs=None, runner=None, owner: str | None = None) -> Path:
    """Validate an uploaded checkpoint and save it into the runs directory under a safe name.

    The bytes are checked by checkpoints.load (zip sizes before anything is inflated, then
    torch.load with weights_only=True, metadata and finite weights) before they get a `.pt` name,
    so a refused file is never listed. The accuracy the file records is only claimed: it is kept as
    `claimed_test_accuracy` and `test_accuracy` is cleared until it is measured. With a `runner`
    (the app's) the name is reserved through it, so that it is never the name of a queued or running
    job, the total size of uploads is bounded, and the accuracy is measured on the test set in a
    background job. Raises CheckpointError with a message naming the uploaded file (and, when the runs folder
    cannot be written, what is wrong with it: read-only, a full disk).
    """
    shown = display_name(filename)
    check_size(shown, len(content), runner, owner)
    rdir = runner.runs_dir if runner is not None else inference.runs_dir(runs)
    try:
        return _save(shown, content, rdir, runner, owner)
    except (OSError, RuntimeError) as exc:  # torch.save on a full disk raises RuntimeError
        log.exception("saving the upload %s in %s failed", shown, rdir)
        problem = public.disk_problem(exc, folder=rdir if rdir.is_dir() else rdir.parent)
        raise checkpoints.CheckpointError(f"{shown}: not saved: {problem}") from None


def _save(shown: str, content: bytes, rdir: Path, runner, owner: str | None) -> Path:
    rdir.mkdir(parents=True, exist_ok=True)
    tmp = rdir / f".upload-{uuid.uuid4().hex}.tmp"  # not *.pt: never listed while unchecked
    try:
        tmp.write_bytes(content)
        try:
            _, meta = checkpoints.load(tmp)
            claimed = meta["metrics"].get("test_accuracy")
            meta["metrics"] = checkpoints.update_metrics(
                tmp, test_accuracy=None, claimed_test_accuracy=claimed, accuracy_source="claimed"
            )
        except checkpoints.CheckpointError as exc:
            raise checkpoints.CheckpointError(str(exc).replace(tmp.name, shown)) from None
        stem = Path(shown).stem if Path(shown).suffix == checkpoints.SUFFIX else (meta.get("name") or "uploaded")
        if runner is not None:  # the runner names it (never a job's name either) and measures it
            return runner.add_upload(tmp, stem, meta, owner=owner).path
        dest = checkpoints.path_in(rdir, unique_name(rdir, stem, meta["arch"]))  # never overwrites: my_run-2.pt
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)
