"""The job runner: queue, run, stop, diverge, save, safe names, concurrency and restarts.

Every run is tiny (the test-made small data set, a few steps) so the file stays fast on a
shared two-core machine.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from helpers import wait_until

from mnist_core import checkpoints, inference, jobs, owners, recipes, settings, training
from mnist_core.config import TrainConfig
from mnist_core.events import RunStatus
from mnist_core.jobs import JobRunner
from mnist_core.models import ARCHS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def runner(runs_dir):
    r = JobRunner(runs_dir)
    yield r
    r.close()


def tiny(**kw) -> TrainConfig:
    """A run of a few softmax steps: fractions of a second."""
    return TrainConfig(**{"arch": "softmax", "epochs": 1, "batch_size": 100, "log_every": 1, **kw})


def long_cnn(**kw) -> TrainConfig:
    """Far longer than any test waits: it only ends by being stopped."""
    return TrainConfig(**{"arch": "cnn", "epochs": 500, "batch_size": 64, "log_every": 1, **kw})


def status_file(runs_dir: Path, name: str) -> dict:
    return json.loads((runs_dir / f"{name}.json").read_text())


def test_job_runs_saves_checkpoint_and_status(runner, runs_dir, small_data_dir):
    cfg = tiny(epochs=2)
    job = runner.submit(cfg, name="first run", data_root=small_data_dir)
    assert job.name == "first_run"
    assert job.wait(60), job.snapshot()
    s = job.snapshot()
    assert s["status"] == "finished", s["message"]
    steps_per_epoch = -(-1200 // cfg.batch_size)
    assert s["total_steps"] == len(s["steps"]) == 2 * steps_per_epoch
    assert [p[0] for p in s["steps"]] == list(range(1, 2 * steps_per_epoch + 1))
    assert len(s["epochs"]) == 2 and s["progress"] == 1.0
    path = Path(s["checkpoint"])
    assert path == runs_dir.resolve() / "first_run.pt" and path.is_file()
    model, meta = checkpoints.load(path)
    assert meta["name"] == "first_run"
    assert meta["metrics"]["test_accuracy"] == s["test_accuracy"] == s["epochs"][-1]["test_accuracy"]
    assert meta["history"]["epochs"] == s["epochs"]
    assert status_file(runs_dir, "first_run")["status"] == "finished"
    assert "first_run" in inference.list_models()
    assert "saved in the runs folder as first_run.pt" in s["message"] and str(runs_dir) not in s["message"]


def test_stop_takes_effect_within_a_step_and_keeps_the_evaluated_model(runner, small_data_dir):
    """Counted in steps, not seconds: the loop checks the flag between steps, so at most the step in
    progress (and one that ended between our count and the flag) completes after Stop."""
    job = runner.submit(long_cnn(), name="stopme", data_root=small_data_dir)
    wait_until(lambda: job.snapshot()["epochs"], what="the first evaluated epoch")
    steps_before = len(job.snapshot()["steps"])
    assert runner.stop(job.id)
    assert job.wait(120), "the job did not stop"
    s = job.snapshot()
    assert len(s["steps"]) - steps_before <= 2, f"{len(s['steps']) - steps_before} steps ran after Stop"
    assert s["status"] == "stopped" and "stopped by request" in s["message"]
    assert s["step"] < s["total_steps"]
    meta = checkpoints.read(s["checkpoint"])  # stopped after an evaluation: saved and usable
    assert meta["metrics"]["status"] == "stopped"
    assert not runner.stop(job.id)  # nothing left to stop


def test_stop_during_first_step_saves_nothing(runner, runs_dir, small_data_dir, monkeypatch):
    real_build = training.build

    def build_then_stop(name, args=None):  # runs after the data is loaded, just before step 1
        runner.stop_all()
        return real_build(name, args)

    monkeypatch.setattr(training, "build", build_then_stop)
    job = runner.submit(long_cnn(), name="early", data_root=small_data_dir)
    assert job.wait(30)
    s = job.snapshot()
    assert s["status"] == "stopped" and s["steps"] == [] and s["checkpoint"] is None
    assert "no model was saved" in s["message"]
    assert not (runs_dir / "early.pt").exists()
    assert status_file(runs_dir, "early")["status"] == "stopped"


def test_stop_during_evaluation(runner, runs_dir, small_data_dir, monkeypatch):
    """Stopped while evaluating epoch 2: the run ends "stopped" and keeps epoch 1's model."""
    real_evaluate = training.loss_and_accuracy
    calls = []

    def evaluate_then_stop(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            runner.stop_all()
        return real_evaluate(*args, **kw)

    monkeypatch.setattr(training, "loss_and_accuracy", evaluate_then_stop)
    job = runner.submit(tiny(epochs=5), name="evalstop", data_root=small_data_dir)
    assert job.wait(30)
    s = job.snapshot()
    assert s["status"] == "stopped" and len(calls) == 2
    assert len(s["epochs"]) == 1
    assert checkpoints.read(runs_dir / "evalstop.pt")["metrics"]["epochs_done"] == s["epochs"][0]["epoch"]


def test_queued_job_is_cancelled_at_once(runner, small_data_dir):
    first = runner.submit(long_cnn(), name="busy", data_root=small_data_dir)
    second = runner.submit(tiny(), name="waiting", data_root=small_data_dir)
    wait_until(lambda: first.status == "running", what="the first job to start")
    assert second.status == "queued"
    assert runner.stop(second.id)
    assert second.status == "stopped" and "before it started" in second.message
    assert first.status == "running"
    runner.stop(first.id)
    assert first.wait(120)
    assert second.snapshot()["steps"] == []


def test_huge_learning_rate_diverges_and_saves_nothing(runner, runs_dir, small_data_dir):
    cfg = TrainConfig(
        arch="mlp", optimizer="sgd_momentum", lr=10.0, momentum=0.99, epochs=2, batch_size=64, log_every=1
    )
    job = runner.submit(cfg, name="boom", data_root=small_data_dir)
    assert job.wait(60)
    s = job.snapshot()
    assert s["status"] == "diverged"
    assert f"at step {s['step'] + 1}" in s["message"] and "not saved" in s["message"]
    assert s["checkpoint"] is None and not (runs_dir / "boom.pt").exists()
    assert status_file(runs_dir, "boom")["status"] == "diverged"
    assert "boom" not in inference.list_models()


def test_missing_dataset_fails_with_the_fix(runs_dir, tmp_path):
    runner = JobRunner(runs_dir, download=False)
    job = runner.submit(tiny(), name="nodata", data_root=tmp_path / "nowhere")
    assert job.wait(30)
    assert job.status == "failed"
    assert str(tmp_path) not in job.message and "MNIST/raw/" in job.message  # visitors read no server path
    assert "MNIST_DATA_DIR" in job.message and "train-images-idx3-ubyte" in job.message
    assert status_file(runs_dir, "nodata")["status"] == "failed"
    runner.close()


def test_corrupt_dataset_fails_naming_the_file(runner, small_data_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(small_data_dir / "MNIST", bad / "MNIST")
    f = bad / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:5000])  # truncated IDX
    job = runner.submit(tiny(), name="corrupt", data_root=bad)
    assert job.wait(30)
    assert job.status == "failed" and "MNIST/raw/train-images-idx3-ubyte" in job.message and "corrupt" in job.message
    assert str(tmp_path) not in job.message


