"""Training on Ray (mnist_core.jobs.ray), on a local Ray that these tests start (2 CPUs, no dashboard):
a run ends with its curves and checkpoint as a local run's, Stop reaches it (queued or running), a worker
killed mid-run gives a failed run and never a stuck one, and a second app process on the same cluster and
runs folder sees, and follows, the same runs. Skipped where Ray is not installed; CI installs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import wait_until

from mnist_core import checkpoints, jobs, owners
from mnist_core.config import TrainConfig
from mnist_core.events import RunStatus
from mnist_core.jobs import ray as ray_jobs

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-ray.txt)")
ROOT = Path(__file__).resolve().parents[1]

# a run that only ends when stopped: cnn on batches of 16, 200 epochs of the tests' 1,200 digits
# (on the CPU everywhere: on a GPU machine each run would ask Ray for the one GPU, and train one at a time)
ENDLESS = dict(arch="cnn", epochs=200, batch_size=16, log_every=1, augment=False, lr=0.01, device="cpu")


@pytest.fixture(scope="module")
def cluster():
    """A local Ray for this module, with 2 CPUs: two runs train at once, a third waits in Ray."""
    if not ray.is_initialized():
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=ray_jobs.NAMESPACE
        )  # its own, never a cluster already running here
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture
def runner(cluster, runs_dir):
    r = jobs.JobRunner(runs_dir, download=False, ray_address=cluster)
    yield r
    for job in r.active():  # a test's runs never outlive it: they would hold the cluster's CPUs
        r.stop(job.id, owners.ANYONE)
    assert r.wait_all(120), "a Ray run did not end after its stop"
    r.close()


def test_a_run_on_ray_ends_with_its_curves_and_checkpoint(runner, small_data_dir, runs_dir):
    assert isinstance(runner.backend, ray_jobs.RayBackend) and runner.backend_warning == ""
    assert runner.describe_backend() == f"the Ray cluster at {runner.backend.address}"
    cfg = TrainConfig(arch="mlp_128_64", epochs=2, batch_size=64, log_every=2, device="cpu")
    job = runner.submit(cfg, "on-ray", data_root=small_data_dir, owner="student-1")
    assert job.wait(180), job.snapshot()
    s = job.snapshot()
    assert s["status"] == RunStatus.FINISHED, s["message"]
    # the curves came back from the worker: every logged step and both epochs, in order
    assert len(s["epochs"]) == 2 and [r["epoch"] for r in s["epochs"]] == [1.0, 2.0]
    steps = [row[0] for row in s["steps"]]
    assert steps == sorted(steps) and len(steps) >= 2 * 1200 // 64 // 2
    # the checkpoint and the status file landed in the runs folder, as a local run's do
    meta = checkpoints.read(runs_dir / "on-ray.pt")
    assert meta["metrics"]["test_accuracy"] == pytest.approx(s["test_accuracy"])
    record = json.loads((runs_dir / "on-ray.json").read_text())
    assert record["status"] == "finished" and record["worker"] == job.worker
    assert record["pid"] != os.getpid()  # written by the Ray worker
    assert record["owner"] == owners.tag("student-1") and "student-1" not in json.dumps(record)
    wait_until(lambda: ray_jobs.run_alive(job.worker) is False, 30, "the ended run to leave the cluster")


def test_stop_reaches_a_running_run_and_a_queued_one_never_runs(runner, small_data_dir):
    a = runner.submit(TrainConfig(**ENDLESS), "endless-a", data_root=small_data_dir, owner="s")
    b = runner.submit(TrainConfig(**ENDLESS), "endless-b", data_root=small_data_dir, owner="s")
    c = runner.submit(TrainConfig(**ENDLESS), "endless-c", data_root=small_data_dir, owner="s")
    wait_until(lambda: len(a.snapshot()["steps"]) >= 3 and len(b.snapshot()["steps"]) >= 3, 180, "two runs to train")
    assert c.status == RunStatus.QUEUED and runner.queue_position(c) == 1  # 2 CPUs: Ray holds the third
    assert not runner.stop(a.id, owner="someone else")  # only its owner (or the runner's holder)
    assert runner.stop(c.id, owner="s") and c.status == RunStatus.STOPPED
    assert "before it started" in c.message
    assert runner.stop(a.id, owner="s")
    assert a.wait(60), "a running Ray run did not end within a minute of its stop"
    s = a.snapshot()
    assert s["status"] == RunStatus.STOPPED
    assert runner.stop(b.id, owners.ANYONE) and b.wait(60)
    assert not c.snapshot()["steps"]  # the queued one never trained


def test_a_visitors_limit_and_the_servers_hold_on_ray(runner, small_data_dir, monkeypatch):
    monkeypatch.setenv("MNIST_LAB_RUNS_PER_SESSION", "2")
    monkeypatch.setenv("MNIST_LAB_RUNS_PER_SERVER", "3")
    mine = [runner.submit(TrainConfig(**ENDLESS), n, data_root=small_data_dir, owner="v") for n in ("lim-a", "lim-b")]
    with pytest.raises(ValueError, match="one visitor may have 2"):
        runner.submit(TrainConfig(**ENDLESS), "limit-c", data_root=small_data_dir, owner="v")
    other = runner.submit(TrainConfig(**ENDLESS), "limit-w", data_root=small_data_dir, owner="w")  # not v's
    with pytest.raises(ValueError, match="takes at most 3"):
        runner.submit(TrainConfig(**ENDLESS), "limit-x", data_root=small_data_dir, owner="x")

    def two_train_and_one_waits_next():  # 2 CPUs: two warm workers (which two: the queue's turn by visitor)
        waiting = [j for j in (*mine, other) if j.status == RunStatus.QUEUED]
        return len(waiting) == 1 and runner.queue_position(waiting[0]) == 1

    wait_until(two_train_and_one_waits_next, 120, "two runs to train on Ray and the third to wait next")


def test_a_worker_killed_mid_run_gives_a_failed_run_never_a_stuck_one(runner, small_data_dir, runs_dir):
    job = runner.submit(TrainConfig(**ENDLESS), "killed", data_root=small_data_dir)
    wait_until(lambda: len(job.snapshot()["steps"]) >= 3, 180, "the run to train")
    record = json.loads((runs_dir / "killed.json").read_text())
    assert record["status"] == "running" and record["pid"] != os.getpid()  # written by the worker, not pytest
    os.kill(record["pid"], signal.SIGKILL)  # the worker process, as an out-of-memory kill would
    assert job.wait(60), "a run whose worker died was left running"
    assert job.status == RunStatus.FAILED and "went away" in job.message
    assert json.loads((runs_dir / "killed.json").read_text())["status"] == "failed"

    def replaced():  # the pool has started a warm worker in its place
        rows = runner.backend.workers()
        return (
            len(rows) == 2
            and all(r["state"] != "warming" for r in rows)
            and record["pid"] not in {r["pid"] for r in rows}
        )

    wait_until(replaced, 180, "the pool to replace the killed worker")


def test_a_pool_that_dies_is_restarted_and_leaves_no_run_stuck(runner, small_data_dir, runs_dir):
    """The pool is one actor: killed (as a crash would), Ray starts it again, empty. Its workers end with it:
    the runs they had and the run it queued fail, never stay running or queued; new runs train again."""
    runs = [runner.submit(TrainConfig(**ENDLESS), f"pool-{n}", data_root=small_data_dir, owner="s") for n in "abc"]
    wait_until(lambda: all(len(j.snapshot()["steps"]) >= 2 for j in runs[:2]), 180, "two runs to train")
    before = {w["pid"] for w in runner.backend.workers()}
    ray.kill(ray.get_actor("mnist-lab-pool", namespace=ray_jobs.NAMESPACE), no_restart=False)
    for job in runs:
        assert job.wait(120), f"{job.name} was left {job.status}"
        assert job.status == RunStatus.FAILED and "went away" in job.message, job.message
        assert json.loads((runs_dir / f"{job.name}.json").read_text())["status"] == "failed"
    assert runner.backend.wait_warm(240)
    assert not before & {w["pid"] for w in runner.backend.workers()}  # new workers, warm
    cfg = TrainConfig(arch="mlp_128_64", epochs=1, batch_size=64, device="cpu")
    job = runner.submit(cfg, "after-the-pool", data_root=small_data_dir, owner="s")
    assert job.wait(180) and job.status == RunStatus.FINISHED, job.message


def test_runs_reuse_the_warm_workers_and_their_memory_stays_put(runner, small_data_dir, runs_dir):
    """Six runs one after another train in the pool's two warm worker processes (none starts per run), and a
    worker's memory after its later runs stays near what it was after its first."""
    cfg = TrainConfig(arch="mlp_128_64", epochs=1, batch_size=64, log_every=5, device="cpu")
    pids = set()
    for i in range(6):
        job = runner.submit(cfg, f"again-{i}", data_root=small_data_dir, owner="s")
        assert job.wait(120) and job.status == RunStatus.FINISHED, job.message
        pids.add(json.loads((runs_dir / f"again-{i}.json").read_text())["pid"])  # written by its worker
    workers = runner.backend.workers(fresh=True)
    assert pids <= {w["pid"] for w in workers} and os.getpid() not in pids
    for w in workers:
        after = [rss for _, rss in w["rss_runs"]]
        assert w["rss_start"] > 0 and max(after, default=0) - min(after, default=0) < 40 * 2**20, w


