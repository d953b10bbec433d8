"""Page tests (streamlit.testing.v1.AppTest) for the Compare page, on small test-made models.

The models are trained briefly on the test-made small data set; they are the "shipped" models
here ($MNIST_MODELS_DIR), and the runs folder starts empty. The page runs in this process, so
monkeypatching mnist_core's modules reaches it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from compare_helpers import ARCHS, make_model, use_models
from helpers import open_page, unmarked
from streamlit.testing.v1 import AppTest

from mnist_core import checkpoints, compare, data, evaluation, inference, measure, uploads

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TABS = ["Test accuracy per epoch", "Loss per step, by epoch", "Loss per step, by wall-clock seconds"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_data_dir) -> dict[str, Path]:
    """Two small checkpoints of different architectures (made once for this module)."""
    d = tmp_path_factory.mktemp("page_models")
    return {a: make_model(d / f"{a}.pt", a, small_data_dir, epochs=2 + i) for i, a in enumerate(ARCHS)}


@pytest.fixture
def lab(trained, tmp_path, monkeypatch, small_data_dir) -> Path:
    """The test-made models as the shipped ones, an empty runs folder, the small data set."""
    return use_models(trained, tmp_path, monkeypatch, small_data_dir)


def compare_page() -> AppTest:
    """The Compare page, reached as a visitor does (the app, then the page)."""
    return open_page("app_pages/compare.py", timeout=180)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(node.proto.spec) for node in at.get("plotly_chart")]


def values(v) -> np.ndarray:
    """A trace's x, y or z: a list, or Plotly's typed array {"dtype", "bdata", "shape"} (base64)."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape([int(n) for n in str(v["shape"]).split(",")]) if "shape" in v else out
    return np.asarray(v)


def table(at: AppTest):
    (df,) = [d.value for d in at.dataframe]
    return df


def test_table_lists_every_model_with_its_checkpoint_figures(lab):
    at = compare_page()
    df = table(at)
    assert list(df["Model"]) == list(ARCHS)
    for row in df.to_dict("records"):
        meta = checkpoints.read(lab / f"{row['Model']}.pt")
        assert row["Settings"].startswith(f"{meta['arch']} · ")
        assert row["Test accuracy"] == pytest.approx(meta["metrics"]["test_accuracy"])
        m = meta["metrics"]  # a time is shown only when the run was timed on idle cores (this machine's load)
        idle = compare.timed_idle({"load_1min": m.get("load_1min_max"), "cpu_count": m.get("cpu_count")})
        shown = row["Training time (s)"]
        assert shown == pytest.approx(m["train_seconds"]) if idle else pd.isna(shown)
        assert row["Epochs"] == meta["history"]["epochs"][-1]["epoch"]
        assert 0 <= row["Real handwriting"] <= 1 and row["Latency (ms)"] > 0
    best = df.loc[df["Test accuracy"].idxmax(), "Model"]
    assert any(c.value.startswith(f"Best test accuracy: `{best}`") for c in at.caption)
    assert not at.warning and not at.error


def test_a_progress_line_names_each_model_measured_and_counts_them(lab, monkeypatch):
    """While anything is measured the page says which model, what, and how many are left ("1 of 2"); a
    second visit measures nothing and shows no progress."""
    from streamlit.elements.progress import ProgressMixin

    shown, real = [], ProgressMixin.progress
    monkeypatch.setattr(
        ProgressMixin, "progress", lambda dg, value, text=None: shown.append(text) or real(dg, value, text)
    )
    at = compare_page()
    assert [unmarked(t) for t in shown] == [
        f"Measuring `{a}` (real handwriting, MNIST re-drawn, latency), once per checkpoint… {k} of {len(ARCHS)}"
        for k, a in enumerate(ARCHS, 1)
    ]
    assert not at.get("progress")  # gone once measured
    shown.clear()
    compare_page()
    assert shown == []


