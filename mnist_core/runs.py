"""The runs folder: each run's checkpoint (`RUNS/NAME.pt`) and its small JSON status file (`RUNS/NAME.json`).

Names: a run is named by its files' stem, made safe and unique (`RunsFolder.unique_name`): never a
shipped model's name, another run's, or one Windows refuses, so a runs folder can be copied anywhere.

Status files: whoever runs a job writes its record at each change of status (`write_status`),
atomically, with its pid, its process's start time, its runner's token and the name of its `worker` (what
runs it elsewhere, such as a Ray actor), so that a reader can tell whether the writer is still alive. Whether
a worker is alive is asked of the `worker_alive` callable the runner hands to the folder: nothing here knows
what runs a job.

Listing and restore after a restart: `scan` reads the status files, then the checkpoints without one
(the command line's), into `Run` records. A run whose process is gone while it was queued or running
reads as "interrupted"; one that another live process runs reads as it is, marked `foreign`. Finished
and stopped runs come back from their checkpoints (accuracy and curves from the file, never the record).
Nothing here runs a job, nor imports what does: mnist_core.jobs turns these records into jobs.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from . import checkpoints, inference, public
from .config import TrainConfig
from .events import ACTIVE, SAVED, RunStatus
from .files import write_atomic
from .models import ARCHS

log = logging.getLogger(__name__)

STATUS_FORMAT = "mnist-lab-job"
_KEY = re.compile(r"[0-9a-f]{32}")  # an owners.key as stored
STATUS_SUFFIX = ".json"
HOST = socket.gethostname()  # this machine, in each status file: a pid means something only on its own host
NAME_LEN = 56  # room for a "-NN" suffix inside checkpoints.safe_name's 64 characters
TRAIN, EVALUATE = "train", "evaluate"  # what a job does: train a model, or measure an uploaded one
# Names Windows refuses as file stems; refused everywhere so a runs folder can be copied over.
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def unique_name(folder: str | os.PathLike, requested: str | None, arch: str, taken: Iterable[str] = ()) -> str:
    """The one naming rule of the runs folder, for a new run and an upload alike: a safe file stem (`arch`
    and the time when nothing usable is asked for), unused by a shipped model, a name in `taken` (jobs), a
    checkpoint or status file in `folder`, or a name Windows refuses; `-2`, `-3`... are added until it is."""
    folder = Path(folder)
    text = str(requested or "").replace("\x00", "").strip()
    base = checkpoints.safe_name(text) if text else f"{arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    base = checkpoints.safe_name(base[:NAME_LEN])
    used = {a.lower() for a in ARCHS} | {n.lower() for n in taken}
    used |= {p.stem.lower() for p in folder.iterdir() if p.suffix in (checkpoints.SUFFIX, STATUS_SUFFIX)}
    name, k = base, 2
    while name.lower() in used or name.lower() in RESERVED:
        name, k = f"{base}-{k}", k + 1
    if checkpoints.safe_name(name) != name or checkpoints.path_in(folder, name).stem != name:
        raise ValueError(f"could not make a safe name from {requested!r}")
    return name


class Recorded(Protocol):
    """What a status file records of a job (mnist_core.jobs.Job is one): written by `write_status`."""

    id: str
    name: str
    kind: str
    uploaded: int
    owner_tag: str
    owner_key: str
    worker: str | None

    def snapshot(self) -> dict: ...


@dataclass
class Run:
    """What the runs folder says of one run: a status file, or a checkpoint without one."""

    id: str
    name: str
    config: TrainConfig
    path: Path  # where its checkpoint is, or would be
    status: RunStatus
    message: str
    created: float
    started: float | None = None
    ended: float | None = None
    kind: str = TRAIN
    uploaded: int = 0  # bytes, for an uploaded checkpoint
    checkpoint: Path | None = None  # its checkpoint, checked, when it has one (curves are read from it later)
    test_accuracy: float | None = None  # the checkpoint's own figure
    foreign: bool = False  # another live process runs it: shown, not stoppable from here
    owner_tag: str = ""  # who started it (owners.tag()), as shown
    owner_key: str = ""  # who may change it (owners.key()); "" for no visitor (the command line, old files)
    worker: str | None = None  # the name of what runs it elsewhere (a Ray actor), when the backend has one


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        pass  # exists, owned by someone else
    return start is None or _proc_start(pid) in (None, start)


WorkerAlive = Callable[[str], bool | None]  # a worker's name -> alive, gone, or None: cannot say


class RunsFolder:
    """One runs directory, as one runner in this process sees it (its `token` marks its status files).
    worker_alive: asked whether the worker named in a queued or running record still has it (None, or the
    callable answering None: it cannot say, and the writer's process and host decide)."""

    def __init__(self, path: str | os.PathLike | None = None, worker_alive: WorkerAlive | None = None):
        self.path = inference.runs_dir(path).resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self.token = uuid.uuid4().hex  # tells this runner's status files from another's
        self.worker_alive = worker_alive
        _LIVE.add(self.token)

    def close(self) -> None:
        """Forget this runner: the status files it wrote then read as interrupted, here too."""
        _LIVE.discard(self.token)

    # -- names ---------------------------------------------------------------------------------
    def unique_name(self, requested: str | None, arch: str, taken: Iterable[str] = ()) -> str:
        """A safe file stem, unused by a shipped model, a name in `taken` (jobs) or a file in the folder."""
        return unique_name(self.path, requested, arch, taken)

    def checkpoint_path(self, name: str) -> Path:
        return checkpoints.path_in(self.path, name)

    def status_path(self, name: str) -> Path:
        return self.path / f"{name}{STATUS_SUFFIX}"

    # -- status files --------------------------------------------------------------------------
    def write_status(self, job: Recorded) -> None:
        """The job's small JSON record, written atomically; a failure to write is only logged."""
        s = job.snapshot()
        record = {
            "format": STATUS_FORMAT,
            "version": 1,
            "id": job.id,
            "name": job.name,
            "status": s["status"],
            "message": s["message"],
            "config": s["config"],
            "created": s["created"],
            "started": s["started"],
            "ended": s["ended"],
            "checkpoint": Path(s["checkpoint"]).name if s["checkpoint"] else None,
            "test_accuracy": s["test_accuracy"],
            "pid": os.getpid(),
            "proc_start": _proc_start(os.getpid()),
            "runner": self.token,
            "kind": job.kind,
            "uploaded": job.uploaded,
            "owner": job.owner_tag,
            "owner_key": job.owner_key,
            "worker": job.worker,
            "host": HOST,
        }
        path = self.status_path(job.name)
        try:
            write_atomic(path, json.dumps(record, indent=1))
        except OSError as exc:  # the run goes on; its status is known here, not after a restart
            log.warning("could not write %s: %s (%s)", path, exc, public.disk_problem(exc, folder=self.path))

    # -- listing and restoring -----------------------------------------------------------------
    def scan(self, known: Iterable[str] = ()) -> tuple[list[Run], dict[str, str]]:
        """The runs on disk not named in `known`: status files first (they win over bare checkpoints),
        then checkpoints. Returns them, and the files that are not listed (file name -> why)."""
        known = set(known)
        files = [*sorted(self.path.glob(f"*{STATUS_SUFFIX}")), *sorted(self.path.glob(f"*{checkpoints.SUFFIX}"))]
        found, problems = [], {}
        for path in files:
            if path.stem in known or path.name.startswith("."):
                continue
            try:
                run = self.read(path)
            except checkpoints.CheckpointError as exc:
                problems[path.name] = str(exc)
                continue
            except Exception as exc:  # one odd file never breaks the list of runs
                log.exception("could not restore %s", path)
                problems[path.name] = f"{path.name}: not readable ({type(exc).__name__})"
                continue
            if run is not None:
                found.append(run)
                known.add(run.name)
        unreadable = {k: v for k, v in problems.items() if Path(k).stem not in known}  # a status file's bad
        return found, unreadable  # checkpoint: named once

    def read(self, path: Path) -> Run | None:
        """The run a file in the folder records; CheckpointError naming the file when it is unusable."""
        if path.suffix == STATUS_SUFFIX:
            return self.read_status(path)
        problem = inference.checkpoint_problem(path)
        if problem is not None:
            raise checkpoints.CheckpointError(problem)
        meta = checkpoints.read(path)
        try:
            cfg = TrainConfig.from_dict(meta["config"])
        except (TypeError, ValueError):
            cfg = TrainConfig(arch=meta["arch"])
        metrics = meta["metrics"]
        status = RunStatus(metrics["status"]) if metrics.get("status") in SAVED else RunStatus.FINISHED
        mtime = path.stat().st_mtime
        return Run(
            id=f"ckpt-{path.stem}",
            name=path.stem,
            config=cfg,
            path=path,
            status=status,
            message=f"saved in the runs folder as {path.name}",
            created=mtime,
            ended=mtime,
            checkpoint=path,
            test_accuracy=metrics.get("test_accuracy"),
        )

    def read_status(self, path: Path) -> Run | None:
        """The run a status file records (None for a JSON file that is not one); CheckpointError when unusable."""
        try:
            if path.stat().st_size > 1 << 20:  # ours are about 1 KB
                raise ValueError("too large for a status file")
            rec = json.loads(path.read_text())
            if not isinstance(rec, dict) or rec.get("format") != STATUS_FORMAT:
                return None
            cfg = TrainConfig.from_dict(rec.get("config") or {})
            name = str(rec.get("name") or path.stem)
            if checkpoints.safe_name(name) != name:
                name = path.stem
            created = float(rec.get("created") or path.stat().st_mtime)
            if not math.isfinite(created):
                raise ValueError(f"created is {created}")
            kind = rec.get("kind") if rec.get("kind") in (TRAIN, EVALUATE) else TRAIN
            uploaded = rec.get("uploaded") if isinstance(rec.get("uploaded"), int) else 0
            tag = rec.get("owner") if isinstance(rec.get("owner"), str) and rec["owner"].isalnum() else ""
            key = rec.get("owner_key") if isinstance(rec.get("owner_key"), str) else ""
            key = key if _KEY.fullmatch(key) else ""  # a file without one (written before owners): no visitor's
            worker = _worker(rec)
        except (OSError, ValueError, TypeError, RecursionError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            raise checkpoints.CheckpointError(f"{path.name}: not a readable status file ({str(exc)[:200]})") from None
        status = RunStatus(rec["status"]) if rec.get("status") in tuple(RunStatus) else RunStatus.FAILED
        run = Run(
            id=str(rec.get("id") or uuid.uuid4().hex[:12])[:64],
            name=name,
            config=cfg,
            path=self.checkpoint_path(name),
            status=status,
            message=str(rec.get("message") or ""),
            created=created,
            started=rec.get("started"),
            ended=rec.get("ended"),
            kind=kind,
            uploaded=uploaded,
            owner_tag=tag[:16],
            owner_key=key,
            worker=worker and worker[:100],
        )
        if run.status in ACTIVE:
            if self._owner_alive(rec):
                run.foreign = True  # another live process runs it; shown, not stoppable from here
            else:
                run.message = (
                    f"the server stopped while this run was {rec.get('status')}; it did not finish "
                    "and nothing was saved (start it again)"
                )
                if kind == EVALUATE:
                    run.message = "the server stopped while its accuracy was being measured; it stays claimed"
                run.status = RunStatus.INTERRUPTED
                run.ended = run.ended or path.stat().st_mtime
        if rec.get("checkpoint") and run.path.is_file():
            problem = inference.checkpoint_problem(run.path)
            if problem is not None:
                raise checkpoints.CheckpointError(problem)
            run.checkpoint = run.path
            acc = checkpoints.read(run.path)["metrics"].get("test_accuracy")  # the file's (checked), not the record's
            run.test_accuracy = float(acc) if isinstance(acc, (int, float)) else None
        return run

    def _owner_alive(self, rec: dict) -> bool:
        worker = _worker(rec)
        if worker is not None:  # a run elsewhere (Ray): what runs it knows whether it is queued or running
            alive = self.worker_alive(worker) if self.worker_alive is not None else None
            if alive is not None:
                return alive
            if rec.get("host") != HOST:  # not connected to Ray, and its writer's pid is another
                return True  # machine's: it cannot tell, so the run is shown as its record says (not stoppable)
        pid = rec.get("pid")
        if not isinstance(pid, int):
            return False
        if pid == os.getpid():  # this process: alive only if the runner that wrote it still is
            return rec.get("runner") in _LIVE
        return _alive(pid, rec.get("proc_start"))


def _worker(rec: dict) -> str | None:
    """The worker a status file names: "worker", or "ray_actor" in the files written before it was renamed
    (a runs folder from then still restores, and its Ray runs are still followed)."""
    worker = rec.get("worker", rec.get("ray_actor"))
    return worker if isinstance(worker, str) else None


_LIVE: set[str] = set()  # tokens of the runners (runs folders) alive in this process
