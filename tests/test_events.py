"""mnist_core.events: run statuses read and write as the strings files hold, and a run's events
cross a process boundary as plain data and come back as they were sent."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest

from mnist_core import checkpoints, events
from mnist_core.config import TrainConfig
from mnist_core.events import EventKind, RunStatus
from mnist_core.training import train


def test_statuses_are_the_strings_files_hold():
    assert [s.value for s in RunStatus] == [
        "queued",
        "running",
        "finished",
        "stopped",
        "diverged",
        "failed",
        "interrupted",
    ]
    for s in RunStatus:
        assert s == s.value and str(s) == s.value and f"{s}" == s.value and json.dumps(s) == f'"{s.value}"'
        assert RunStatus(s.value) is s and s.active == (s in (RunStatus.QUEUED, RunStatus.RUNNING))
    assert set(events.SAVED) == set(checkpoints.RUN_STATUSES)


def test_a_runs_events_cross_a_process_boundary_as_plain_data(small_data_dir):
    cfg = TrainConfig(arch="softmax", epochs=1, batch_size=120, log_every=4, device="cpu", train_limit=600)
    sent: list[dict] = []
    result = train(cfg, data_root=small_data_dir, on_event=sent.append)
    assert sent[0]["type"] == EventKind.START and sent[-1]["type"] == EventKind.END
    for e in sent:
        assert set(e) == events.FIELDS[e["type"]], e["type"]  # each kind's keys are its TypedDict's
    # what another process gets: the plain dicts, pickled by a Python that never imports mnist_core
    plain = [events.to_dict(e) for e in sent]
    assert all(type(v) is not RunStatus and type(v) is not EventKind for e in plain for v in e.values())
    code = "import pickle, sys; sys.stdout.buffer.write(pickle.dumps(pickle.loads(sys.stdin.buffer.read())))"
    back = pickle.loads(
        subprocess.run(
            [sys.executable, "-I", "-c", code], input=pickle.dumps(plain), capture_output=True, check=True
        ).stdout
    )
    received = [events.from_dict(d) for d in back]
    assert received == sent and received[-1]["status"] is RunStatus.FINISHED is result.status
    assert json.loads(json.dumps(sent)) == plain


def test_from_dict_refuses_what_is_not_an_event():
    step = {
        "type": "step",
        "step": 1,
        "total_steps": 2,
        "epoch": 0.5,
        "loss": 1.0,
        "train_accuracy": 0.5,
        "lr": 0.1,
        "elapsed": 0.1,
        "images_per_sec": 10.0,
    }
    assert events.from_dict({**step, "extra": 1}) == step  # an unknown key is dropped
    for bad in (
        [1],
        {"type": "nope"},
        {k: v for k, v in step.items() if k != "loss"},
        {"type": "end", "status": "lost", "message": "", "test_accuracy": None, "train_seconds": 0.0},
    ):
        with pytest.raises(ValueError):
            events.from_dict(bad)