SECOND_APP = """
import json, sys, time
from mnist_core import jobs
runner = jobs.JobRunner(sys.argv[1], download=False, ray_address=sys.argv[2])
job = next(j for j in runner.jobs() if j.name == "shared")
seen = {"foreign": job.foreign, "status_first": str(job.status), "stop_by_a_session": runner.stop(job.id, "s2")}
n = len(job.snapshot()["steps"])
deadline = time.monotonic() + 240
while len(job.snapshot()["steps"]) < n + 5 and time.monotonic() < deadline:  # its curve grows here too
    time.sleep(0.1)
seen["grew"] = len(job.snapshot()["steps"]) - n
print(json.dumps(seen), flush=True)
job.wait(240)
s = job.snapshot()
print(json.dumps(dict(status=str(s["status"]), steps=len(s["steps"]), epochs=len(s["epochs"]))), flush=True)
runner.close()
"""


def test_a_second_app_process_sees_and_follows_the_same_runs(runner, small_data_dir, runs_dir, cluster):
    job = runner.submit(TrainConfig(**ENDLESS), "shared", data_root=small_data_dir, owner="s1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    second = subprocess.Popen(
        [sys.executable, "-c", SECOND_APP, str(runs_dir), cluster],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        seen = json.loads(second.stdout.readline() or "{}")  # it follows the run while it trains...
        assert seen, second.stderr.read()[-3000:]
        assert seen["status_first"] in ("queued", "running") and seen["foreign"] is False and seen["grew"] >= 5
        assert seen["stop_by_a_session"] is False  # another visitor, in the other app too, cannot stop it
        assert runner.stop(job.id, owner="s1") and job.wait(120)  # ...and sees its end, stopped from here
        last = json.loads(second.stdout.readline() or "{}")
        assert second.wait(120) == 0, second.stderr.read()[-3000:]
    finally:
        second.kill()
    s = job.snapshot()
    assert s["status"] == RunStatus.STOPPED and last == {
        "status": "stopped",
        "steps": len(s["steps"]),
        "epochs": len(s["epochs"]),
    }


def test_an_app_restart_loses_no_ray_run(cluster, small_data_dir, runs_dir):
    first = jobs.JobRunner(runs_dir, download=False, ray_address=cluster)
    job = first.submit(TrainConfig(**ENDLESS), "survivor", data_root=small_data_dir, owner="s")
    wait_until(lambda: len(job.snapshot()["steps"]) >= 2, 180, "the run to train")
    first.close()  # the app goes away; Ray keeps the run
    second = jobs.JobRunner(runs_dir, download=False, ray_address=cluster)
    try:
        again = next(j for j in second.jobs() if j.name == "survivor")
        assert again.status == RunStatus.RUNNING and not again.foreign
        wait_until(lambda: len(again.snapshot()["steps"]) > len(job.snapshot()["steps"]), 60, "its curves to go on")
        assert again.owner_key == owners.key("s")  # kept by the actor's status files across the restart
        assert not second.stop(again.id, owner="another visitor")
        assert second.stop(again.id, owner="s") and again.wait(60)  # its visitor (the same browser) stops it
        assert again.status == RunStatus.STOPPED
    finally:
        second.stop_all()
        second.wait_all(60)
        second.close()


def test_a_ray_address_that_cannot_be_used_leaves_training_here_and_says_why(runs_dir, monkeypatch):
    monkeypatch.setattr(ray_jobs, "installed", lambda: False)
    r = jobs.JobRunner(runs_dir, ray_address="auto")
    assert isinstance(r.backend, jobs.ThreadBackend) and "Ray is not installed" in r.backend_warning
    r.close()


def test_a_ray_address_where_nothing_answers_leaves_training_here_at_once_and_says_why(runs_dir):
    """In a process of its own (this one is connected to the tests' Ray): a host and port where nothing
    listens is found out in seconds (Ray would wait minutes), and training stays on this server."""
    code = (
        "import sys, time; from mnist_core import jobs; t = time.monotonic(); "
        "r = jobs.JobRunner(sys.argv[1], download=False, ray_address='127.0.0.1:9'); "
        "print(type(r.backend).__name__, round(time.monotonic() - t), r.backend_warning, sep='|')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(runs_dir)], capture_output=True, text=True, timeout=120, env=env
    )
    kind, seconds, warning = out.stdout.strip().splitlines()[-1].split("|")
    assert kind == "ThreadBackend" and int(seconds) < 20, out.stdout + out.stderr[-2000:]
    assert (
        warning.startswith("Training runs on this server, not on Ray") and "nothing answers at 127.0.0.1:9" in warning
    )


def test_the_train_page_runs_on_ray_as_it_does_here(cluster, runs_dir, small_data_dir, monkeypatch):
    """The page does not know the backend: a run started there trains on Ray, its curve and result show."""
    from streamlit.testing.v1 import AppTest

    import lab_ui

    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    monkeypatch.setenv("MNIST_LAB_RAY_ADDRESS", cluster)
    lab_ui.clear_job_runners()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90).run()
    at.switch_page("app_pages/train.py")
    at.run()
    at.selectbox(key="arch").set_value("mlp_128_64").run()
    at.text_input[0].input("from the page")
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    runner = lab_ui.job_runner()
    (job,) = runner.jobs()
    assert isinstance(runner.backend, ray_jobs.RayBackend) and job.worker
    try:
        assert job.wait(180), job.snapshot()
        at.run()
        assert any(s.value.startswith("Finished: test accuracy") for s in at.success), [e.value for e in at.error]
        (loss,) = [json.loads(n.proto.spec) for n in at.get("plotly_chart") if "loss_chart" in n.proto.id]
        assert len(loss["data"][0]["x"]) == len(job.snapshot()["steps"]) > 0
    finally:
        runner.stop_all()
        runner.wait_all(60)
        runner.close()
        lab_ui.clear_job_runners()


def test_the_command_line_trains_on_ray_and_prints_the_same_summary(cluster, runs_dir, small_data_dir):
    cmd = [
        sys.executable,
        "-m",
        "mnist_core",
        "train",
        "--arch",
        "mlp_128_64",
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--data-dir",
        str(small_data_dir),
        "--out",
        str(runs_dir / "cli-run.pt"),
        "--ray",
        cluster,
        "--json",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["epochs"] == 2.0 and summary["device"] == "cpu"
    assert summary["path"] == str(runs_dir / "cli-run.pt")
    assert checkpoints.read(runs_dir / "cli-run.pt")["metrics"]["test_accuracy"] == pytest.approx(
        summary["test_accuracy"]
    )
    assert json.loads((runs_dir / "cli-run.json").read_text())["worker"]
