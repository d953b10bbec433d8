"""Unit tests for what Compare measures and says: mnist_core.measure (summaries), mnist_core.evaluation (the
test set), mnist_core.cache (the disk cache), mnist_core.compare (the table's wording, uploads)."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from compare_helpers import ARCHS, code_running_checkpoint, make_model, use_models

from mnist_core import (
    cache,
    checkpoints,
    compare,
    data,
    devices,
    evaluation,
    finetuning,
    inference,
    measure,
    owners,
    pen,
    uploads,
)
from mnist_core.models import ARCHS as REGISTRY
from mnist_core.models import build, param_count


@pytest.fixture(scope="session")
def trained(tmp_path_factory, small_data_dir) -> dict[str, Path]:
    """Two small checkpoints trained on the synthetic digits (made once per session)."""
    d = tmp_path_factory.mktemp("compare_models")
    return {a: make_model(d / f"{a}.pt", a, small_data_dir) for a in ARCHS}


@pytest.fixture
def models(trained, tmp_path, monkeypatch, small_data_dir) -> Path:
    """A fresh copy of the models as the shipped dir, an empty runs dir, the small data set."""
    return use_models(trained, tmp_path, monkeypatch, small_data_dir)


def entry(name: str) -> inference.ModelEntry:
    return next(e for e in inference.model_entries() if e.name == name)


def test_summaries_match_checkpoints(models):
    rows, problems = measure.summaries()
    assert problems == []
    assert [r["name"] for r in rows] == [a for a in REGISTRY if a in ARCHS]
    for r in rows:
        meta = checkpoints.read(r["path"])
        assert r["arch"] == meta["arch"]
        assert r["test_accuracy"] == meta["metrics"]["test_accuracy"]
        assert r["train_seconds"] == meta["metrics"]["train_seconds"]
        assert r["epochs"] == meta["history"]["epochs"][-1]["epoch"]
        assert r["device"] == "cpu"
        assert r["params"] == param_count(build(r["arch"]))
        assert r["reported_accuracy"] == REGISTRY[r["arch"]].reported_accuracy
        assert r["latency_ms"] > 0
        assert 0 <= r["drawn_accuracy"] <= 1
        assert r["history"]["steps"] == meta["history"]["steps"]
    top = compare.best(rows)
    assert top["test_accuracy"] == max(r["test_accuracy"] for r in rows)


def test_curve_points_follow_history(models):
    rows, _ = measure.summaries()
    eps, steps = compare.epoch_points(rows), compare.step_points(rows)
    for r in rows:
        hist = checkpoints.read(r["path"])["history"]
        mine = [p for p in steps if p["model"] == r["name"]]
        assert [[p["step"], p["epoch"], p["loss"], p["seconds"]] for p in mine] == hist["steps"]
        assert [p["test_accuracy"] for p in eps if p["model"] == r["name"]] == [
            e["test_accuracy"] for e in hist["epochs"]
        ]
        assert len(mine) > 1


def test_drawn_accuracy_matches_generator(models, small_data_dir):
    drawn = pytest.importorskip("mnist_core.drawn")
    e = entry("softmax")
    row = measure.summary(e)
    p = inference.load_model(e.path)
    expected = drawn.drawn_accuracy(p, n=measure.DRAWN_N, seed=measure.DRAWN_SEED, data_root=small_data_dir)
    assert row["redrawn_accuracy"] == pytest.approx(expected, abs=1e-9)


def test_drawn_accuracy_is_the_real_handwriting_benchmark(models):
    """The Drawn-digit column: UNIPEN's benchmark writers drawn on the canvas (pen.benchmark)."""
    if not pen.is_available():
        pytest.skip("no UNIPEN file")
    e = entry("softmax")
    row = measure.summary(e)
    assert row["drawn_accuracy"] == pytest.approx(pen.benchmark(inference.load_model(e.path))["accuracy"], abs=1e-9)