HOSTILE_NAMES = [
    "../escape",
    "../../etc/passwd",
    "a/b/c",
    "/abs/path",
    "nul\x00byte",
    "x" * 500,
    "🙂🎉 digits",
    "..",
    "",
    "   ",
    "cnn",
    "CNN",
    "con",
    "name with spaces",
    "dup",
    "dup",
]


def test_hostile_names_land_safely_inside_the_runs_dir(runner, runs_dir, small_data_dir):
    made = [runner.submit(tiny(max_steps=1), name=n, data_root=small_data_dir) for n in HOSTILE_NAMES]
    assert runner.wait_all(120)
    names = [j.name for j in made]
    assert len(set(n.lower() for n in names)) == len(names), names
    root = runs_dir.resolve()
    for raw, job in zip(HOSTILE_NAMES, made, strict=True):
        assert checkpoints.safe_name(job.name) == job.name, (raw, job.name)
        assert job.name.lower() not in ARCHS and job.name.lower() not in jobs.RESERVED
        assert len(job.name) <= 64 and "\x00" not in job.name and ".." not in job.name
        assert job.status == "finished", (raw, job.message)
        assert Path(job.snapshot()["checkpoint"]).parent == root
        assert (root / f"{job.name}.json").is_file()
    # nothing was written anywhere but the runs directory
    outside = [p for p in runs_dir.parent.rglob("*") if root not in p.resolve().parents and p.resolve() != root]
    assert outside == []
    assert made[HOSTILE_NAMES.index("x" * 500)].name.startswith("x" * 50)
    assert made[HOSTILE_NAMES.index("🙂🎉 digits")].name == "digits"
    assert made[-1].name == made[-2].name + "-2"


