"""One job: a training run, or the measuring of an uploaded checkpoint, as the pages and the runner see it.

A `Job` is written by whatever runs it (a worker thread here, or a copy that follows a run elsewhere) through
its public methods: `record` (training.train's callback), `set_status`, `set_progress`, `set_saved`,
`set_accuracy` and, once, `finish`. Each takes the job's lock for a few appends or assignments. A page reads
`snapshot()`, a copy taken under that lock, and never touches the live lists. Stopping is a flag
(`stop`, `stop_requested`) that the loop checks between steps; only the runner sets it, after checking who
asks (`stoppable_by`).

A job can cross a process boundary as plain data: `spec`/`from_spec` rebuild it elsewhere, and `delta`/`apply`
carry what is new back to the copy the app keeps (the Ray backend's wire format, and any other backend's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import checkpoints, owners
from ..config import TrainConfig
from ..events import ACTIVE, Event, EventKind, RunStatus
from ..runs import TRAIN, Run

log = logging.getLogger(__name__)


class Job:
    """One run. Read it through `snapshot()`, `status` and `message`; stop it with `stop()`."""

    def __init__(
        self,
        job_id: str,
        name: str,
        config: TrainConfig,
        path: Path,
        data_root: str | None = None,
        kind: str = TRAIN,
        owner: str | None = None,
    ):
        self.id = job_id
        self.name = name
        self.kind = kind
        self.owner = owner  # the visitor's token that may stop it (None: whoever holds the runner)
        self.owner_key = owners.key(owner)  # kept in its status file: who may change it after a restart too
        self.owner_tag = owners.tag(owner)  # who started it, as shown to everyone (never the token itself)
        self.worker: str | None = None  # the name of what runs it elsewhere (a Ray actor), if anything does
        self.uploaded = 0  # bytes, for an uploaded checkpoint (counted against settings.uploads_max_bytes())
        self.config = config
        self.path = path  # where the checkpoint goes (inside the runs directory)
        self.data_root = data_root
        self.created = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._status, self._message = RunStatus.QUEUED, ""
        self._steps: list[tuple] = []  # (step, epoch, loss, seconds): appended, never changed
        self._step_acc: list[tuple] = []  # (step, epoch, the epoch's running training accuracy)
        self._epochs: list[dict] = []
        self._progress: dict = {}  # the latest start/step/epoch figures
        self._times = {"started": None, "ended": None}
        self._saved: str | None = None
        self._test_accuracy: float | None = None
        self._history_from: Path | None = None  # a restored run reads its curves lazily from here
        self.foreign = False  # restored from a status file of another live process

    @classmethod
    def restored(cls, run: Run) -> Job:
        """The job for a run found in the runs folder (before a restart, or in another process)."""
        job = cls(run.id, run.name, run.config, run.path, kind=run.kind)
        job.created, job.uploaded, job.foreign = run.created, run.uploaded, run.foreign
        job.owner_tag, job.owner_key, job.worker = run.owner_tag, run.owner_key, run.worker
        job.set_status(run.status, run.message, started=run.started, ended=run.ended)
        if run.status not in ACTIVE:
            job._done.set()
        if run.checkpoint is not None:
            job.set_saved(run.checkpoint, read_curves=True)
        job._test_accuracy = run.test_accuracy
        return job

    # -- the worker side ---------------------------------------------------------------------
    def record(self, e: Event) -> None:
        """training.train's callback (worker thread): a few appends under the lock."""
        kind = e["type"]
        with self._lock:
            if kind == EventKind.STEP:
                self._steps.append((e["step"], e["epoch"], e["loss"], round(e["elapsed"], 3)))  # as in history
                if "train_accuracy" in e:
                    self._step_acc.append((e["step"], e["epoch"], e["train_accuracy"]))
                self._progress.update(
                    step=e["step"],
                    total_steps=e["total_steps"],
                    epoch=e["epoch"],
                    elapsed=e["elapsed"],
                    images_per_sec=e["images_per_sec"],
                    lr=e["lr"],
                )
            elif kind == EventKind.EPOCH:
                self._epochs.append({k: v for k, v in e.items() if k not in ("type", "step", "total_steps")})
                self._progress.update(
                    step=e["step"],
                    total_steps=e["total_steps"],
                    epoch=e["epoch"],
                    elapsed=e["seconds"],
                    images_per_sec=e["images_per_sec"],
                )
                self._test_accuracy = e["test_accuracy"]
            elif kind == EventKind.START:
                self._progress.update(
                    {k: e[k] for k in ("total_steps", "steps_per_epoch", "epochs", "device", "train_images")},
                    step=0,
                    epoch=0.0,
                    elapsed=0.0,
                )

    def set_status(self, status: RunStatus, message: str = "", **times) -> None:
        """Its status and message; `times`: started= or ended= (seconds since the epoch)."""
        with self._lock:
            self._status, self._message = status, message
            self._times.update(times)

    def set_progress(self, **figures) -> None:
        """The latest progress figures (step, total_steps, epoch, elapsed, images_per_sec...)."""
        with self._lock:
            self._progress.update(figures)

    def set_saved(self, path: str | Path, test_accuracy: float | None = None, read_curves: bool = False) -> None:
        """Its checkpoint (and that checkpoint's test accuracy). read_curves: its curves are the checkpoint's,
        read from it when first asked for (a run restored, or uploaded), not the ones recorded here."""
        with self._lock:
            self._saved = str(path)
            self._test_accuracy = test_accuracy
            if read_curves:
                self._history_from = Path(path)

    def set_accuracy(self, test_accuracy: float | None) -> None:
        """Its test accuracy as measured (an uploaded checkpoint's)."""
        with self._lock:
            self._test_accuracy = test_accuracy

    def finish(self, status: RunStatus, message: str, write: Callable[[Job], None] | None = None) -> None:
        """Its end: recorded, written by `write` (its status file), and only then announced to waiters."""
        self.set_status(status, message, ended=time.time())
        if write is not None:
            write(self)
        self._done.set()

    def rename(self, name: str, path: Path) -> None:
        """Its new name and checkpoint path, after the runner moved its files."""
        with self._lock:
            self.name, self.path = name, path
            if self._saved:
                self._saved = str(path)
            if self._history_from is not None:
                self._history_from = path

    # -- across a process boundary (a worker elsewhere runs the job; the app keeps a copy) ------------
    def spec(self, device: str, **extra) -> dict:
        """The job as plain data for a worker elsewhere, which rebuilds it with `from_spec`; its config's
        device is `device` (resolved here, so that the worker never picks another); `extra` joins it."""
        return {
            "id": self.id,
            "name": self.name,
            "config": {**self.config.to_dict(), "device": device},
            "path": str(self.path),
            "data_root": self.data_root,
            "created": self.created,
            "owner_tag": self.owner_tag,
            "owner_key": self.owner_key,
            "worker": self.worker,
            **extra,
        }

    @classmethod
    def from_spec(cls, spec: dict) -> Job:
        job = cls(
            spec["id"], spec["name"], TrainConfig.from_dict(spec["config"]), Path(spec["path"]), spec["data_root"]
        )
        job.created, job.owner_tag, job.worker = spec["created"], spec["owner_tag"], spec["worker"]
        job.owner_key = spec.get("owner_key", "")
        return job

    def delta(self, cursor: tuple[int, int, int] = (0, 0, 0)) -> dict:
        """What changed since `cursor` (how many steps, step accuracies and epochs the reader has), as plain
        data: the new rows, and the latest progress, status and results."""
        n_steps, n_acc, n_epochs = cursor
        with self._lock:
            return {
                "steps": self._steps[n_steps:],
                "step_accuracy": self._step_acc[n_acc:],
                "epochs": [dict(r) for r in self._epochs[n_epochs:]],
                "progress": dict(self._progress),
                "status": str(self._status),
                "message": self._message,
                "times": dict(self._times),
                "checkpoint": self._saved,
                "test_accuracy": self._test_accuracy,
            }

    def apply(self, d: dict) -> tuple[int, int, int]:
        """Take in another copy's `delta`; returns the cursor for the next one. A job that has ended here
        takes nothing more (a stop, or its end, is never undone)."""
        with self._lock:
            if self._done.is_set():
                return len(self._steps), len(self._step_acc), len(self._epochs)
            self._steps.extend(tuple(s) for s in d["steps"])
            self._step_acc.extend(tuple(s) for s in d["step_accuracy"])
            self._epochs.extend(d["epochs"])
            self._progress.update(d["progress"])
            self._saved, self._test_accuracy = d["checkpoint"], d["test_accuracy"]
            self._times.update(d["times"])
            self._status, self._message = RunStatus(d["status"]), d["message"]
            if self._status not in ACTIVE:  # it has ended there, with its results in this delta
                self._done.set()
            return len(self._steps), len(self._step_acc), len(self._epochs)

    def end_as_recorded(self, run: Run) -> None:
        """End this copy as its status file says the run ended elsewhere: the status, the message and the
        checkpoint, whose saved curves replace the ones this copy has when they hold at least as many rows
        (it may have missed the last ones; an unreadable checkpoint never takes away the rows it has)."""
        with self._lock:
            self._saved = str(run.checkpoint) if run.checkpoint else None
            self._test_accuracy = run.test_accuracy
            if run.checkpoint:
                self._history_from = run.checkpoint
        self.set_status(run.status, run.message, ended=run.ended)
        self._done.set()

    # -- the reader side ---------------------------------------------------------------------
    @property
    def status(self) -> RunStatus:
        with self._lock:
            return self._status

    @property
    def message(self) -> str:
        with self._lock:
            return self._message

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def stop(self) -> None:
        """Ask the run to stop: the loop checks the flag between steps and evaluation batches.
        Only JobRunner.stop calls this (after checking who asks)."""
        log.info("stop requested for job %s (%s)", self.name, self.id)
        self._stop.set()

    def stoppable_by(self, owner) -> bool:
        """Whether a stop from `owner` (a visitor's token, or owners.ANYONE) may stop this job: ANYONE, the
        visitor that started it (its key: the same browser after a restart too), or anyone for a job the
        runner's holder started (no owner, no key)."""
        if owner is owners.ANYONE or owners.may_change(owner, self.owner_key):
            return True
        return self.owner is None and not self.owner_key

    def changeable_by(self, by) -> bool:
        """Whether `by` (a visitor's token, or owners.ANYONE) may rename or delete this run: its owner, or
        ANYONE (the operator, the command line); a run of no visitor (the command line's, a bare
        checkpoint) only ANYONE."""
        return owners.may_change(by, self.owner_key)

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (True) or the timeout passed (False)."""
        return self._done.wait(timeout)

    def summary(self) -> dict:
        """The job's row in a list: name, status, accuracy; no curves (cheap, never reads a file)."""
        with self._lock:
            return {
                "id": self.id,
                "name": self.name,
                "kind": self.kind,
                "uploaded": bool(self.uploaded),
                "owner": self.owner_tag,
                "arch": self.config.arch,
                "dataset": self.config.dataset,
                "status": self._status,
                "message": self._message,
                "test_accuracy": self._test_accuracy,
                "checkpoint": self._saved,
                "created": self.created,
                **self._times,
                "step": self._progress.get("step"),
                "total_steps": self._progress.get("total_steps"),
            }

    def snapshot(self) -> dict:
        """A consistent copy of the job's state and metrics, safe to keep and read anywhere."""
        self._load_history()
        with self._lock:
            p = dict(self._progress)
            snap = {
                "id": self.id,
                "name": self.name,
                "kind": self.kind,
                "uploaded": bool(self.uploaded),
                "status": self._status,
                "message": self._message,
                "config": self.config.to_dict(),
                "created": self.created,
                **self._times,
                "steps": list(self._steps),
                "epochs": [dict(r) for r in self._epochs],
                "step_accuracy": list(self._step_acc),
                "checkpoint": self._saved,
                "test_accuracy": self._test_accuracy,
                "stop_requested": self._stop.is_set(),
                "foreign": self.foreign,
            }
        total, step, el = p.get("total_steps") or 0, p.get("step") or 0, p.get("elapsed") or 0.0
        snap.update(
            total_steps=total,
            step=step,
            epoch=p.get("epoch", 0.0),
            elapsed=el,
            device=p.get("device"),
            images_per_sec=p.get("images_per_sec"),
            lr=p.get("lr"),
            progress=min(step / total, 1.0) if total else (1.0 if snap["status"] == RunStatus.FINISHED else 0.0),
            eta_seconds=(total - step) * el / step if step and snap["status"] == RunStatus.RUNNING else None,
        )
        return snap

    def _load_history(self) -> None:
        """A restored (or ended elsewhere) run's curves, read once from its checkpoint when first asked for;
        they replace the rows held only when they are the longer record."""
        with self._lock:
            path, self._history_from = self._history_from, None
        if path is None:
            return
        try:
            hist = checkpoints.read(path)["history"]
        except checkpoints.CheckpointError as exc:
            log.warning("%s", exc)
            return
        steps = [tuple(s) for s in hist.get("steps", []) if isinstance(s, (list, tuple)) and len(s) == 4]
        epochs = [dict(r) for r in hist.get("epochs", []) if isinstance(r, dict)]
        step_acc = [tuple(s) for s in hist.get("step_accuracy", []) if isinstance(s, (list, tuple)) and len(s) == 3]
        with self._lock:
            if len(steps) >= len(self._steps) and len(epochs) >= len(self._epochs):
                self._steps, self._epochs, self._step_acc = steps, epochs, step_acc
                if epochs:
                    last = epochs[-1]
                    self._progress.update(
                        epoch=last.get("epoch", 0.0),
                        elapsed=last.get("seconds", 0.0),
                        images_per_sec=last.get("images_per_sec"),
                    )
                if steps:
                    self._progress.update(step=steps[-1][0], total_steps=steps[-1][0])