def test_evaluation_matches_direct_evaluation(models, small_data_dir):
    e = entry("mlp_128_64")
    ev = evaluation.on_test_set(e)
    split = data.load("mnist", train=False, root=small_data_dir)
    ref = evaluation.evaluate(inference.load_model(e.path), split.images, split.labels)
    np.testing.assert_array_equal(ev.confusion, ref["confusion"])
    np.testing.assert_allclose(ev.per_class, ref["per_class"])
    assert ev.accuracy == pytest.approx(ref["accuracy"])
    assert ev.n == len(split) and ev.confusion.sum() == len(split)
    assert ev.mistakes == int((ref["predictions"] != split.labels.numpy()).sum()) > 0
    assert len(ev.mistake_index) == min(ev.mistakes, evaluation.MISTAKES_KEPT)
    assert np.all(np.diff(ev.mistake_conf) <= 0), "most confident mistakes first"
    assert np.all(ev.mistake_pred != ev.mistake_true)
    np.testing.assert_array_equal(ev.mistake_true, split.labels.numpy()[ev.mistake_index])
    np.testing.assert_array_equal(ev.mistake_images, split.images.numpy()[ev.mistake_index])
    np.testing.assert_allclose(ev.mistake_conf, ref["probs"][ev.mistake_index, ev.mistake_pred], rtol=1e-6)


def test_gallery_images_and_captions(models):
    ev = evaluation.on_test_set(entry("softmax"))
    shown = evaluation.gallery(ev, k=5, scale=3)
    assert len(shown) == min(5, ev.mistakes)
    for (img, caption), i in zip(shown, range(len(shown)), strict=True):
        assert img.shape == (84, 84) and img.dtype == np.uint8
        np.testing.assert_array_equal(img[::3, ::3], ev.mistake_images[i])
        assert caption.startswith(f"predicted {ev.mistake_pred[i]}, true {ev.mistake_true[i]}")


