"""What a run tells every visitor: no server path in its message or its status file, and a runs folder that
cannot be written (read-only, a full disk) said as such, never blamed on a database.

Runs are tiny (softmax, a few steps on the test-made data set). The tests run as whatever user CI is (often
root, which ignores a folder's permissions), so a read-only folder or a full disk is the error the system
would give, raised where the file is written.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_core import checkpoints, drawings, inference, recipes, training, uploads
from mnist_core.config import TrainConfig
from mnist_core.events import RunStatus
from mnist_core.jobs import JobRunner


def tiny(**kw) -> TrainConfig:
    return TrainConfig(**{"arch": "softmax", "epochs": 1, "batch_size": 100, "max_steps": 3, "log_every": 1, **kw})


@pytest.fixture
def runner(runs_dir):
    r = JobRunner(runs_dir, download=False)
    yield r
    r.close()


def told(runs_dir: Path, job) -> list[str]:
    """What visitors read of a run: its message here and in its status file."""
    return [job.message, json.loads((runs_dir / f"{job.name}.json").read_text())["message"]]


def assert_no_paths(text: str, *paths: Path) -> None:
    for p in paths:
        for form in {str(p), str(p.resolve())}:
            assert form not in text, (form, text)
    assert "/tmp" not in text and "/root" not in text and "/home" not in text, text


def test_a_finished_run_names_its_model_not_its_path(runner, runs_dir, small_data_dir):
    job = runner.submit(tiny(), name="mine", data_root=small_data_dir)
    assert job.wait(60) and job.status == RunStatus.FINISHED, job.message
    for said in told(runs_dir, job):
        assert "saved in the runs folder as mine.pt" in said
        assert_no_paths(said, runs_dir, small_data_dir)
    runner.close()
    again = JobRunner(runs_dir)  # a bare checkpoint (the command line's) says where it is in words too
    try:
        shutil.copy2(runs_dir / "mine.pt", runs_dir / "cli.pt")
        again.refresh()
        bare = next(j for j in again.jobs() if j.name == "cli")
        assert bare.message == "saved in the runs folder as cli.pt"
    finally:
        again.close()


def test_a_failed_finetune_from_a_missing_checkpoint_names_no_path(runner, runs_dir, small_data_dir):
    store = drawings.DrawingStore(runs_dir)
    rng = np.random.default_rng(0)
    for d in range(10):
        for _ in range(3):
            store.add("mine", d, (rng.random((28, 28)) > 0.7).astype(np.float32), by=None)
    cfg = recipes.finetune(str(runs_dir / "blocker.pt"), "softmax", "mine", max_steps=2)
    job = runner.submit(cfg, name="ft", data_root=small_data_dir)
    assert job.wait(60) and job.status == RunStatus.FAILED
    for said in told(runs_dir, job):
        assert "no model named 'blocker.pt'" in said
        assert_no_paths(said, runs_dir, small_data_dir)


def test_a_failed_run_names_the_data_it_lacks_without_the_servers_paths(runner, runs_dir, small_data_dir, tmp_path):
    nowhere = tmp_path / "nowhere"
    job = runner.submit(tiny(), name="nodata", data_root=nowhere)
    bad = tmp_path / "bad"
    shutil.copytree(small_data_dir / "MNIST", bad / "MNIST")
    f = bad / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:5000])
    corrupt = runner.submit(tiny(), name="corrupt", data_root=bad)
    from test_data import labels_of_200

    root, relative = labels_of_200(small_data_dir, tmp_path)
    labels = runner.submit(tiny(), name="labels", data_root=root)
    assert runner.wait_all(60)
    for j, needles in (
        (job, ("MNIST_DATA_DIR", "MNIST/raw/", "train-images-idx3-ubyte")),
        (corrupt, ("MNIST/raw/train-images-idx3-ubyte", "corrupt")),
        (labels, (relative, "outside 0-9")),
    ):
        assert j.status == RunStatus.FAILED
        for said in told(runs_dir, j):
            assert all(n in said for n in needles), (needles, said)
            assert_no_paths(said, runs_dir, tmp_path, small_data_dir)


def test_a_failed_measurement_of_an_upload_names_no_path(runner, runs_dir, small_data_dir, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))  # the upload is measured on this test set
    good = training.train(tiny(), data_root=small_data_dir).save(runs_dir.parent / "good.pt")

    def unreadable(model, meta, name, path, **kw):
        raise ValueError(f"cannot read {path}")

    monkeypatch.setattr(inference, "Predictor", unreadable)
    path = uploads.accept_upload("up.pt", good.read_bytes(), runner=runner, owner="visitor")
    job = next(j for j in runner.jobs() if j.path == path)
    assert job.wait(60) and job.status == RunStatus.FAILED
    for said in told(runs_dir, job):
        assert "could not measure it (ValueError: cannot read up.pt)" in said
        assert_no_paths(said, runs_dir)


@pytest.mark.parametrize(
    "fault, said",
    [
        (OSError(errno.EROFS, "Read-only file system"), "the runs folder is read-only"),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed"), "the disk is full"),
    ],
)
def test_a_run_that_cannot_be_saved_says_what_is_wrong_with_the_runs_folder(
    runner, runs_dir, small_data_dir, monkeypatch, fault, said
):
    real_statvfs = os.statvfs

    def statvfs(path):  # torch says only "file write failed": the folder is looked at, and it is full
        st = real_statvfs(path)
        return os.statvfs_result((*st[:4], 0, *st[5:]))  # f_bavail = 0

    def refuse(*args, **kwargs):
        raise fault

    monkeypatch.setattr(checkpoints, "save", refuse)
    if isinstance(fault, RuntimeError):
        monkeypatch.setattr(os, "statvfs", statvfs)
    job = runner.submit(tiny(), name="unsaved", data_root=small_data_dir)
    assert job.wait(60) and job.status == RunStatus.FAILED
    assert said in job.message and "the model could not be saved" in job.message, job.message
    assert "database" not in job.message and "move it away" not in job.message
    assert_no_paths(job.message, runs_dir)


@pytest.mark.parametrize(
    "fault, said",
    [(errno.EROFS, "the runs folder is read-only"), (errno.ENOSPC, "the disk is full")],
)
def test_an_upload_into_a_runs_folder_that_cannot_be_written_says_so(
    runner, runs_dir, small_data_dir, monkeypatch, fault, said
):
    good = training.train(tiny(), data_root=small_data_dir).save(runs_dir.parent / "good.pt").read_bytes()

    def refuse(self, *args, **kwargs):
        raise OSError(fault, os.strerror(fault), str(self))

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(checkpoints.CheckpointError, match=f"^up.pt: not saved: {said}") as err:
        uploads.accept_upload("up.pt", good, runner=runner, owner="visitor")
    assert_no_paths(str(err.value), runs_dir)


def test_without_paths_names_the_folders_and_keeps_only_a_files_last_part(tmp_path):
    from mnist_core import public

    runs = tmp_path / "runs"
    text = f"no model named '{runs}/x.pt' in {runs}; see /etc/ssl/certs and C:\\Users\\me\\y.pt (http://x.org/a)"
    assert public.without_paths(text, {runs: "the runs folder"}) == (
        "no model named 'x.pt' in the runs folder; see certs and y.pt (http://x.org/a)"
    )