def test_ten_jobs_from_five_threads_each_keep_their_own_metrics(runner, small_data_dir):
    barrier = threading.Barrier(5)
    submitted: dict[int, jobs.Job] = {}
    errors = []

    def session(i: int) -> None:
        try:
            barrier.wait()
            for k in (2 * i + 1, 2 * i + 2):  # each job its own step count and learning rate
                arch = "softmax" if k % 2 else "mlp_128_64"
                submitted[k] = runner.submit(
                    tiny(arch=arch, max_steps=k, lr=k * 1e-3, seed=k), name=f"s{i}", data_root=small_data_dir
                )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert runner.wait_all(180)
    assert len({j.name for j in submitted.values()}) == 10
    for k, job in submitted.items():
        s = job.snapshot()
        assert s["status"] == "finished", s["message"]
        assert s["config"]["max_steps"] == k and s["config"]["lr"] == k * 1e-3
        assert s["total_steps"] == k and [p[0] for p in s["steps"]] == list(range(1, k + 1))
        meta = checkpoints.read(s["checkpoint"])
        assert meta["config"]["max_steps"] == k and meta["name"] == job.name
        assert [p[0] for p in meta["history"]["steps"]] == list(range(1, k + 1))
        assert meta["history"]["steps"] == [list(p) for p in s["steps"]]


def test_snapshots_read_in_a_tight_loop_never_raise(runner, small_data_dir, monkeypatch):
    errors, reads = [], [0]
    real_record = jobs.Job.record

    def paced(self, e):  # each step waits for a read, so readers and writer interleave at any speed
        real_record(self, e)
        target, deadline = reads[0] + 1, time.monotonic() + 30
        while e["type"] == "step" and reads[0] < target and not errors and time.monotonic() < deadline:
            time.sleep(0.0005)

    monkeypatch.setattr(jobs.Job, "record", paced)
    job = runner.submit(tiny(arch="mlp_128_64", epochs=4, batch_size=32), name="stress", data_root=small_data_dir)

    def reader() -> None:
        last = 0
        try:
            while not job.wait(0):
                s = job.snapshot()
                steps = [p[0] for p in s["steps"]]
                assert steps == sorted(steps) and len(steps) >= last
                assert s["step"] == (steps[-1] if steps else 0)  # progress and curve from one locked copy
                last = len(steps)
                [j.snapshot() for j in runner.jobs()]
                runner.active()
                reads[0] += 1
        except Exception as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in readers:
        t.start()
    assert job.wait(120)
    for t in readers:
        t.join()
    assert not errors, errors
    assert reads[0] >= 4 * 38  # at least one read per step
    s = job.snapshot()
    assert s["status"] == "finished" and len(s["steps"]) == s["total_steps"] == 4 * 38


CHILD = """
import sys, time
from mnist_core import jobs
from mnist_core.config import TrainConfig
runs, data_root = sys.argv[1], sys.argv[2]
r = jobs.JobRunner(runs)
done = r.submit(TrainConfig(arch="softmax", epochs=1, batch_size=100), name="done-run", data_root=data_root)
done.wait(120)
print(done.status, flush=True)
long = r.submit(TrainConfig(arch="cnn", epochs=500, batch_size=32), name="long-run", data_root=data_root)
r.submit(TrainConfig(arch="softmax"), name="waiting-run", data_root=data_root)
while long.status != "running":
    time.sleep(0.02)
print("RUNNING", flush=True)
time.sleep(600)
"""


def test_restart_lists_finished_runs_and_marks_the_killed_one_interrupted(runs_dir, small_data_dir):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(runs_dir), str(small_data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x.strip()) for x in proc.stdout], daemon=True).start()
    try:
        assert lines.get(timeout=120) == "finished"
        assert lines.get(timeout=120) == "RUNNING"
        # the child prints once the job is running; its status file is written just after: wait for it
        wait_until(lambda: status_file(runs_dir, "long-run")["status"] == "running", what="the status file")
        # while the other process lives, its run shows as running there, not interrupted
        watcher = JobRunner(runs_dir)
        live = {j.name: j for j in watcher.jobs()}
        assert live["long-run"].status == "running" and live["long-run"].foreign
        assert not watcher.stop(live["long-run"].id)
    finally:
        proc.kill()  # like a server killed mid-run
        proc.wait(30)
    watcher.refresh()
    assert {j.name: j.status for j in watcher.jobs()}["long-run"] == "interrupted"
    watcher.close()

    restarted = JobRunner(runs_dir)
    by_name = {j.name: j for j in restarted.jobs()}
    assert by_name["done-run"].status == "finished"
    s = by_name["done-run"].snapshot()
    assert s["checkpoint"] and s["test_accuracy"] == checkpoints.read(s["checkpoint"])["metrics"]["test_accuracy"]
    hist = checkpoints.read(s["checkpoint"])["history"]  # curves come back from the checkpoint
    assert s["steps"] and [list(p) for p in s["steps"]] == hist["steps"] and s["epochs"] == hist["epochs"]
    for name in ("long-run", "waiting-run"):
        assert by_name[name].status == "interrupted" and "server stopped" in by_name[name].message
        assert status_file(runs_dir, name)["status"] == "interrupted"
    assert restarted.active() == []
    assert [e.name for e in inference.model_entries(runs=runs_dir) if e.source == "run"] == ["done-run"]
    # the new runner does not reuse the names of runs it found
    assert restarted.unique_name("done-run", "softmax") == "done-run-2"
    restarted.close()