def test_curves_confusion_matrices_per_class_and_gallery(lab, small_data_dir):
    at = compare_page()
    assert at.multiselect(key="cmp_pick").value == sorted(
        ARCHS, key=lambda a: -checkpoints.read(lab / f"{a}.pt")["metrics"]["test_accuracy"]
    )
    assert [t.label for t in at.tabs] == TABS
    assert [s.value for s in at.subheader] == [
        "Training curves",
        "Does its confidence mean what it says?",
        "Confusion matrices",
        "Per-class accuracy",
        "Misclassified test digits",
        "Download and upload",
    ]
    figs = figures(at)
    curves, reliability, rest = figs[:3], figs[3], figs[4:]
    assert sorted(t["name"] for t in reliability["data"]) == sorted(ARCHS)  # one line of bins per model
    assert reliability["layout"]["shapes"][0]["x1"] == 1  # the diagonal: a confidence that means what it says
    for t in reliability["data"]:
        assert all(0 <= v <= 1 for v in [*values(t["x"]), *values(t["y"])])
    assert any("dotted diagonal" in c.value for c in at.caption)
    for fig in curves:
        assert sorted(t["name"] for t in fig["data"]) == sorted(ARCHS)
    accuracy_curve = {t["name"]: t["y"] for t in curves[0]["data"]}
    n_test = len(data.load("mnist", train=False, root=small_data_dir))
    for a in ARCHS:
        hist = checkpoints.read(lab / f"{a}.pt")["history"]
        assert values(accuracy_curve[a]).tolist() == pytest.approx([e["test_accuracy"] for e in hist["epochs"]])
        loss = {t["name"]: t for t in curves[1]["data"]}[a]
        assert values(loss["y"]).tolist() == pytest.approx([p[2] for p in hist["steps"]])
    confusions = [f for f in rest if f["data"][0]["type"] == "heatmap"]
    assert len(confusions) == len(ARCHS)
    for fig in confusions:
        z = values(fig["data"][0]["z"])
        name = fig["layout"]["title"]["text"].split(":")[0]
        assert z.shape == (10, 10) and z.sum() == n_test
        ev = evaluation.on_test_set(next(e for e in inference.model_entries() if e.name == name))
        np.testing.assert_array_equal(z, ev.confusion)
    (bars,) = [f for f in rest if f["data"][0]["type"] == "bar"]
    assert sorted(t["name"] for t in bars["data"]) == sorted(ARCHS)
    (gallery,) = at.image
    shown = at.selectbox(key="cmp_gallery_model").value
    ev = evaluation.on_test_set(next(e for e in inference.model_entries() if e.name == shown))
    assert len(gallery.value) == min(24, ev.mistakes) > 0
    assert gallery.captions[0].startswith(f"predicted {ev.mistake_pred[0]}, true {ev.mistake_true[0]}")


def test_picking_models_and_the_gallery_model(lab):
    at = compare_page()
    at.multiselect(key="cmp_pick").set_value(["softmax"]).run()
    assert not at.exception
    for fig in figures(at)[:3]:
        assert [t["name"] for t in fig["data"]] == ["softmax"]
    assert at.selectbox(key="cmp_gallery_model").options == ["softmax"]
    at.multiselect(key="cmp_pick").set_value(list(ARCHS)).run()
    at.selectbox(key="cmp_gallery_model").set_value("mlp_128_64").run()
    assert not at.exception
    ev = evaluation.on_test_set(next(e for e in inference.model_entries() if e.name == "mlp_128_64"))
    assert at.image[0].captions[0] == evaluation.gallery(ev, k=1)[0][1]
    at.multiselect(key="cmp_pick").set_value([]).run()
    assert not at.exception and not at.tabs and not at.image
    assert len(table(at)) == len(ARCHS)


def test_a_corrupt_upload_is_refused_with_a_message_and_the_page_keeps_working(lab, tmp_path):
    at = compare_page()
    before = table(at)
    at.file_uploader(key="cmp_upload").set_value(("broken.pt", os.urandom(3000), "application/octet-stream")).run()
    assert not at.exception
    (error,) = at.error
    assert unmarked(error.value).startswith("Refused broken.pt:")
    assert ".upload-" not in error.value and "Traceback" not in error.value
    assert table(at).equals(before)
    runs = tmp_path / "runs"
    assert not [p for p in runs.glob("*") if not p.name.startswith(".cache")], "nothing saved for a refused file"
    # still working: other widgets respond, and a good checkpoint is then accepted and listed
    at.multiselect(key="cmp_pick").set_value(["mlp_128_64"]).run()
    assert not at.exception and [t["name"] for t in figures(at)[0]["data"]] == ["mlp_128_64"]
    good = (lab / "softmax.pt").read_bytes()
    at.file_uploader(key="cmp_upload").set_value(("my upload.pt", good, "application/octet-stream")).run()
    assert not at.exception
    assert any("added as run `my_upload`" in s.value for s in at.success)
    assert "my_upload" in list(table(at)["Model"])
    stored = checkpoints.read(runs / "my_upload.pt")  # the upload, its accuracy claimed until measured here
    claimed = checkpoints.read(lab / "softmax.pt")["metrics"]["test_accuracy"]
    assert stored["metrics"]["claimed_test_accuracy"] == claimed


