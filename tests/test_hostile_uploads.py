"""Issue 14: one bad file must never take the app down for everyone.

Each row of the issue's table is a file made here (tests/hostile_files.py; nothing is committed):
refused with its message by checkpoints.load (every path: upload, runs folder, command line),
named as unreadable while every page still opens with it in the runs folder, the zip bomb refused
with its peak memory measured, the upload that claims 100% measured instead, the upload named like
a running job given another name, and the run that nobody stopped seen to its end while the
session that started it goes away. No test races the clock: the run's pace is held by a gate
the test opens, and what is waited for is the job's own end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import hostile_files as hf
import numpy as np
import pytest
import torch
from compare_helpers import make_model, use_models
from helpers import unmarked
from PIL import Image
from streamlit.testing.v1 import AppTest

import lab_ui
from mnist_core import checkpoints, compare, inference, jobs, measure, owners, runs, training, uploads
from mnist_core.checkpoints import CheckpointError
from mnist_core.config import TrainConfig

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# name -> (maker, what the refusal says)
ROWS = {
    "string_accuracy": (hf.string_accuracy, r"metrics test_accuracy is '100%', not a number in \[0, 1\]"),
    "bad_history": (hf.bad_history, r"history (step|epoch) 0 is"),
    "nan_weights": (hf.nan_weights, r"weight '.*' holds [\d,]+ non-finite values"),
    "padding": (
        lambda p: hf.padded(p, 3),
        r"extra\['padding'\] is a string of [\d,]+ characters \(the limit is 2000\)",
    ),
}


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A 1 GiB zero tensor deflated into a checkpoint of about 1 MB (made once)."""
    return hf.zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.pt", 2**30)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data_dir) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hostile_models")
    return {"softmax": make_model(d / "softmax.pt", "softmax", small_data_dir, epochs=2)}


@pytest.fixture
def lab(trained, tmp_path, monkeypatch, small_data_dir) -> Path:
    """The small model as the shipped one, an empty runs folder, the small data set; every job of the
    app's runner stopped afterwards."""
    use_models(trained, tmp_path, monkeypatch, small_data_dir)
    runs = tmp_path / "runs"
    runs.mkdir()
    yield runs
    runner = lab_ui.job_runner()
    runner.stop_all()
    assert runner.wait_all(30)


def hostile_runs_folder(runs: Path, bomb: Path) -> dict[str, Path]:
    """Every row of the table as a file in the runs folder."""
    files = {name: make(runs / f"{name}.pt") for name, (make, _) in ROWS.items()}
    files["bomb"] = runs / "bomb.pt"
    files["bomb"].write_bytes(bomb.read_bytes())
    (runs / "junk.json").write_text('{"format": "mnist-lab-job", "created": "yesterday"}')  # a broken status file
    return files


# --- 1. every row refused with its message, on every path -------------------------------------------


@pytest.mark.parametrize("row", list(ROWS))
def test_each_hostile_checkpoint_is_refused_with_its_reason(row, tmp_path):
    make, reason = ROWS[row]
    path = make(tmp_path / f"{row}.pt")
    torch.load(path, weights_only=True)  # control: torch itself loads it (what the app used to trust)
    with pytest.raises(CheckpointError, match=rf"^{row}\.pt: refused: {reason}"):
        checkpoints.load(path)
    with pytest.raises(CheckpointError, match=rf"^upload\.pt: refused: {reason}"):
        uploads.accept_upload("upload.pt", path.read_bytes(), runs=tmp_path / "runs")
    assert not list((tmp_path / "runs").glob("*.pt")), "nothing refused is saved"


def test_the_zip_bomb_is_refused_before_anything_is_inflated(bomb):
    with zipfile_of(bomb) as z:
        sizes = {i.filename: (i.file_size, i.compress_size) for i in z.infolist()}
    inflated, packed = max(sizes.values())
    assert inflated == 2**30 and packed < 2**21 and bomb.stat().st_size < 2**21  # 1 GiB in under 2 MB
    with pytest.raises(
        CheckpointError,
        match=r"^bomb\.pt: refused: entry 'archive/data/\d+' would inflate to "
        r"1,024 MB \(the limit is 16 MB",
    ):
        checkpoints.load(bomb)


