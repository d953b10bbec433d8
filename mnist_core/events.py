"""What a run says: its status, and the events its training loop sends out. One declared type each.

A status is a `RunStatus`, a str-valued Enum whose values are the strings that status files and
checkpoints have always held ("finished", "stopped", ...): a member equals its string, prints as it
and is written to JSON as it, so old files read the same and `status == "finished"` still holds.

An event is a plain dict whose keys are declared by a TypedDict per kind (`StartEvent`,
`StepEvent`, `EpochEvent`, `EndEvent`; `Event` is any of them). Plain data on purpose: an event
crosses a process boundary (a queue, a pipe, a Ray task) as it is. `to_dict` gives it with the enums
as their strings (pickled or written without this package); `from_dict` checks one that came from
elsewhere and gives the enums back. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypedDict


class _StrEnum(str, Enum):
    """A str-valued Enum that prints and formats as its value (enum.StrEnum, which needs Python 3.11)."""

    __str__ = str.__str__
    __format__ = str.__format__


class RunStatus(_StrEnum):
    """Where a run is. The values are those of status files and checkpoints' metrics: never rename one."""

    QUEUED = "queued"  # waiting for its turn on its device
    RUNNING = "running"
    FINISHED = "finished"  # ran to its end (an uploaded model: measured, or its accuracy only claimed)
    STOPPED = "stopped"  # stopped by request; what was evaluated by then is kept
    DIVERGED = "diverged"  # the loss became non-finite; nothing is saved
    FAILED = "failed"  # an error: a bad setting, missing data, a full disk
    INTERRUPTED = "interrupted"  # the process running it ended while it was queued or running

    @property
    def active(self) -> bool:
        """Queued or running: it may still change."""
        return self in ACTIVE


ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
SAVED = (RunStatus.FINISHED, RunStatus.STOPPED)  # what a saved run's own metrics may say (checkpoints.RUN_STATUSES)


class EventKind(_StrEnum):
    """An event's "type"."""

    START = "start"  # once, before the first step
    STEP = "step"  # every TrainConfig.log_every steps, and the last
    EPOCH = "epoch"  # each evaluation on the test set (an epoch's end, or a stop before the first one)
    END = "end"  # once, as train() returns


class StartEvent(TypedDict):
    type: EventKind
    total_steps: int
    steps_per_epoch: int
    epochs: int
    device: str  # the torch device, e.g. "cpu", "cuda"
    train_images: int  # images in one epoch


class StepEvent(TypedDict):
    type: EventKind
    step: int
    total_steps: int
    epoch: float  # step / steps_per_epoch, rounded to 4 places
    loss: float  # this step's batch loss
    train_accuracy: float  # the epoch's running training accuracy so far
    lr: float
    elapsed: float  # seconds since the start
    images_per_sec: float


class EpochEvent(TypedDict):
    type: EventKind
    epoch: float
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float
    seconds: float  # since the start, rounded to ms (as the history's epochs row)
    images_per_sec: float
    load_1min: float | None  # the machine's 1-minute load average then (None where there is none)
    step: int
    total_steps: int


class EndEvent(TypedDict):
    type: EventKind
    status: RunStatus  # finished, stopped or diverged
    message: str
    test_accuracy: float | None  # the last evaluation's; None when nothing was evaluated
    train_seconds: float


Event = StartEvent | StepEvent | EpochEvent | EndEvent
FIELDS: dict[EventKind, frozenset[str]] = {
    EventKind.START: StartEvent.__required_keys__,
    EventKind.STEP: StepEvent.__required_keys__,
    EventKind.EPOCH: EpochEvent.__required_keys__,
    EventKind.END: EndEvent.__required_keys__,
}


def to_dict(event: Mapping) -> dict:
    """The event as plain data: the enums (its kind, an end's status) as their strings."""
    return {k: v.value if isinstance(v, Enum) else v for k, v in event.items()}


def from_dict(d: Mapping) -> Event:
    """An event received as plain data, checked: a known kind with all of its fields (others are dropped),
    the kind and an end's status as the enums. ValueError for anything else."""
    if not isinstance(d, Mapping):
        raise ValueError(f"an event is a mapping, not {type(d).__name__}")
    try:
        kind = EventKind(d.get("type"))
    except ValueError:
        raise ValueError(f"unknown event type {d.get('type')!r}") from None
    missing = FIELDS[kind] - d.keys()
    if missing:
        raise ValueError(f"a {kind} event without {', '.join(sorted(missing))}")
    event = {k: v for k, v in d.items() if k in FIELDS[kind]}
    event["type"] = kind
    if kind is EventKind.END:
        event["status"] = RunStatus(event["status"])
    return event
