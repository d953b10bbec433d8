"""mnist_core.runs on its own, without a runner: names, status files and what a scan makes of them."""

from __future__ import annotations

import json
import os
import time

from mnist_core import runs
from mnist_core.events import RunStatus
from mnist_core.training import TrainConfig


def status(folder: runs.RunsFolder, name: str, **fields) -> None:
    record = {"format": runs.STATUS_FORMAT, "id": name, "name": name, "status": "running",
              "config": TrainConfig(arch="softmax").to_dict(), "created": time.time(), **fields}
    folder.status_path(name).write_text(json.dumps(record))


def test_a_scan_reads_what_each_writer_left(runs_dir):
    folder, other = runs.RunsFolder(runs_dir), runs.RunsFolder(runs_dir)
    status(folder, "gone", pid=os.getpid(), runner="a runner no longer alive")
    status(folder, "live", pid=os.getpid(), runner=other.token)
    status(folder, "done", status="stopped", message="stopped by request", pid=os.getpid(), runner=other.token)
    status(folder, "odd", status="no such status")
    (runs_dir / "junk.json").write_text("{not json")
    (runs_dir / ".hidden.json").write_text("{}")
    found, unreadable = folder.scan(known=["known"])
    by_name = {r.name: r for r in found}
    assert sorted(by_name) == ["done", "gone", "live", "odd"] and list(unreadable) == ["junk.json"]
    assert by_name["gone"].status is RunStatus.INTERRUPTED and "server stopped" in by_name["gone"].message
    assert by_name["live"].status is RunStatus.RUNNING and by_name["live"].foreign
    assert by_name["done"].status is RunStatus.STOPPED and not by_name["done"].foreign
    assert by_name["odd"].status is RunStatus.FAILED
    assert all(r.checkpoint is None and r.path == folder.checkpoint_path(r.name) for r in found)
    other.close()  # its runs now read as interrupted
    assert folder.read_status(folder.status_path("live")).status is RunStatus.INTERRUPTED
    assert folder.scan(known=by_name)[0] == []
    folder.close()


def test_names_avoid_shipped_models_files_and_the_names_given(runs_dir):
    folder = runs.RunsFolder(runs_dir)
    (runs_dir / "mine.json").write_text("{}")
    assert folder.unique_name("mine", "mlp") == "mine-2"
    assert folder.unique_name("mine", "mlp", taken=["MINE-2"]) == "mine-3"
    assert folder.unique_name("cnn", "cnn") == "cnn-2" and folder.unique_name("con", "mlp") == "con-2"
    assert folder.unique_name("", "mlp").startswith("mlp-")
    folder.close()