def zipfile_of(path: Path):
    import zipfile

    return zipfile.ZipFile(path)


PEAK = """
import json, resource, sys, torch
from mnist_core import checkpoints
def peak():
    # this process's own high-water mark (Linux's VmHWM): getrusage's ru_maxrss also counts the parent's
    # resident size at the fork, so a large pytest process would hide what the load itself costs
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
checkpoints.load(sys.argv[1]); normal = peak()
try:
    torch.load(sys.argv[2], weights_only=True) if sys.argv[3] == "unguarded" else checkpoints.load(sys.argv[2])
    outcome = "loaded"
except checkpoints.CheckpointError as exc:
    outcome = str(exc)
print(json.dumps({"normal": normal, "after": peak(), "outcome": outcome}))
"""


def peak_memory(good: Path, bomb: Path, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PEAK, str(good), str(bomb), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_zip_bomb_costs_no_memory_to_refuse(bomb, trained, record_property):
    """Peak RSS of a fresh process: a normal load, then the bomb. The control (torch.load unguarded,
    as the app used to) shows that the bomb is real."""
    guarded = peak_memory(trained["softmax"], bomb, "guarded")
    control = peak_memory(trained["softmax"], bomb, "unguarded")
    extra = (guarded["after"] - guarded["normal"]) / 2**20
    extra_control = (control["after"] - control["normal"]) / 2**20
    record_property("bomb_extra_peak_mb", round(extra, 1))
    record_property("bomb_unguarded_extra_peak_mb", round(extra_control, 1))
    print(
        f"zip bomb: peak {extra:.1f} MB above a normal load when refused; {extra_control:.0f} MB when loaded unguarded"
    )
    assert guarded["outcome"].startswith("bomb.pt: refused:")
    assert control["outcome"] == "loaded" and extra_control > 512, control  # the bomb is real
    assert extra < 300, guarded


def test_the_command_line_refuses_them_with_a_clean_message(tmp_path, capsys, bomb, small_data_dir, monkeypatch):
    from mnist_core.__main__ import main

    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    for row, (make, reason) in ROWS.items():
        path = make(tmp_path / f"{row}.pt")
        assert main(["evaluate", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {row}.pt: refused:") and "Traceback" not in err
        assert re.search(reason, err), err
    assert main(["evaluate", str(bomb)]) == 2
    assert "would inflate to 1,024 MB" in capsys.readouterr().err


def test_non_finite_metadata_numbers_are_refused(tmp_path):
    for field, value in [
        ("test_accuracy", float("nan")),
        ("test_accuracy", 1.5),
        ("test_accuracy", True),
        ("train_seconds", float("inf")),
        ("train_seconds", -1.0),
    ]:
        p = hf.payload()
        path = hf.save(tmp_path / "odd.pt", {**p, "metrics": {**p["metrics"], field: value}})
        with pytest.raises(CheckpointError, match=rf"^odd\.pt: refused: .*{field}"):
            checkpoints.read(path)
    path = hf.save(tmp_path / "odd.pt", hf.payload(name="n" * 10_000))
    with pytest.raises(CheckpointError, match=r"^odd\.pt: refused: name is"):
        checkpoints.read(path)
    path = hf.save(tmp_path / "odd.pt", hf.payload(dataset="imagenet"))
    with pytest.raises(CheckpointError, match=r"^odd\.pt: refused: dataset 'imagenet'"):
        checkpoints.read(path)


# --- 2. one bad file never breaks a page -------------------------------------------------------------


def test_listing_skips_bad_files_and_names_each(lab, bomb):
    files = hostile_runs_folder(lab, bomb)
    assert inference.list_models() == ["softmax"]  # only the good (shipped) model
    bad = {e.path.name: e.problem for e in inference.unreadable_entries()}
    assert set(bad) == {p.name for p in files.values()}
    assert all(msg.startswith(f"{name}: ") for name, msg in bad.items())
    rows, problems = measure.summaries()
    assert [r["name"] for r in rows] == ["softmax"] and len(problems) == len(files)
    runner = jobs.JobRunner(lab)
    try:
        assert [j.name for j in runner.jobs()] == []
        assert set(runner.unreadable) == {p.name for p in files.values()} | {"junk.json"}
    finally:
        runner.close()


def page(script: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    if script != "app.py":
        at.switch_page(script)
        at.run()
    return at


@pytest.mark.parametrize(
    "script", ["app.py", *sorted(f"app_pages/{p.name}" for p in (ROOT / "app_pages").glob("*.py"))]
)
def test_every_page_opens_with_the_hostile_files_in_the_runs_folder(lab, bomb, script):
    files = hostile_runs_folder(lab, bomb)
    at = page(script)
    assert not at.exception, at.exception
    warnings = [unmarked(w.value) for w in at.warning]
    if script in ("app_pages/train.py", "app_pages/compare.py"):
        for p in files.values():
            assert any(w.startswith(f"Not listed: {p.name}: unreadable: ") for w in warnings), (p.name, warnings)
    if script == "app_pages/compare.py":
        assert at.file_uploader(key="cmp_upload") is not None  # the upload widget is drawn
    if script == "app_pages/draw.py":
        assert at.selectbox(key="draw_model").options == ["softmax"]


# --- 3. an uploaded model's accuracy is measured, not believed -----------------------------------


def test_an_upload_claiming_100_percent_is_measured_and_never_best_before(lab, tmp_path, monkeypatch):
    liar = hf.random_weights_claiming_100(tmp_path / "liar.pt")
    runner = lab_ui.job_runner()
    rows_before = None
    gate = threading.Event()
    real_measure = jobs.measure_upload

    def held(job, folder):  # the measurement waits until the test has looked at the claimed state
        gate.wait(60)
        real_measure(job, folder)

    monkeypatch.setattr(jobs.work, "measure_upload", held)
    try:
        saved = uploads.accept_upload("liar.pt", liar.read_bytes(), runner=runner, owner="me")
        job = next(j for j in runner.jobs() if j.path == saved)
        assert job.kind == jobs.EVALUATE and job.active and job.uploaded
        meta = checkpoints.read(saved)
        assert meta["metrics"]["test_accuracy"] is None and meta["metrics"]["claimed_test_accuracy"] == 1.0
        rows_before, _ = measure.summaries()
        liar_row = next(r for r in rows_before if r["name"] == "liar")
        assert liar_row["test_accuracy"] is None and liar_row["claimed_accuracy"] == 1.0
        assert compare.best(rows_before)["name"] == "softmax"  # the claim is never the best
    finally:
        gate.set()
    assert job.wait(120)
    s = job.snapshot()
    assert s["status"] == "finished" and s["progress"] == 1.0, s["message"]
    measured = checkpoints.read(saved)["metrics"]
    assert measured["accuracy_source"] == "measured" and measured["claimed_test_accuracy"] == 1.0
    assert 0.0 <= measured["test_accuracy"] < 0.5 and s["test_accuracy"] == measured["test_accuracy"]
    assert "the file claimed 100.00%" in s["message"]
    row = next(r for r in measure.summaries()[0] if r["name"] == "liar")  # the rewritten file is measured anew
    assert row["test_accuracy"] == measured["test_accuracy"] and row["accuracy_source"] == "measured"
    assert compare.best(measure.summaries()[0])["name"] == "softmax"


def test_without_the_test_set_an_upload_stays_claimed(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no-data"))
    liar = hf.random_weights_claiming_100(tmp_path / "liar.pt")
    runner = lab_ui.job_runner()
    saved = uploads.accept_upload("liar.pt", liar.read_bytes(), runner=runner)
    job = next(j for j in runner.jobs() if j.path == saved)
    assert job.status == "finished" and "only claimed (the file claims 100.00%)" in job.message
    rows, _ = measure.summaries()
    assert compare.best(rows)["name"] == "softmax"
    at = page("app_pages/compare.py")
    assert not at.exception
    (df,) = [d.value for d in at.dataframe]
    liar_row = df[df["Model"] == "liar"].iloc[0]
    assert np.isnan(liar_row["Test accuracy"]) and liar_row["Claimed, not measured"] == 1.0
    assert any("Best test accuracy: `softmax`" in c.value for c in at.caption)


# --- 4. unique names through the runner, limits on uploads ----------------------------------------


def test_an_upload_named_like_a_running_job_gets_another_name(lab, trained, small_data_dir, monkeypatch):
    runner = lab_ui.job_runner()
    gate, started = threading.Event(), threading.Event()
    real_train = training.train

    def paced(config, data_root=None, on_event=None, should_stop=None, **kw):
        def event(e):
            if e["type"] == "step" and not gate.is_set():
                started.set()
                gate.wait(60)  # the run stays running until the test opens the gate
            if on_event:
                on_event(e)

        return real_train(config, data_root=data_root, on_event=event, should_stop=should_stop, **kw)

    monkeypatch.setattr(training, "train", paced)
    cfg = TrainConfig(arch="softmax", epochs=1, batch_size=64, train_limit=256, device="cpu", log_every=1)
    victim = runner.submit(cfg, "victim", data_root=small_data_dir)
    try:
        assert started.wait(60) and victim.status == "running"
        upload = trained["softmax"].read_bytes()
        saved = uploads.accept_upload("victim.pt", upload, runner=runner)
        assert saved.name == "victim-2.pt"
        at = page("app_pages/compare.py")
        at.file_uploader(key="cmp_upload").set_value(("victim.pt", upload, "application/octet-stream")).run()
        assert any("added as run `victim-3`" in s.value for s in at.success)
    finally:
        gate.set()
    assert victim.wait(60) and victim.status == "finished"
    assert checkpoints.read(lab / "victim.pt")["extra"]["job"] == victim.id  # the run's own model
    for name in ("victim-2", "victim-3"):  # the uploads, untouched by the run's save
        meta = checkpoints.read(lab / f"{name}.pt")
        assert meta["metrics"]["accuracy_source"] in ("claimed", "measured") and "job" not in meta["extra"]


def test_per_file_and_total_limits_on_uploads(lab, trained, monkeypatch):
    runner = lab_ui.job_runner()
    with pytest.raises(
        CheckpointError,
        match=r"^big\.pt: 17\.0 MB is too large for a checkpoint \(the limit is "
        r"16\.0 MB",
    ):
        uploads.accept_upload("big.pt", b"\0" * (17 * 2**20), runner=runner)
    good = trained["softmax"].read_bytes()
    monkeypatch.setenv("MNIST_UPLOADS_MAX_MB", str(2.5 * len(good) / 2**20))
    uploads.accept_upload("one.pt", good, runner=runner)
    uploads.accept_upload("two.pt", good, runner=runner)
    with pytest.raises(CheckpointError, match=r"^three\.pt: not saved: the uploaded models kept here already take"):
        uploads.accept_upload("three.pt", good, runner=runner)
    assert sorted(p.name for p in lab.glob("*.pt")) == ["one.pt", "two.pt"]
    restarted = jobs.JobRunner(lab)  # the total survives a restart (status files say which were uploads)
    try:
        restarted.wait_all(60)
        assert restarted.upload_bytes() >= 2 * len(good) - 1024
    finally:
        restarted.close()


def test_each_visitor_has_a_share_of_the_uploads_that_survives_a_restart(lab, trained, monkeypatch):
    """One visitor cannot fill the uploads for everyone: past their share (MNIST_UPLOADS_PER_VISITOR_MB) their
    upload is refused, while another visitor still uploads; deleting one of theirs frees room; a restart
    keeps who uploaded what (the owner key in the status files)."""
    runner = lab_ui.job_runner()
    good = trained["softmax"].read_bytes()
    monkeypatch.setenv("MNIST_UPLOADS_PER_VISITOR_MB", str(1.5 * len(good) / 2**20))
    uploads.accept_upload("a1.pt", good, runner=runner, owner="visitor-a")
    with pytest.raises(
        CheckpointError,
        match=r"^a2\.pt: not saved: your uploaded models already take .* each "
        r"visitor may keep \(MNIST_UPLOADS_PER_VISITOR_MB\); delete one of yours first",
    ):
        uploads.accept_upload("a2.pt", good, runner=runner, owner="visitor-a")
    uploads.accept_upload("b1.pt", good, runner=runner, owner="visitor-b")
    assert sorted(p.name for p in lab.glob("*.pt")) == ["a1.pt", "b1.pt"]
    runner.wait_all(60)  # measured: each file has its measured accuracy written in (its size changes a little)
    mine, theirs = runner.upload_bytes("visitor-a"), runner.upload_bytes("visitor-b")
    assert mine > 0 and theirs > 0 and runner.upload_bytes() == mine + theirs and runner.upload_bytes("c") == 0
    restarted = jobs.JobRunner(lab)
    try:
        assert restarted.upload_bytes("visitor-a") == runner.upload_bytes("visitor-a")
        with pytest.raises(CheckpointError, match="your uploaded models already take"):
            uploads.accept_upload("a2.pt", good, runner=restarted, owner="visitor-a")
        restarted.delete_run("a1", by="visitor-a")
        assert uploads.accept_upload("a2.pt", good, runner=restarted, owner="visitor-a").name == "a2.pt"
        restarted.wait_all(60)
    finally:
        restarted.close()


def test_an_upload_is_named_by_the_rule_new_runs_follow_with_or_without_the_runner(lab, trained):
    """One naming rule (runs.unique_name): without the app's runner an upload still never takes a shipped
    model's name, one Windows refuses, or a file's in the runs folder; the runner adds its jobs' names."""
    good = trained["softmax"].read_bytes()
    assert uploads.accept_upload("softmax.pt", good, runs=lab).name == "softmax-2.pt"
    assert uploads.accept_upload("con.pt", good, runs=lab).name == "con-2.pt"
    assert uploads.accept_upload("con.pt", good, runs=lab).name == "con-3.pt"
    assert uploads.accept_upload("x" * 70 + ".pt", good, runs=lab).name == "x" * runs.NAME_LEN + ".pt"
    runner = jobs.JobRunner(lab)
    try:
        assert runner.unique_name("con", "softmax") == runs.unique_name(lab, "con", "softmax") == "con-4"
        assert uploads.accept_upload("con.pt", good, runner=runner).name == "con-4.pt"
        runner.wait_all(60)
    finally:
        runner.close()


# --- 7. the stop nobody asked for --------------------------------------------------------------------


def test_a_run_finishes_when_its_session_goes_and_others_come(lab, small_data_dir, monkeypatch):
    """Session A starts a run and goes away; session B opens Train, reruns it, and is shown no Stop for
    A's run (before the fix, B's panel watched A's run by default, and B's Stop stopped it); a stop from
    B's token is refused. The run's pace is held by a gate, so all of this happens while it trains, on
    any machine; then it is watched to its end through the job's own snapshots."""
    gate, started = threading.Event(), threading.Event()
    real_train = training.train

    def paced(config, data_root=None, on_event=None, should_stop=None, **kw):
        def event(e):
            if e["type"] == "step" and not gate.is_set():
                started.set()
                gate.wait(120)
            if on_event:
                on_event(e)

        return real_train(config, data_root=data_root, on_event=event, should_stop=should_stop, **kw)

    monkeypatch.setattr(training, "train", paced)
    a = page("app_pages/train.py")
    a.selectbox(key="arch").set_value("softmax").run()
    a.number_input(key="ep_softmax").set_value(2)
    a.text_input[0].input("alpha")
    next(b for b in a.button if b.label == "Start training").click().run()
    assert not a.exception
    runner = lab_ui.job_runner()
    job = next(j for j in runner.jobs() if j.name == "alpha")
    try:
        assert started.wait(120), "the run did not start"
        assert job.status == "running"
        assert any(b.label == "Stop" for b in a.button)  # its own session may stop it
        del a  # session A is gone (its browser closed)
        b = page("app_pages/train.py")
        for _ in range(3):  # a new session, and reruns of Train
            b.run()
            assert not b.exception
            assert [s.value for s in b.selectbox if s.label == "Run"] == [job.id]  # B watches A's run ...
            assert not [x for x in b.button if x.label == "Stop"]  # ... and cannot stop it
            assert any("Started by another visitor" in c.value for c in b.caption)
        assert not runner.stop(job.id, owner=b.session_state["_lab_visitor"])
        assert not job.stop_requested and job.status == "running"
    finally:
        gate.set()
    assert job.wait(120)
    s = job.snapshot()
    assert s["status"] == "finished" and not s["stop_requested"], s["message"]
    assert s["step"] == s["total_steps"] and len(s["epochs"]) == 2
    assert json.loads((lab / "alpha.json").read_text())["status"] == "finished"


def test_only_the_starting_session_or_the_runner_holder_may_stop(lab, small_data_dir, monkeypatch):
    runner = jobs.JobRunner(lab / "other")
    gate = threading.Event()
    real_train = training.train

    def paced(config, data_root=None, on_event=None, should_stop=None, **kw):
        def event(e):
            if e["type"] == "step":
                gate.wait(60)
            if on_event:
                on_event(e)

        return real_train(config, data_root=data_root, on_event=event, should_stop=should_stop, **kw)

    monkeypatch.setattr(training, "train", paced)
    cfg = TrainConfig(arch="softmax", epochs=1, batch_size=64, train_limit=256, device="cpu", log_every=1)
    try:
        job = runner.submit(cfg, "mine", data_root=small_data_dir, owner="session-a")
        assert not runner.stop(job.id, owner="session-b") and not job.stop_requested
        assert runner.stop(job.id, owner="session-a") and job.stop_requested
        other = runner.submit(cfg, "theirs", data_root=small_data_dir, owner="session-b")
        assert not runner.stop(other.id)  # a caller that names no session stops only ownerless jobs
        assert runner.stop(other.id, owners.ANYONE)  # the runner's holder (command line, close) stops any
        gate.set()
        assert runner.wait_all(60)
    finally:
        gate.set()
        runner.close()


# --- 5. memory per session is bounded ------------------------------------------------------------


def test_a_huge_upload_leaves_a_small_bounded_memo(lab, monkeypatch):
    """The 5470 x 5470 PNG of the issue: what the session keeps of it is reduced and bounded."""
    import io

    img = Image.new("L", (5470, 5470), 255)
    img.paste(0, (2000, 1500, 3400, 4000))  # a thick dark bar on white: a "1"
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    assert len(buf.getvalue()) < 200_000
    seen = []
    real_get = lab_ui.ImageMemos.get
    monkeypatch.setattr(lab_ui.ImageMemos, "get", lambda self, key: (seen.append(self), real_get(self, key))[1])
    at = page("app_pages/draw.py")
    at.radio(key="draw_source").set_value("Upload a photo or scan").run()
    memos = None
    for i in range(lab_ui.MEMO_IMAGES + 2):
        name = f"big{i}.png"
        at.file_uploader(key="draw_upload").set_value((name, buf.getvalue(), "image/png")).run()
        assert not at.exception, at.exception
        assert any(m.label == "Prediction" for m in at.metric)
        memos = seen[-1]
        assert all(m is memos for m in seen)  # one store for the session
        assert len(memos.memos) <= lab_ui.MEMO_IMAGES and memos.nbytes() <= lab_ui.MEMO_BYTES
    biggest = max((v for m in memos.memos.values() for v in _arrays(m)), key=lambda a: a.nbytes)
    assert max(biggest.shape[:2]) <= lab_ui.KEPT_SIDE, biggest.shape


def _arrays(x):
    if isinstance(x, np.ndarray):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _arrays(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _arrays(v)


def test_image_memos_keep_the_newest_within_their_budget():
    """Each image's results are trimmed when the next image comes: count first, then bytes."""
    memos = lab_ui.ImageMemos(keep=3, budget=10_000)
    for i in range(5):
        memos.get(f"k{i}")["x"] = np.zeros(4000, np.uint8)
        assert len(memos.memos) <= 3
    assert list(memos.memos) == ["k2", "k3", "k4"]
    memos.get("k5")["x"] = np.zeros(9000, np.uint8)  # one image over the count: the oldest goes
    assert list(memos.memos) == ["k3", "k4", "k5"]
    memos.get("k6")  # 17,000 bytes held: over the budget, the oldest go until it fits
    assert list(memos.memos) == ["k5", "k6"] and memos.nbytes() <= 10_000
    memos.get("huge")["x"] = np.zeros(50_000, np.uint8)  # the newest is always kept ...
    memos.get("next")  # ... until the next one comes
    assert list(memos.memos) == ["next"]
