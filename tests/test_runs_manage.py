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

from mnist_core import cache, checkpoints, inference, jobs, measure, owners, training
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


def finished(runner: JobRunner, name: str, data_root, owner: str | None = None) -> jobs.Job:
    job = runner.submit(tiny(), name, data_root=data_root, owner=owner)
    assert job.wait(120) and job.status == RunStatus.FINISHED, job.message
    return job


def test_rename_moves_the_checkpoint_and_its_status_file_together(runner, lab, small_data_dir):
    job = finished(runner, "first", small_data_dir)
    before = checkpoints.read(lab / "first.pt")
    new = runner.rename_run("first", "my best run", by=owners.ANYONE)
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
    assert (
        runner.rename_run("b", "a", by=owners.ANYONE).name == "a-2.pt"
    )  # taken: the runner's suffix, never an overwrite
    assert runner.rename_run("a-2", "../../x y", by=owners.ANYONE).name == "x_y.pt"  # made safe, inside the runs folder
    assert runner.rename_run("x_y", "softmax", by=owners.ANYONE).name == "softmax-2.pt"  # never a shipped model's name
    assert runner.rename_run("softmax-2", "con", by=owners.ANYONE).name == "con-2.pt"  # nor one Windows refuses
    for bad, why in (("", "a new name is needed"), ("   ", "a new name is needed"), ("a", "its name already")):
        with pytest.raises(ValueError, match=why):
            runner.rename_run("a", bad, by=owners.ANYONE)
    assert sorted(p.name for p in lab.iterdir() if not p.name.startswith(".")) == [
        "a.json",
        "a.pt",
        "con-2.json",
        "con-2.pt",
    ]


def test_a_bare_checkpoint_is_renamed_and_deleted_too(runner, lab, small_data_dir):
    finished(runner, "made", small_data_dir)
    shutil.copy2(lab / "made.pt", lab / "copied.pt")  # no status file: a checkpoint from the command line
    new = runner.rename_run("copied", "kept", by=owners.ANYONE)
    assert new.name == "kept.pt" and not (lab / "copied.pt").exists() and not (lab / "kept.json").exists()
    runner.refresh()
    assert sorted(j.name for j in runner.jobs()) == ["kept", "made"]  # no ghost of the old name
    assert runner.delete_run("kept", by=owners.ANYONE) == [lab / "kept.pt"]
    runner.refresh()
    assert [j.name for j in runner.jobs()] == ["made"]


def test_delete_removes_both_files_and_the_run_stays_gone(runner, lab, small_data_dir):
    finished(runner, "gone", small_data_dir)
    finished(runner, "stays", small_data_dir)
    assert sorted(runner.delete_run("gone", by=owners.ANYONE)) == [lab / "gone.json", lab / "gone.pt"]
    assert [j.name for j in runner.jobs()] == ["stays"]
    again = JobRunner(lab)
    try:
        assert [j.name for j in again.jobs()] == ["stays"]
    finally:
        again.close()
    with pytest.raises(ValueError, match="no run named 'gone'"):
        runner.delete_run("gone", by=owners.ANYONE)


def test_shipped_models_are_never_renamed_or_deleted(runner, monkeypatch, small_data_dir):
    for name in ("softmax", "cnn"):
        with pytest.raises(ValueError, match="shipped model"):
            runner.rename_run(name, "mine", by=owners.ANYONE)
        with pytest.raises(ValueError, match="shipped model"):
            runner.delete_run(name, by=owners.ANYONE)
    finished(runner, "x", small_data_dir)  # a runs folder that is the shipped folder: nothing in it is the user's
    monkeypatch.setenv("MNIST_MODELS_DIR", str(runner.runs_dir))
    with pytest.raises(ValueError, match="not one of your runs"):
        runner.delete_run("x", by=owners.ANYONE)
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
                runner.rename_run(name, "other", by=owners.ANYONE)
            with pytest.raises(ValueError, match=f"is {status}: stop it"):
                runner.delete_run(name, by=owners.ANYONE)
        assert (lab / "running.json").is_file() and (lab / "queued.json").is_file()
    finally:
        gate.set()
    assert running.wait(60) and queued.wait(60)
    assert runner.rename_run("running", "ran", by=owners.ANYONE).name == "ran.pt"  # once it has ended it may be


# --- whose run it is -----------------------------------------------------------------------------------