def test_a_corrupt_checkpoint_in_the_runs_folder_is_named_and_the_rest_listed(lab, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "junk.pt").write_bytes(b"not a checkpoint at all")
    at = compare_page()
    assert any(unmarked(w.value).startswith("Not listed: junk.pt:") for w in at.warning)
    assert list(table(at)["Model"]) == list(ARCHS)


def test_reopening_the_page_measures_nothing_again(lab, monkeypatch):
    """The evaluation behind the page is cached per checkpoint: a new session loads no model."""
    first = compare_page()

    def refuse(*args, **kwargs):
        raise AssertionError("the reopened page measured a model again")

    monkeypatch.setattr(checkpoints, "load", refuse)  # every measurement starts by loading the checkpoint
    again = compare_page()
    assert table(again).equals(table(first))
    assert [f["data"] for f in figures(again)] == [f["data"] for f in figures(first)]
    assert again.image[0].captions == first.image[0].captions


def test_without_the_test_set_the_table_still_shows(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no-data"))
    at = compare_page()
    df = table(at)
    assert list(df["Model"]) == list(ARCHS) and df["MNIST re-drawn"].isna().all()  # UNIPEN ships with the app
    assert len(at.tabs) == 3  # curves come from the checkpoints
    (note,) = [i.value for i in at.info]  # one message for the models that all lack the same data
    assert "no confusion matrix" in note and "not available" in note and "their checkpoints" in note
    assert all(f"`{a}`" in note for a in ARCHS)
    assert not at.image


def test_accuracies_have_two_decimals_and_only_the_best_models_accuracies_are_shaded(lab):
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    at = compare_page()
    (d,) = at.dataframe
    df, config = table(at), json.loads(d.proto.columns)
    text = convert_arrow_bytes_to_pandas_df(d.proto.arrow_data.styler.display_values)  # the cells as shown
    for col in ("Test accuracy", "Real handwriting", "MNIST re-drawn", "Tutorial (MNIST)"):
        assert not config[col].get("type_config", {}).get("format"), config[col]  # (it would win over the text)
        assert all(re.fullmatch(r"\d{1,3}\.\d\d%|—", t) for t in text[col]), list(text[col])
    best = int(df["Test accuracy"].idxmax())
    rules = [r.split("{") for r in d.proto.arrow_data.styler.styles.split("}") if "background-color" in r]
    shaded = {cell for selectors, _ in rules for cell in re.findall(r"row(\d+)_col(\d+)", selectors)}
    accuracies = ("Test accuracy", "Real handwriting", "MNIST re-drawn")
    assert shaded == {(str(best), str(df.columns.get_loc(c))) for c in accuracies}  # not its latency


def test_with_no_models_the_page_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    at = compare_page()
    assert any(i.value.startswith("No models yet") for i in at.info)
    assert not at.dataframe and at.file_uploader(key="cmp_upload")


# --- the table fits, says what its figures are, and manages the user's runs --------------------------

CONTENT_PX = 1400 - 300 - 2 * 80  # a 1400 px window: less the sidebar (18.75rem) and the wide layout's padding


def shown(at: AppTest) -> tuple[list[str], dict]:
    (d,) = at.dataframe
    return list(d.proto.column_order), json.loads(d.proto.columns)


def add_collection(runs: Path, name: str = "mine", per_digit: int = 10) -> None:
    from conftest import synthetic_digits

    from mnist_core import drawings

    store = drawings.DrawingStore(runs)
    images, labels = synthetic_digits(400, 7)
    for d in range(10):
        for img in images[labels == d][:per_digit]:
            store.add(name, d, img, by=None)


def test_every_view_of_the_table_fits_a_1400_px_window_with_the_model_pinned(lab, tmp_path):
    add_collection(tmp_path / "runs")  # the widest accuracy view: with the drawings column
    at = compare_page()
    assert at.radio(key="cmp_view").options == ["Accuracy", "Training", "Not a digit", "Tutorials"]
    seen = set()
    for view in at.radio(key="cmp_view").options:
        at.radio(key="cmp_view").set_value(view).run()
        assert not at.exception
        order, config = shown(at)
        assert order[0] == "Model" and config["Model"]["pinned"] is True
        assert all(isinstance(config[c]["width"], int) for c in order), config
        assert sum(config[c]["width"] for c in order) <= CONTENT_PX - 40, (view, order)
        assert at.dataframe[0].proto.placeholder == "—"  # a missing value reads as a dash, not "None"
        seen |= set(order)
    assert set(table(at).columns) == seen  # every column is in one view or another


def test_the_figures_say_what_they_are(lab):
    checkpoints.update_metrics(lab / "softmax.pt", load_1min_max=None, cpu_count=None)  # an older checkpoint
    checkpoints.update_metrics(lab / "mlp_128_64.pt", load_1min_max=7.5, cpu_count=2)  # timed on a busy machine
    at = compare_page()
    df = table(at).set_index("Model")
    assert df.loc["softmax", "Timed on"] == "CPU, load not recorded"
    assert df.loc["mlp_128_64", "Timed on"] == "2 CPU cores, busy: load 7.5"
    # their seconds are not shown: only a time measured on idle cores says how fast a model trains
    assert pd.isna(df.loc["mlp_128_64", "Training time (s)"]) and pd.isna(df.loc["softmax", "Training time (s)"])
    assert df.loc["mlp_128_64", "Settings"] == "mlp_128_64 · adam lr 0.001 · batch 64 · 3 epochs · first 600 images"
    assert df.loc["softmax", "Tutorial (MNIST)"] == pytest.approx(0.9768)
    assert np.isnan(df.loc["mlp_128_64", "Tutorial (MNIST)"])  # its tutorial reports no figure
    assert df.loc["mlp_128_64", "Tutorial reported"] == "no figure reported"
    assert "None" not in df.astype(str).to_string().replace("nan", "")
    _, config = shown(at)
    assert "busy" in config["Timed on"]["help"] and "Wall-clock" in config["Training time (s)"]["help"]
    assert not [c for c in at.caption if c.value.startswith("⚠️")]  # said only beside the times
    at.radio(key="cmp_view").set_value("Training").run()
    (caveat,) = [c.value for c in at.caption if c.value.startswith("⚠️")]
    assert "mlp_128_64 trained on a busy machine; softmax carries no record of the load through the run" in caveat


def test_without_the_test_set_the_notes_say_why_cells_are_empty(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "no-data"))
    at = compare_page()
    notes = [c.value for c in at.caption if " — " in c.value]
    assert notes == ["MNIST re-drawn — softmax, mlp_128_64: needs the MNIST test set, which is not available"]