def test_cache_hit_loads_nothing(models, monkeypatch):
    rows_before, _ = measure.summaries()
    evs_before = {e.name: evaluation.on_test_set(e) for e in inference.model_entries()}

    def refuse(*a, **k):
        raise AssertionError("a cache hit must not load any checkpoint")

    monkeypatch.setattr(checkpoints, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    rows_after, problems = measure.summaries()
    evs_after = {e.name: evaluation.on_test_set(e) for e in inference.model_entries()}
    assert problems == [] and rows_after == rows_before
    for name, ev in evs_before.items():
        np.testing.assert_array_equal(evs_after[name].confusion, ev.confusion)
        np.testing.assert_array_equal(evs_after[name].mistake_images, ev.mistake_images)


def test_cache_survives_a_restart(models):
    """The cache is on disk: another process (a restarted server) finds it."""
    import subprocess
    import sys

    measure.summaries()
    evaluation.on_test_set(entry("softmax"))
    code = (
        "import torch; from mnist_core import checkpoints, evaluation, inference, measure\n"
        "def refuse(*a, **k): raise SystemExit('loaded a checkpoint')\n"
        "checkpoints.load = torch.load = refuse\n"
        "measure.summaries()\n"
        "[evaluation.on_test_set(e) for e in inference.model_entries() if e.name == 'softmax']\n"
        "print('cached')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=Path(__file__).resolve().parent.parent,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "cached"


def test_cache_invalidated_when_checkpoint_changes(models, small_data_dir, monkeypatch):
    e = entry("softmax")
    first = measure.summary(e)
    ev_first = evaluation.on_test_set(e)
    first_bytes = e.path.read_bytes()
    # Replace the checkpoint with a differently trained one (another seed and length).
    make_model(e.path, "softmax", small_data_dir, epochs=1, seed=7)
    new_meta = checkpoints.read(e.path)
    second = measure.summary(e)
    assert second["test_accuracy"] == new_meta["metrics"]["test_accuracy"]
    assert second["history"]["steps"] == new_meta["history"]["steps"] != first["history"]["steps"]
    ev_second = evaluation.on_test_set(e)
    assert ev_second.accuracy == pytest.approx(float(np.trace(ev_second.confusion)) / ev_second.n)
    assert not np.array_equal(ev_second.confusion, ev_first.confusion)
    # The entries follow the bytes, not the file's dates: a touch measures nothing again, and the first
    # version's bytes back in place find its entries.
    calls = []
    real = checkpoints.load
    monkeypatch.setattr(checkpoints, "load", lambda p: calls.append(p) or real(p))
    st = e.path.stat()
    os.utime(e.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert measure.summary(e) == second and evaluation.on_test_set(e).accuracy == ev_second.accuracy
    e.path.write_bytes(first_bytes)
    assert measure.summary(e) == first
    np.testing.assert_array_equal(evaluation.on_test_set(e).confusion, ev_first.confusion)
    assert calls == []


def test_a_renamed_run_keeps_its_measurements_and_a_changed_one_is_measured_again(models, tmp_path, monkeypatch):
    measure.summaries()
    runs = tmp_path / "runs"  # the cache is in it already (runs/.cache)
    old = runs / "mine.pt"
    old.write_bytes((models / "mlp_128_64.pt").read_bytes())
    calls = []
    real = checkpoints.load
    with monkeypatch.context() as m:
        m.setattr(checkpoints, "load", lambda p: calls.append(p) or real(p))
        row = next(r for r in measure.summaries()[0] if r["name"] == "mine")
    # The bytes of a shipped model, but a run: its own entry (a shipped model's real-handwriting figure is the
    # one stored in it, a run's is measured).
    assert calls == [old]
    ev = evaluation.on_test_set(entry("mine"))
    entries = sorted(p.name for p in cache.folder().iterdir())

    def refuse(*args, **kwargs):
        raise AssertionError("a renamed run was measured again")

    os.replace(old, runs / "renamed.pt")  # what the runner's rename_run does to the checkpoint
    with monkeypatch.context() as m:
        m.setattr(checkpoints, "load", refuse)
        m.setattr(torch, "load", refuse)
        rows, problems = measure.summaries()
        again = evaluation.on_test_set(entry("renamed"))
    assert problems == [] and "mine" not in {r["name"] for r in rows}
    moved = next(r for r in rows if r["name"] == "renamed")
    assert moved == {**row, "name": "renamed", "path": str(runs / "renamed.pt")}
    np.testing.assert_array_equal(again.confusion, ev.confusion)
    assert sorted(p.name for p in cache.folder().iterdir()) == entries  # nothing new was written

    checkpoints.update_metrics(runs / "renamed.pt", test_accuracy=0.5)  # new bytes: a new version
    calls.clear()
    monkeypatch.setattr(checkpoints, "load", lambda p: calls.append(p) or real(p))
    changed = next(r for r in measure.summaries()[0] if r["name"] == "renamed")
    assert changed["test_accuracy"] == 0.5 and len(calls) == 1
    evaluation.on_test_set(entry("renamed"))
    assert len(calls) == 2


def test_the_cache_folder_is_bounded(tmp_path, monkeypatch):
    """Entries no checkpoint asks for any more (a deleted run's, an old version's) go in time."""
    cdir = tmp_path / "cache"
    cdir.mkdir()
    targets = [cache.entry("summary", "json", f"content {i}", cdir=cdir) for i in range(6)]
    now = time.time()
    for i, t in enumerate(targets):
        t.write_bytes(b"{}")
        when = 1000.0 + i if i < 2 else now - 10 + i  # the first two not read for decades
        os.utime(t, (when, when))
    (cdir / ".summary-x.json.tmp").write_bytes(b"a write in progress")
    assert sorted(cache.prune(cdir, keep=3)) == sorted(targets[:3])  # too old, then least recently read
    assert set(cdir.iterdir()) == {*targets[3:], cdir / ".summary-x.json.tmp"}
    old = now - 2 * cache.TOUCH_AFTER_S
    os.utime(targets[3], (old, old))
    assert cache.read(targets[3]) == b"{}" and targets[3].stat().st_mtime > old  # a read marks it used
    monkeypatch.setattr(cache, "KEEP", 2)
    cache.store(targets[0], b"{}")  # every store prunes
    assert {p for p in cdir.iterdir() if not p.name.startswith(".")} == {targets[0], targets[3]}
    assert cache.read(cdir / "missing.json") is None
    assert cache.prune(tmp_path / "no such folder") == []


def test_corrupt_cache_files_are_recomputed(models):
    e = entry("softmax")
    row = measure.summary(e)
    ev = evaluation.on_test_set(e)
    for p in cache.folder().iterdir():
        p.write_bytes(b"\x00garbage")
    assert measure.summary(e)["test_accuracy"] == row["test_accuracy"]
    np.testing.assert_array_equal(evaluation.on_test_set(e).confusion, ev.confusion)


def test_unwritable_cache_dir_still_works(models, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder would go")
    row = measure.summary(entry("softmax"), cdir=blocker / "cache")
    assert row["test_accuracy"] == checkpoints.read(row["path"])["metrics"]["test_accuracy"]
    assert evaluation.on_test_set(entry("softmax"), cdir=blocker / "cache").n > 0


def test_missing_test_set(models, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no_data"))
    rows, problems = measure.summaries()
    assert problems == [] and len(rows) == len(ARCHS)
    for r in rows:  # metadata still there; the MNIST re-render says why it is missing
        assert r["test_accuracy"] == checkpoints.read(r["path"])["metrics"]["test_accuracy"]
        assert r["redrawn_accuracy"] is None and "not available" in r["redrawn_note"]
        assert pen.is_available() is (r["drawn_accuracy"] is not None)  # real handwriting needs no MNIST
    with pytest.raises(data.DataUnavailable, match="MNIST test set is not available"):
        evaluation.on_test_set(entry("softmax"))


def test_bad_checkpoints_reported_others_listed(models, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "junk.pt").write_bytes(os.urandom(2000))
    (runs / "half.pt").write_bytes((models / "softmax.pt").read_bytes()[:3000])
    rows, problems = measure.summaries()
    assert sorted(r["name"] for r in rows) == sorted(ARCHS)
    assert len(problems) == 2
    assert any(p.startswith("junk.pt:") for p in problems) and any(p.startswith("half.pt:") for p in problems)


# --- a shipped model's measurements, kept beside its checkpoint -------------------------------------------


def test_kept_measurements_are_read_not_measured_and_a_changed_checkpoint_is_measured_again(
    models, small_data_dir, monkeypatch
):
    """A fresh clone (an empty cache folder) with the shipped models' measurements kept beside them measures
    none of them: it times their latency only (this machine's), and says so; a changed checkpoint finds its
    kept figures not its own, and is the only model measured."""
    written = measure.keep_shipped()
    assert sorted(written) == sorted(cache.kept_path(models / f"{a}.pt") for a in ARCHS)
    assert measure.keep_shipped() == []  # they are current: nothing written again
    kept = {a: cache.read_kept(models / f"{a}.pt", measure.checkpoint_key(models / f"{a}.pt")) for a in ARCHS}
    assert all(k and k["redrawn_accuracy"] is not None and "latency_ms" not in k for k in kept.values())
    real_measure, progress = measure._measure, []  # (checked, then the real one)

    def refuse(*args, **kwargs):
        raise AssertionError("a shipped model with its measurements kept was measured")

    with monkeypatch.context() as m:
        m.setattr(measure, "_measure", refuse)
        rows, problems = measure.summaries(on_progress=lambda *args: progress.append(args))
        assert problems == [] and [r["name"] for r in rows] == [a for a in REGISTRY if a in ARCHS]
        for r in rows:
            assert {k: v for k, v in r.items() if k in kept[r["name"]]} == kept[r["name"]] and r["latency_ms"] > 0
        names = [a for a in REGISTRY if a in ARCHS]
        assert progress == [(k, len(names), n, measure.TIMING) for k, n in enumerate(names, 1)]

        progress.clear()  # the latency is cached: the next visit loads no checkpoint and shows no progress
        m.setattr(checkpoints, "load", refuse)
        assert measure.summaries(on_progress=lambda *args: progress.append(args)) == (rows, []) and progress == []

    make_model(models / "softmax.pt", "softmax", small_data_dir, epochs=1, seed=7)  # new bytes
    measured = []
    monkeypatch.setattr(measure, "_measure", lambda p, *a, **k: measured.append(p.name) or real_measure(p, *a, **k))
    rows, _ = measure.summaries(on_progress=lambda *args: progress.append(args))
    assert measured == ["softmax.pt"] and [p[:3] for p in progress] == [(1, 1, "softmax")]
    assert "real handwriting" in progress[0][3] and "MNIST re-drawn" in progress[0][3]
    assert (
        next(r for r in rows if r["name"] == "softmax")["test_accuracy"]
        == (checkpoints.read(models / "softmax.pt")["metrics"]["test_accuracy"])
    )


def test_kept_measurements_need_the_data_and_are_a_shipped_models_only(models, tmp_path, small_data_dir, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no_data"))
    with pytest.raises(data.DataUnavailable, match="MNIST's test set"):
        measure.keep_shipped()  # kept figures are whole: never written without the data
    assert not list(models.glob(f"*{cache.KEPT_SUFFIX}"))
    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    measure.keep_shipped()
    runs = tmp_path / "runs"  # a shipped model's bytes and kept figures under a run's name: measured as a run
    runs.mkdir()
    (runs / "mine.pt").write_bytes((models / "softmax.pt").read_bytes())
    cache.kept_path(runs / "mine.pt").write_bytes(cache.kept_path(models / "softmax.pt").read_bytes())
    progress = []
    measure.summaries(on_progress=lambda *args: progress.append(args))
    assert [p[2] for p in progress if p[3] != measure.TIMING] == ["mine"]


def test_every_shipped_model_has_its_measurements_kept_beside_it():
    """models/: each checkpoint with its figures kept for its very bytes and this version of the measurements
    (after retraining one, or a new CACHE_VERSION: measure.keep_shipped writes them again)."""
    shipped = Path(__file__).resolve().parent.parent / "models"
    checkpoints_ = sorted(shipped.glob(f"*{checkpoints.SUFFIX}"))
    if not checkpoints_:
        pytest.skip("no shipped models")
    for path in checkpoints_:
        kept = cache.read_kept(path, measure.checkpoint_key(path))
        assert kept is not None, f"{path.name}: no measurements kept for it (run measure.keep_shipped)"
        assert kept["drawn_accuracy"] is not None and kept["redrawn_accuracy"] is not None, path.name
        assert kept["test_accuracy"] == checkpoints.read(path)["metrics"]["test_accuracy"]


# --- uploads ------------------------------------------------------------------------------------


def test_upload_valid_checkpoint(models, tmp_path):
    runs = tmp_path / "runs"
    content = (models / "softmax.pt").read_bytes()
    saved = uploads.accept_upload("../../My run 😀.pt", content)
    assert saved.parent == runs.resolve() and saved.name == "My_run.pt"
    stored, original = checkpoints.read(saved), checkpoints.read(models / "softmax.pt")
    assert stored["state_dict"].keys() == original["state_dict"].keys()  # the upload, its accuracy only claimed
    assert all(torch.equal(stored["state_dict"][k], v) for k, v in original["state_dict"].items())
    assert stored["metrics"]["claimed_test_accuracy"] == original["metrics"]["test_accuracy"]
    assert stored["metrics"]["test_accuracy"] is None
    again = uploads.accept_upload("../../My run 😀.pt", content)
    assert again.name == "My_run-2.pt"
    assert {e.name for e in inference.model_entries()} >= {"My_run", "My_run-2", *ARCHS}
    assert not [p for p in runs.iterdir() if p.name.startswith(".upload-")]


def _edited(path: Path, tmp_path: Path, **changes) -> bytes:
    """The checkpoint at `path` with some fields replaced, as bytes."""
    payload = {**checkpoints.read(path), **changes}
    out = tmp_path / "edited.pt"
    torch.save(payload, out)
    return out.read_bytes()


@pytest.mark.parametrize(
    "kind", ["random", "truncated", "empty", "text", "wrong_shape", "unknown_arch", "plain_torch_file"]
)
def test_upload_refuses_bad_files(models, tmp_path, kind):
    src = models / "mlp_128_64.pt"
    content = {
        "random": lambda: os.urandom(5000),
        "truncated": lambda: src.read_bytes()[: src.stat().st_size // 2],
        "empty": lambda: b"",
        "text": lambda: b"hello, I am not a model\n" * 10,
        "wrong_shape": lambda: _edited(src, tmp_path, state_dict={"0.weight": torch.zeros(3, 3)}),
        "unknown_arch": lambda: _edited(src, tmp_path, arch="transformer9000"),
        "plain_torch_file": lambda: _torch_bytes(tmp_path, {"weights": torch.ones(3)}),
    }[kind]()
    before = [e.name for e in inference.model_entries()]
    with pytest.raises(checkpoints.CheckpointError) as info:
        uploads.accept_upload(f"upload_{kind}.pt", content)
    assert str(info.value).startswith(f"upload_{kind}.pt:")
    assert ".upload-" not in str(info.value)
    assert [e.name for e in inference.model_entries()] == before
    runs = tmp_path / "runs"
    assert not list(runs.iterdir()), "nothing is left behind in the runs dir"


def _torch_bytes(tmp_path: Path, obj) -> bytes:
    p = tmp_path / "plain.pt"
    torch.save(obj, p)
    return p.read_bytes()


@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_upload_refuses_code_running_pickle(models, tmp_path, fmt):
    # Control: the crafted file really runs code when unpickled without weights_only.
    control_marker = tmp_path / "control_ran"
    control = code_running_checkpoint(tmp_path / "control.pt", control_marker, fmt)
    if fmt == "torch":
        torch.load(control, weights_only=False)
    else:
        pickle.loads(control.read_bytes())
    assert control_marker.is_dir()

    marker = tmp_path / "upload_ran"
    evil = code_running_checkpoint(tmp_path / "evil.pt", marker, fmt)
    with pytest.raises(checkpoints.CheckpointError) as info:
        uploads.accept_upload("evil.pt", evil.read_bytes())
    assert str(info.value).startswith("evil.pt:")
    assert not marker.exists(), "the uploaded pickle ran code"
    assert sorted(e.name for e in inference.model_entries()) == sorted(ARCHS)


def test_upload_too_large_is_refused_before_writing(models, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "MAX_BYTES", 1000)
    with pytest.raises(checkpoints.CheckpointError, match=r"^big\.pt: .*too large"):
        uploads.accept_upload("big.pt", b"x" * 2000)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_summary_json_is_plain(models):
    measure.summaries()
    files = list(cache.folder().glob("*.json"))
    assert len(files) == len(ARCHS)
    for f in files:
        assert isinstance(json.loads(f.read_text()), dict)


# --- what the table says: where a time was measured, settings, tutorial figures ----------------------


def test_a_saved_run_records_the_machine_load_and_the_summary_keeps_it(models):
    rows, _ = measure.summaries()
    for r in rows:
        metrics = checkpoints.read(r["path"])["metrics"]
        assert isinstance(metrics["cpu_count"], int) and metrics["cpu_count"] >= 1
        assert metrics["load_1min"] is None or metrics["load_1min"] >= 0
        # the row's load is the highest seen through the run (None for checkpoints made before it was kept)
        assert (r["load_1min"], r["cpu_count"]) == (metrics.get("load_1min_max"), metrics["cpu_count"])
        assert r["config"]["optimizer"] == checkpoints.read(r["path"])["config"]["optimizer"]


def test_machine_load_without_a_load_average(monkeypatch):

    monkeypatch.delattr(os, "getloadavg")  # Windows
    assert devices.machine_load()["load_1min"] is None and devices.machine_load()["cpu_count"] >= 1
    assert compare.timed_on({"device": "cpu", **devices.machine_load()}) == "CPU, load not recorded"


@pytest.mark.parametrize(
    "row, text",
    [
        ({"device": "cpu"}, "CPU, load not recorded"),  # a checkpoint made before the load was recorded
        ({"device": "cpu", "load_1min": 1.9, "cpu_count": 2}, "2 CPU cores, idle (load 1.9)"),
        ({"device": "cpu", "load_1min": 5.7, "cpu_count": 2}, "2 CPU cores, busy: load 5.7"),
        ({"device": "cuda", "load_1min": 1.0, "cpu_count": 16}, "GPU, 16 CPU cores, idle (load 1.0)"),
        ({"device": "cpu", "load_1min": "high", "cpu_count": True}, "CPU, load not recorded"),  # odd values: unknown
    ],
)
def test_timed_on_says_where_a_time_was_measured(row, text):
    assert compare.timed_on(row) == text


def test_only_idle_timed_training_seconds_are_shown_and_the_others_are_named():
    idle = {"name": "a", "train_seconds": 80.0, "device": "cpu", "load_1min": 2.0, "cpu_count": 2}
    assert compare.timing_caveat([idle]) is None
    rows = [idle, {"name": "cnn", "train_seconds": 450.5, "device": "cpu"}, {**idle, "name": "b", "load_1min": 6.0}]
    caveat = compare.timing_caveat(rows)
    assert "b trained on a busy machine; cnn carries no record of the load through the run" in caveat
    assert "a," not in caveat and "not shown" in caveat
    assert compare.timing_caveat([{"name": "upload", "train_seconds": None}]) is None
    # the table shows none rather than a busy machine's seconds
    shown = {r["name"]: r["train_seconds"] for r in compare.table_rows(rows)}
    assert shown == {"a": 80.0, "cnn": None, "b": None}


def test_settings_tell_two_runs_apart():
    base = {
        "optimizer": "adam",
        "lr": 0.001,
        "schedule": "constant",
        "batch_size": 128,
        "epochs": 1,
        "augment": False,
        "pen_data": False,
        "dataset": "mnist",
        "init_from": "",
        "collection": "",
    }
    a = compare.settings_text({"arch": "cnn", "config": base})
    assert a == "cnn · adam lr 0.001 · batch 128 · 1 epoch"
    b = compare.settings_text({"arch": "cnn", "config": {**base, "lr": 0.02, "augment": True, "pen_data": True}})
    assert b == "cnn · adam lr 0.02 · batch 128 · 1 epoch · augmented · pen data"
    tuned = compare.settings_text(
        {
            "arch": "cnn",
            "config": {
                **base,
                "schedule": "onecycle",
                "max_steps": 300,
                "init_from": "/x/models/cnn.pt",
                "collection": "mine",
            },
        }
    )
    assert tuned == "cnn · adam lr 0.001 onecycle · batch 128 · 300 steps · fine-tuned from cnn · on drawings 'mine'"
    assert compare.settings_text({"arch": "lenet", "config": {**base, "dataset": "fashion", "epochs": 5}}) == (
        "lenet · FashionMNIST · adam lr 0.001 · batch 128 · 5 epochs"
    )
    assert compare.settings_text({"arch": "softmax", "config": {}}) == "softmax · ?"  # a file without settings


def test_tutorial_figures_keep_mnist_accuracies_apart_from_other_measures():
    for name, arch in REGISTRY.items():
        number, said = compare.tutorial(name)
        assert said and said != "None"
        if arch.reported_dataset == "mnist":
            assert number == arch.reported_accuracy
        else:
            assert number is None
    assert compare.tutorial("lenet") == (None, "87.4% on FashionMNIST after 5 epochs")
    number, said = compare.tutorial("mlp_128_256")
    assert number is None and said.startswith("MNIST: validation loss 0.387 after 25 epochs")
    assert compare.tutorial("softmax") == (0.9768, "MNIST: 97.68% test accuracy after 100 epochs")
    assert compare.tutorial("mlp_128_64") == (None, "no figure reported")


def test_missing_notes_say_why_a_cell_is_empty():
    rows = [
        {"name": "a", "test_accuracy": 0.9, "drawn_accuracy": None, "drawn_note": "trained on another dataset"},
        {
            "name": "b",
            "test_accuracy": None,
            "accuracy_source": "claimed",
            "drawn_accuracy": None,
            "drawn_note": "trained on another dataset",
            "drawings_accuracy": 0.5,
        },
    ]
    notes = compare.missing_notes(
        rows,
        {"test_accuracy": "Test accuracy", "drawn_accuracy": "Real handwriting", "drawings_accuracy": "Your drawings"},
        {"a": "no held-out drawings"},
    )
    assert notes == [
        "Real handwriting — a, b: trained on another dataset",
        "Your drawings — a: no held-out drawings",
        "Test accuracy — b: only claimed by the uploaded file until it is measured here",
    ]


# --- accuracy on a collection of the user's drawings -------------------------------------------------


def _collection(runs: Path, name: str, per_digit: int, seed: int = 5):
    from conftest import synthetic_digits

    from mnist_core import drawings

    store = drawings.DrawingStore(runs)
    images, labels = synthetic_digits(400, seed)
    for d in range(10):
        for img in images[labels == d][:per_digit]:
            store.add(name, d, img, by=owners.ANYONE)
    return store


def test_collection_accuracy_is_measured_on_the_held_out_part_and_cached(models, tmp_path, monkeypatch):
    from mnist_core import drawings

    runs = tmp_path / "runs"
    assert measure.drawing_collections() == ({}, None) and not (runs / drawings.DB_NAME).exists()  # never created
    store = _collection(runs, "mine", per_digit=10)
    assert measure.drawing_collections() == ({"mine": 100}, None)
    rows, _ = measure.summaries()
    scores, notes, held, of = measure.collection_accuracies(rows, "mine")
    assert held == of == 20 and notes == {}  # every fifth of each digit: 2 of each
    xs, labels = finetuning.arrays(store.split("mine")[1])
    for r in rows:
        p = inference.load_model(r["path"])
        assert scores[r["name"]] == pytest.approx(float((p.proba_batch(xs / 255.0).argmax(1) == labels).mean()))

    def refuse(*args, **kwargs):
        raise AssertionError("measured again")

    with monkeypatch.context() as m:
        m.setattr(checkpoints, "load", refuse)
        assert measure.collection_accuracies(rows, "mine")[0] == scores
        with pytest.raises(AssertionError, match="measured again"):  # new drawings: a new held-out content
            _collection(runs, "mine", per_digit=5, seed=6)
            measure.collection_accuracies(rows, "mine")


def test_a_collection_without_held_out_drawings_says_so(models, tmp_path):
    _collection(tmp_path / "runs", "few", per_digit=3)
    rows, _ = measure.summaries()
    scores, notes, held, _ = measure.collection_accuracies(rows, "few")
    assert held == 0 and set(scores.values()) == {None}
    assert all("needs 5 drawings" in n for n in notes.values()) and set(notes) == {r["name"] for r in rows}


def test_a_foreign_drawings_database_is_named_not_used(models, tmp_path):
    from mnist_core import drawings

    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / drawings.DB_NAME).write_bytes(b"not a database at all" * 100)
    found, problem = measure.drawing_collections()
    assert found == {} and "drawings.sqlite3 in the runs folder" in problem and str(runs) not in problem