def test_only_a_runs_visitor_or_the_operator_renames_or_deletes_it_even_after_a_restart(lab, small_data_dir):
    """Visitor B is never offered, nor allowed, visitor A's runs; the command line's runs (no visitor) only
    the operator (owners.ANYONE); who made a run survives a restart (its key is in its status file)."""
    runner = JobRunner(lab)
    a_run = finished(runner, "a_run", small_data_dir, owner="visitor-a")
    cli_run = finished(runner, "cli_run", small_data_dir)
    a_upload = finished(runner, "a_other", small_data_dir, owner="visitor-a")
    runner.close()
    runner = JobRunner(lab)  # a restart: the tokens are gone, the keys are in the status files
    try:
        restored = {j.name: j for j in runner.jobs()}
        assert restored["a_run"].id == a_run.id and restored["a_run"].owner_key == owners.key("visitor-a")
        assert restored["cli_run"].owner_key == "" and cli_run.owner_key == "" and a_upload.owner_key
        for name, job in restored.items():
            assert not runner.may_change(job, "visitor-b") and runner.may_change(job, owners.ANYONE)
            assert runner.may_change(job, "visitor-a") == (name != "cli_run")
            assert not runner.may_change(job, None) and not runner.may_change(job, "")
        for name in ("a_run", "cli_run"):
            for by in ("visitor-b", None, ""):
                with pytest.raises(ValueError, match="another visitor's run; only they, or the lab's operator"):
                    runner.rename_run(name, "taken over", by=by)
                with pytest.raises(ValueError, match="another visitor's run"):
                    runner.delete_run(name, by=by)
        with pytest.raises(ValueError, match="another visitor's run"):
            runner.delete_run("cli_run", by="visitor-a")
        assert sorted(p.name for p in lab.glob("*.pt")) == ["a_other.pt", "a_run.pt", "cli_run.pt"]
        assert runner.rename_run("a_run", "mine now", by="visitor-a").name == "mine_now.pt"
        assert owners.key("visitor-a") in (lab / "mine_now.json").read_text()  # the key moves with the run
        assert runner.delete_run("mine_now", by="visitor-a") and runner.delete_run("a_other", by=owners.ANYONE)
        assert runner.delete_run("cli_run", by=owners.ANYONE)
        assert not list(lab.glob("*.pt"))
    finally:
        runner.close()


def test_a_restored_run_is_stopped_by_its_visitor_by_key_and_a_holders_run_by_anyone():
    """Stop's rule: the visitor who started a run (its token, or its key once restored from a status file),
    owners.ANYONE, and anyone for a run the runner's holder started; never another visitor."""
    cfg = tiny()
    theirs = jobs.Job("j1", "theirs", cfg, Path("theirs.pt"), owner="visitor-a")
    restored = jobs.Job("j2", "restored", cfg, Path("restored.pt"))
    restored.owner, restored.owner_key = object(), owners.key("visitor-a")  # as the runner restores one (Ray)
    holders = jobs.Job("j3", "holders", cfg, Path("holders.pt"))
    for job in (theirs, restored):
        assert job.stoppable_by("visitor-a") and job.stoppable_by(owners.ANYONE)
        assert not job.stoppable_by("visitor-b") and not job.stoppable_by(None)
    assert holders.stoppable_by("visitor-b") and holders.stoppable_by(None) and holders.stoppable_by(owners.ANYONE)
    assert not holders.changeable_by("visitor-b") and holders.changeable_by(owners.ANYONE)


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

    assert runner.rename_run("old", "new name", by=owners.ANYONE) == lab / "new_name.pt"
    with monkeypatch.context() as m:
        m.setattr(checkpoints, "load", refuse)  # the cache follows the file's content, not its name
        m.setattr(torch, "load", refuse)
        rows, _ = measure.summaries()
    assert sorted(r["name"] for r in rows) == ["new_name", "other"]
    row = next(r for r in rows if r["name"] == "new_name")
    assert row["path"] == str(lab / "new_name.pt") and row["test_accuracy"] == acc
    assert sorted(p.name for p in cache.folder().iterdir()) == entries  # nothing measured, nothing written
    runner.delete_run("new_name", by=owners.ANYONE)
    rows, problems = measure.summaries()
    assert [r["name"] for r in rows] == ["other"] and problems == []
    assert [e.name for e in inference.model_entries()] == ["other"]