def test_a_dead_runner_in_this_process_leaves_its_jobs_interrupted(runs_dir):
    (runs_dir / "ghost.json").write_text(
        json.dumps(
            {
                "format": jobs.STATUS_FORMAT,
                "id": "g1",
                "name": "ghost",
                "status": "running",
                "config": tiny().to_dict(),
                "created": time.time(),
                "pid": os.getpid(),
                "runner": "gone",
            }
        )
    )
    (runs_dir / "junk.json").write_text("{not json")
    r = JobRunner(runs_dir)
    assert [(j.name, j.status) for j in r.jobs()] == [("ghost", "interrupted")]
    r.close()


def test_bare_checkpoint_from_the_command_line_is_listed(runs_dir, small_data_dir):
    result = training.train(tiny(epochs=1), data_root=small_data_dir)
    result.save(checkpoints.path_in(runs_dir, "cli-run"), name="cli-run")
    (runs_dir / "broken.pt").write_bytes(b"not a checkpoint")
    r = JobRunner(runs_dir)
    (job,) = r.jobs()
    s = job.snapshot()
    assert (job.name, s["status"], s["test_accuracy"]) == ("cli-run", "finished", result.test_accuracy)
    assert s["epochs"] == result.history["epochs"]
    r.close()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_refused_at_submit(runner):
    with pytest.raises(ValueError, match="no CUDA GPU"):
        runner.submit(tiny(device="cuda"), name="gpu")
    assert runner.jobs() == []


def test_submit_all_queues_every_architecture_with_its_fast_recipe(runner, small_data_dir):
    made = runner.submit_all(data_root=small_data_dir, max_steps=1)
    assert [j.config.arch for j in made] == list(ARCHS)
    for job in made:
        assert job.config == recipes.recommended(job.config.arch, max_steps=1)
    assert runner.wait_all(300)
    assert all(j.status == "finished" for j in made), [(j.name, j.message) for j in made]


def test_one_session_may_queue_only_its_share_of_runs(runner, small_data_dir, monkeypatch):
    """On a shared server one session cannot fill the queue: past the limit a submit is refused with
    what to do, other sessions and the runner's holder still queue, and a stopped run frees a place."""
    monkeypatch.setenv(jobs.LIMIT_ENV, "2")
    first = runner.submit(long_cnn(), name="mine-1", data_root=small_data_dir, owner="student-a")
    second = runner.submit(tiny(), name="mine-2", data_root=small_data_dir, owner="student-a")
    with pytest.raises(ValueError, match=r"already have 2 runs queued or running.*2 at once.*stop one"):
        runner.submit(tiny(), name="mine-3", data_root=small_data_dir, owner="student-a")
    with pytest.raises(ValueError, match="already have 2 runs"):
        runner.submit_all(data_root=small_data_dir, owner="student-a")
    other = runner.submit(tiny(), name="theirs", data_root=small_data_dir, owner="student-b")
    assert [j.name for j in runner.jobs()].count("mine-3") == 0 and other.status in ("queued", "running")
    assert runner.stop(second.id, owner="student-a")
    third = runner.submit(tiny(), name="mine-3", data_root=small_data_dir, owner="student-a")
    assert third.owner == "student-a"
    for job in (first, third, other):
        runner.stop(job.id, owner=owners.ANYONE)
        assert job.wait(120)
    monkeypatch.setenv(jobs.LIMIT_ENV, "not a number")
    assert jobs.session_run_limit() == settings.DEFAULT_SESSION_RUNS