def operator_page(monkeypatch) -> AppTest:
    """The Compare page of a session that signed in with the operator's key (as the Home page does)."""
    monkeypatch.setenv("MNIST_LAB_OPERATOR_KEY", "sesame")
    return open_page("app_pages/compare.py", timeout=180, state={"_lab_operator_key": "sesame"})


def test_a_run_is_renamed_and_then_deleted_from_the_page(lab, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy2(lab / "softmax.pt", runs / "myrun.pt")  # a bare checkpoint: the operator's to change
    assert not [s for s in compare_page().selectbox if s.key == "cmp_manage_run"]  # a visitor is not offered it
    at = operator_page(monkeypatch)
    assert at.selectbox(key="cmp_manage_run").options == ["myrun"]  # the shipped models are never offered
    at.text_input(key="cmp_new_name").set_value("better name").run()
    at.button(key="cmp_rename").click().run()
    assert not at.exception
    assert any(s.value == "Renamed `myrun` to `better_name`." for s in at.success)
    assert list(table(at)["Model"]) == [*ARCHS, "better_name"]
    assert (runs / "better_name.pt").is_file() and not (runs / "myrun.pt").exists()
    assert "better_name" in at.multiselect(key="cmp_pick").value and at.text_input(key="cmp_new_name").value == ""
    assert at.button(key="cmp_delete").disabled  # until the confirmation is ticked
    at.checkbox(key="cmp_sure_better_name").check().run()
    at.button(key="cmp_delete").click().run()
    assert not at.exception
    assert any(s.value == "Deleted `better_name`." for s in at.success)
    assert list(table(at)["Model"]) == list(ARCHS) and not list(runs.glob("*.pt"))
    assert not [s for s in at.selectbox if s.key == "cmp_manage_run"]


def test_a_refused_rename_says_why_and_changes_nothing(lab, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy2(lab / "softmax.pt", runs / "myrun.pt")
    at = operator_page(monkeypatch)
    at.text_input(key="cmp_new_name").set_value("myrun").run()
    at.button(key="cmp_rename").click().run()
    assert [e.value for e in at.error] == ["Not done: 'myrun' is its name already"]
    assert (runs / "myrun.pt").is_file()


def test_accuracy_on_a_collection_of_drawings(lab, tmp_path):
    at = compare_page()
    assert not [s for s in at.selectbox if s.key == "cmp_collection"] and "Your drawings" not in table(at)
    add_collection(tmp_path / "runs", "mine")
    add_collection(tmp_path / "runs", "few", per_digit=2)
    at = compare_page()
    picker = at.selectbox(key="cmp_collection")
    assert picker.options == ["few (20 drawings)", "mine (100 drawings)"]
    picker.set_value("mine").run()
    rows, _ = measure.summaries()
    scores, _, _, held = measure.collection_accuracies(rows, "mine")
    df = table(at).set_index("Model")
    for name, acc in scores.items():
        assert df.loc[name, "Your drawings"] == pytest.approx(acc)
    _, config = shown(at)
    assert f"`mine`: its {held:,} held-out drawings" in config["Your drawings"]["help"]
    at.selectbox(key="cmp_collection").set_value("few").run()
    assert table(at)["Your drawings"].isna().all()
    assert any(
        c.value.startswith("Your drawings — softmax, mlp_128_64: no held-out drawings in 'few'") for c in at.caption
    )


def visitor_page(token: str) -> AppTest:
    """The Compare page of one visitor (a browser: its token, as lab_ui.visitor_token finds it)."""
    return open_page("app_pages/compare.py", timeout=180, state={"_lab_visitor": token})


def test_only_the_visitor_who_uploaded_a_run_may_rename_or_delete_it(lab, tmp_path):
    import lab_ui

    saved = uploads.accept_upload(
        "alices.pt", (lab / "softmax.pt").read_bytes(), runner=lab_ui.job_runner(), owner="session:alice"
    )
    job = next(j for j in lab_ui.job_runner().jobs() if j.path == saved)
    assert job.wait(120)
    alice, bob = visitor_page("session:alice"), visitor_page("session:bob")
    assert alice.selectbox(key="cmp_manage_run").options == [saved.stem]
    assert not [s for s in bob.selectbox if s.key == "cmp_manage_run"]  # not offered under "Your runs"
    with pytest.raises(ValueError, match="another visitor"):  # nor done when asked for directly
        lab_ui.job_runner().delete_run(saved.stem, by="session:bob")
    assert saved.is_file()
    alice.checkbox(key=f"cmp_sure_{saved.stem}").check().run()
    alice.button(key="cmp_delete").click().run()
    assert not alice.exception and not saved.exists()


def test_the_not_a_digit_view_shows_calibration_and_says_which_models_cannot_refuse(lab):
    at = compare_page()
    at.radio(key="cmp_view").set_value("Not a digit").run()
    order, _ = shown(at)
    assert order == ["Model", "Real handwriting", "Real digits kept", "Non-digits refused", "Calibration error"]
    df = table(at)
    assert df["Calibration error"].between(0, 1).all()  # measured for every model, on the benchmark writers
    assert df["Real digits kept"].isna().all() and df["Non-digits refused"].isna().all()  # none has the output
    why = [c.value for c in at.caption if c.value.startswith("Non-digits refused — ")]
    assert why and 'no "not a digit" output' in why[0]
