"""mnist_core.runs on its own, without a runner: names, status files and what a scan makes of them."""

from __future__ import annotations

import json
import os
import time

from mnist_core import owners, runs
from mnist_core.config import TrainConfig
from mnist_core.events import RunStatus


def status(folder: runs.RunsFolder, name: str, **fields) -> None:
    record = {
        "format": runs.STATUS_FORMAT,
        "id": name,
        "name": name,
        "status": "running",
        "config": TrainConfig(arch="softmax").to_dict(),
        "created": time.time(),
        **fields,
    }
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


def test_a_worker_named_in_a_record_is_asked_of_the_callable_the_folder_was_given(runs_dir):
    """A run that something else runs (a Ray actor) is alive as long as its worker is, whoever wrote the
    record; when the callable cannot say, the writer's host and process decide. Status files written before
    the key was "worker" name it "ray_actor": they restore the same."""
    asked = []

    def worker_alive(name: str) -> bool | None:
        asked.append(name)
        return {"up": True, "down": False}.get(name)

    folder = runs.RunsFolder(runs_dir, worker_alive=worker_alive)
    status(folder, "up", worker="up", pid=os.getpid(), runner="a runner no longer alive", host=runs.HOST)
    status(folder, "down", worker="down", pid=os.getpid(), runner=folder.token)
    status(folder, "old-up", ray_actor="up", pid=os.getpid(), runner="a runner no longer alive")
    status(folder, "unsure-elsewhere", worker="unsure", host="another-machine")
    status(folder, "unsure-here", worker="unsure", host=runs.HOST, pid=os.getpid(), runner="gone")
    by_name = {r.name: r for r in folder.scan()[0]}
    assert by_name["up"].foreign and by_name["up"].status is RunStatus.RUNNING and by_name["up"].worker == "up"
    assert by_name["old-up"].foreign and by_name["old-up"].worker == "up"
    assert by_name["down"].status is RunStatus.INTERRUPTED  # its writer lives, its worker is gone
    assert by_name["unsure-elsewhere"].foreign  # another machine's pid: shown as its record says
    assert by_name["unsure-here"].status is RunStatus.INTERRUPTED
    assert sorted(asked) == ["down", "unsure", "unsure", "up", "up"]
    blind = runs.RunsFolder(runs_dir)  # no callable: it cannot say, as a process not on Ray
    assert blind.read_status(blind.status_path("unsure-elsewhere")).foreign
    assert blind.read_status(blind.status_path("up")).status is RunStatus.INTERRUPTED
    blind.close()
    folder.close()


class Recorded:
    id, name, kind, uploaded, owner_tag, worker = "r1", "recorded", runs.TRAIN, 0, owners.tag("s"), "w-1"
    owner_key = owners.key("s")

    def snapshot(self) -> dict:
        return {
            "status": "running",
            "message": "training",
            "config": TrainConfig(arch="softmax").to_dict(),
            "created": 1.0,
            "started": 2.0,
            "ended": None,
            "checkpoint": None,
            "test_accuracy": None,
        }


def test_a_status_file_records_the_worker_and_reads_back(runs_dir):
    folder = runs.RunsFolder(runs_dir, worker_alive=lambda name: name == "w-1")
    folder.write_status(Recorded())
    record = json.loads(folder.status_path("recorded").read_text())
    assert record["worker"] == "w-1" and "ray_actor" not in record and record["owner"] == owners.tag("s")
    run = folder.read_status(folder.status_path("recorded"))
    assert (run.worker, run.owner_tag, run.status, run.foreign) == ("w-1", owners.tag("s"), RunStatus.RUNNING, True)
    folder.close()


def test_one_naming_rule_with_or_without_a_folder_object(runs_dir):
    (runs_dir / "taken.pt").write_bytes(b"")
    folder = runs.RunsFolder(runs_dir)
    assert runs.unique_name(runs_dir, "taken", "mlp") == "taken-2" == folder.unique_name("taken", "mlp")
    assert runs.unique_name(runs_dir, "../../My run 😀", "mlp") == "My_run"
    assert runs.unique_name(runs_dir, "x" * 500, "mlp") == "x" * runs.NAME_LEN
    assert owners.tag(None) == "" and len(owners.tag("token")) == 6 and owners.tag("token").isalnum()
    folder.close()


def test_a_status_file_keeps_its_owners_key_and_an_old_one_reads_as_no_visitors(runs_dir):
    """Who may change a run survives a restart: the key is in the status file (never the token); a file
    written before owners were recorded, or with a key that is not one, reads as made by no visitor."""
    folder = runs.RunsFolder(runs_dir, worker_alive=lambda name: True)
    folder.write_status(Recorded())
    path = folder.status_path("recorded")
    record = json.loads(path.read_text())
    assert record["owner_key"] == owners.key("s") and '"s"' not in path.read_text()
    assert folder.read_status(path).owner_key == owners.key("s")
    for old in (None, "not a key", 42, owners.key("s").upper() + "x"):
        if old is None:
            record.pop("owner_key")
        else:
            record["owner_key"] = old
        path.write_text(json.dumps(record))
        assert folder.read_status(path).owner_key == ""
    folder.close()