def test_the_server_takes_only_so_many_runs_from_visitors_and_each_visitor_in_turn(runner, small_data_dir, monkeypatch):
    """Reloading for new sessions does not get round the limit: past settings.runs_per_server() runs queued
    or running (the holder's count) a visitor's submit is refused, naming the setting; the runner's holder
    is not refused. A visitor's run queued behind another visitor's three is next in line."""
    monkeypatch.setenv(jobs.SERVER_LIMIT_ENV, "5")
    held = runner.submit(long_cnn(), name="holders", data_root=small_data_dir)
    wait_until(lambda: held.status == "running", what="the holder's run to start")
    made = [runner.submit(long_cnn(), name=f"a{i}", data_root=small_data_dir, owner="visitor-a") for i in range(3)]
    newcomer = runner.submit(long_cnn(), name="b", data_root=small_data_dir, owner="visitor-b")
    assert [runner.queue_position(j) for j in (*made, newcomer)] == [1, 3, 4, 2]  # a, b, a, a: in turn
    with pytest.raises(ValueError, match=r"the server already has 5 runs queued or running.*MNIST_LAB_RUNS_PER_SERVER"):
        runner.submit(tiny(), name="refused", data_root=small_data_dir, owner="reload-9")
    with pytest.raises(ValueError, match="MNIST_LAB_RUNS_PER_SERVER"):
        runner.submit_all(data_root=small_data_dir, owner="reload-10")
    extra = runner.submit(long_cnn(), name="holders-2", data_root=small_data_dir)  # the holder is never refused
    assert "refused" not in [j.name for j in runner.jobs()]
    assert runner.stop(made[0].id, owner="visitor-a") and runner.stop(extra.id)
    late = runner.submit(long_cnn(), name="late", data_root=small_data_dir, owner="reload-9")  # a place was freed
    for job in (held, *made, newcomer, extra, late):
        runner.stop(job.id, owner=owners.ANYONE)
        assert job.wait(120)


def test_a_copy_ended_from_its_status_file_never_loses_the_rows_it_followed(runs_dir, small_data_dir, tmp_path):
    """A run followed from another process (Ray) that ends there: the status file's checkpoint has the
    whole curve, which replaces the rows followed; an unreadable one leaves those rows as they were."""
    result = training.train(tiny(max_steps=4), data_root=small_data_dir)
    good = result.save(tmp_path / "good.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    for ckpt, expected_steps in [(good, 4), (bad, 2)]:
        job = jobs.Job("j", "followed", tiny(), runs_dir / "followed.pt")
        job.apply(
            {
                "steps": result.history["steps"][:2],
                "step_accuracy": [],
                "epochs": [],
                "progress": {},
                "status": "running",
                "message": "",
                "times": {},
                "checkpoint": None,
                "test_accuracy": None,
            }
        )
        run = jobs.Run(
            id="j",
            name="followed",
            config=tiny(),
            path=ckpt,
            status=RunStatus.STOPPED,
            message="stopped",
            created=0.0,
            checkpoint=ckpt,
            test_accuracy=result.test_accuracy,
        )
        job.end_as_recorded(run)
        s = job.snapshot()
        assert s["status"] == RunStatus.STOPPED and len(s["steps"]) == expected_steps
        assert len(s["epochs"]) == (1 if ckpt == good else 0)


def test_a_job_is_written_before_its_end_is_announced_and_renamed_with_its_files(tmp_path):
    """Job.finish writes (its status file) while waiters still wait: whoever is woken reads the file's
    end too. A rename moves the checkpoint it names and the file its curves are read from."""
    job = jobs.Job("j", "before", tiny(), tmp_path / "before.pt")
    seen = []
    job.finish(RunStatus.STOPPED, "stopped by request", write=lambda j: seen.append((j.status, j.wait(0))))
    assert seen == [(RunStatus.STOPPED, False)] and job.wait(0) and job.snapshot()["ended"]
    job.set_saved(tmp_path / "before.pt", 0.5, read_curves=True)
    job.rename("after", tmp_path / "after.pt")
    s = job.snapshot()  # the curves are read from the new path: a missing file leaves them as they were
    assert (job.name, s["checkpoint"], s["test_accuracy"]) == ("after", str(tmp_path / "after.pt"), 0.5)


def test_a_runner_on_threads_never_imports_ray(runs_dir):
    code = (
        "import sys; from mnist_core import jobs; r = jobs.JobRunner(sys.argv[1]); r.close(); "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'mnist_core.jobs.ray'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(runs_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MNIST_LAB_RAY_ADDRESS": ""},
    )
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]
