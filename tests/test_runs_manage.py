"""Renaming and deleting a user's run: JobRunner.rename_run / delete_run, and the Compare cache after them.

Runs are tiny (softmax, a few hundred test-made images); a running job is held by a gate, never by
timing, so nothing here depends on the machine's speed.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from compare_helpers import use_models

from mnist_core import cache, checkpoints, inference, jobs, measure, training
from mnist_core.config import TrainConfig
from mnist_core.events import RunStatus
from mnist_core.jobs import JobRunner


def tiny() -> TrainConfig:
    return TrainConfig(arch="softmax", epochs=1, batch_size=100, train_limit=300, device="cpu", log_every=1)


@pytest.fixture
def lab(tmp_path, monkeypatch, small_data_dir) -> Path:
    """No shipped models but the real registry names refused, an empty runs folder, the small data set."""
    use_models({}, tmp_path, monkeypatch, small_data_dir)
    return tmp_path / "runs"


@pytest.fixture
def runner(lab):
    r = JobRunner(lab)
    yield r
    r.close()


def finished(runner: JobRunner, name: str, data_root) -> jobs.Job:
    job = runner.submit(tiny(), name, data_root=data_root)
    assert job.wait(120) and job.status == RunStatus.FINISHED, job.message
    return job


def test_rename_moves_the_checkpoint_and_its_status_file_together(runner, lab, small_data_dir):
    job = finished(runner, "first", small_data_dir)
    before = checkpoints.read(lab / "first.pt")
    new = runner.rename_run("first", "my best run")
    assert new == lab / "my_best_run.pt" and new.is_file()
    assert not (lab / "first.pt").exists() and not (lab / "first.json").exists()
    status = json.loads((lab / "my_best_run.json").read_text())
    assert status["name"] == "my_best_run" and status["checkpoint"] == "my_best_run.pt"
    assert status["status"] == RunStatus.FINISHED and status["id"] == job.id
    assert checkpoints.read(new)["state_dict"].keys() == before["state_dict"].keys()  # the same weights, moved
    assert job.name == "my_best_run" and job.snapshot()["checkpoint"] == str(new)
    assert [j.name for j in runner.jobs()] == ["my_best_run"]
    again = JobRunner(lab)  # after a restart: only the new name, finished, with its curves
    try:
        (restored,) = again.jobs()
        assert restored.name == "my_best_run" and restored.status == RunStatus.FINISHED
        assert restored.snapshot()["epochs"] and restored.snapshot()["test_accuracy"] == job.snapshot()["test_accuracy"]
    finally:
        again.close()


def test_rename_follows_the_unique_name_rules(runner, lab, small_data_dir):
    finished(runner, "a", small_data_dir)
    finished(runner, "b", small_data_dir)
    assert runner.rename_run("b", "a").name == "a-2.pt"  # taken: the runner's suffix, never an overwrite
    assert runner.rename_run("a-2", "../../x y").name == "x_y.pt"  # made safe, inside the runs folder
    assert runner.rename_run("x_y", "softmax").name == "softmax-2.pt"  # never a shipped model's name
    assert runner.rename_run("softmax-2", "con").name == "con-2.pt"  # nor one Windows refuses
    for bad, why in (("", "a new name is needed"), ("   ", "a new name is needed"), ("a", "its name already")):
        with pytest.raises(ValueError, match=why):
            runner.rename_run("a", bad)
    assert sorted(p.name for p in lab.iterdir() if not p.name.startswith(".")) == [
        "a.json",
        "a.pt",
        "con-2.json",
        "con-2.pt",
    ]


def test_a_bare_checkpoint_is_renamed_and_deleted_too(runner, lab, small_data_dir):
    finished(runner, "made", small_data_dir)
    shutil.copy2(lab / "made.pt", lab / "copied.pt")  # no status file: a checkpoint from the command line
    new = runner.rename_run("copied", "kept")
    assert new.name == "kept.pt" and not (lab / "copied.pt").exists() and not (lab / "kept.json").exists()
    runner.refresh()
    assert sorted(j.name for j in runner.jobs()) == ["kept", "made"]  # no ghost of the old name
    assert runner.delete_run("kept") == [lab / "kept.pt"]
    runner.refresh()
    assert [j.name for j in runner.jobs()] == ["made"]


def test_delete_removes_both_files_and_the_run_stays_gone(runner, lab, small_data_dir):
    finished(runner, "gone", small_data_dir)
    finished(runner, "stays", small_data_dir)
    assert sorted(runner.delete_run("gone")) == [lab / "gone.json", lab / "gone.pt"]
    assert [j.name for j in runner.jobs()] == ["stays"]
    again = JobRunner(lab)
    try:
        assert [j.name for j in again.jobs()] == ["stays"]
    finally:
        again.close()
    with pytest.raises(ValueError, match="no run named 'gone'"):
        runner.delete_run("gone")


def test_shipped_models_are_never_renamed_or_deleted(runner, monkeypatch, small_data_dir):
    for name in ("softmax", "cnn"):
        with pytest.raises(ValueError, match="shipped model"):
            runner.rename_run(name, "mine")
        with pytest.raises(ValueError, match="shipped model"):
            runner.delete_run(name)
    finished(runner, "x", small_data_dir)  # a runs folder that is the shipped folder: nothing in it is the user's
    monkeypatch.setenv("MNIST_MODELS_DIR", str(runner.runs_dir))
    with pytest.raises(ValueError, match="not one of your runs"):
        runner.delete_run("x")
    assert (runner.runs_dir / "x.pt").is_file()


def test_a_queued_or_running_job_is_never_renamed_or_deleted(runner, lab, small_data_dir, monkeypatch):
    gate, started = threading.Event(), threading.Event()
    real_train = training.train

    def held(config, data_root=None, on_event=None, should_stop=None, **kw):
        def event(e):
            if e["type"] == "step" and not gate.is_set():
                started.set()
                gate.wait(60)  # running until the test opens the gate
            if on_event:
                on_event(e)

        return real_train(config, data_root=data_root, on_event=event, should_stop=should_stop, **kw)

    monkeypatch.setattr(training, "train", held)
    running = runner.submit(tiny(), "running", data_root=small_data_dir)
    queued = runner.submit(tiny(), "queued", data_root=small_data_dir)  # same device: waits its turn
    try:
        assert started.wait(60) and running.status == RunStatus.RUNNING and queued.status == RunStatus.QUEUED
        for name, status in (("running", "running"), ("queued", "queued")):
            with pytest.raises(ValueError, match=f"is {status}: stop it"):
                runner.rename_run(name, "other")
            with pytest.raises(ValueError, match=f"is {status}: stop it"):
                runner.delete_run(name)
        assert (lab / "running.json").is_file() and (lab / "queued.json").is_file()
    finally:
        gate.set()
    assert running.wait(60) and queued.wait(60)
    assert runner.rename_run("running", "ran").name == "ran.pt"  # once it has ended it may be


# --- the Compare measurements after a rename or a delete ----------------------------------------


def test_compare_shows_no_stale_row_after_rename_or_delete(runner, lab, small_data_dir, monkeypatch):
    finished(runner, "old", small_data_dir)
    finished(runner, "other", small_data_dir)
    rows, _ = measure.summaries()
    assert sorted(r["name"] for r in rows) == ["old", "other"]
    acc = next(r for r in rows if r["name"] == "old")["test_accuracy"]
    entries = sorted(p.name for p in cache.folder().iterdir())

    def refuse(*args, **kwargs):
        raise AssertionError("a renamed run was measured again")

    assert runner.rename_run("old", "new name") == lab / "new_name.pt"
    with monkeypatch.context() as m:
        m.setattr(checkpoints, "load", refuse)  # the cache follows the file's content, not its name
        m.setattr(torch, "load", refuse)
        rows, _ = measure.summaries()
    assert sorted(r["name"] for r in rows) == ["new_name", "other"]
    row = next(r for r in rows if r["name"] == "new_name")
    assert row["path"] == str(lab / "new_name.pt") and row["test_accuracy"] == acc
    assert sorted(p.name for p in cache.folder().iterdir()) == entries  # nothing measured, nothing written
    runner.delete_run("new_name")
    rows, problems = measure.summaries()
    assert [r["name"] for r in rows] == ["other"] and problems == []
    assert [e.name for e in inference.model_entries()] == ["other"]
