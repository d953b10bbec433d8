"""Page tests (streamlit.testing.v1.AppTest) for the home page and the Train page.

The app runs in this process, so the page's job runner (st.cache_resource, one per runs
directory) is the same object `lab_ui.job_runner()` returns here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import open_app, open_page, rerun_until, unmarked
from streamlit.testing.v1 import AppTest

import lab_ui
from mnist_core import catalog, checkpoints, data, inference, jobs, owners, recipes, training
from mnist_core.config import OPTIMIZERS, TrainConfig
from mnist_core.jobs import ray as ray_backend
from mnist_core.models import ARCHS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def train_page() -> AppTest:
    return open_page("app_pages/train.py", timeout=90)


def button(at: AppTest, label: str):
    (b,) = [b for b in at.button if b.label == label]
    return b


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def chart(at: AppTest, key: str) -> dict:
    """The figure of the Plotly chart with this key."""
    for node in at.get("plotly_chart"):
        spec = json.loads(node.proto.spec)
        if key in node.proto.id:
            return spec
    raise AssertionError(f"no chart {key}")


@pytest.fixture
def lab(runs_dir, small_data_dir, monkeypatch):
    """The app on the test-made small data set and an empty runs folder; runs stopped afterwards."""
    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    yield runs_dir
    runner = lab_ui.job_runner()
    runner.stop_all()
    assert runner.wait_all(20)


def start_run(at: AppTest, arch: str, name: str, **values) -> None:
    at.selectbox(key="arch").set_value(arch).run()
    for key, value in values.items():
        kind = "number_input" if key in ("ep", "lr", "ls") else "select_slider"
        getattr(at, kind)(key=f"{key}_{arch}").set_value(value)
    at.text_input[0].input(name)
    button(at, "Start training").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_home_page_shows_status_and_links(lab, small_data_dir):
    run = training.train(TrainConfig(arch="softmax", max_steps=3), data_root=small_data_dir)
    run.save(checkpoints.path_in(lab, "home-run"), name="home-run")
    at = open_app(timeout=90)
    assert not at.exception
    m = metrics(at)
    assert m["Dataset"] == "MNIST found"
    assert m["Device"] == "CPU" or m["Device"].startswith(("GPU", "Apple"))
    shipped = [a for a in ARCHS if (inference.shipped_dir() / f"{a}.pt").is_file()]
    assert m["Models available"] == str(len(shipped) + 1)
    assert any("home-run" in c.value for c in at.caption)
    assert "Train" in [link.proto.page for link in at.page_link]
    intro = at.markdown[0].value.lower()
    assert "train" in intro and "draw" in intro and "compare" in intro


def test_home_page_without_dataset_says_where_it_will_come_from(runs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "empty"))
    at = open_app(timeout=90)
    assert not at.exception
    assert metrics(at)["Dataset"] == "not found"
    shown = " ".join(c.value for c in at.caption)
    assert "the folder MNIST_DATA_DIR names" in shown  # outside the app's folder: named by its setting
    assert str(data.raw_dir("mnist").resolve()) not in shown  # the server's path goes to the terminal only


def test_train_page_widgets_follow_the_architecture_recipe(lab):
    at = train_page()
    assert not at.exception
    assert at.selectbox(key="arch").options == [f"{a}: {ARCHS[a].description}" for a in ARCHS]
    labels = {
        w.label
        for w in [*at.selectbox, *at.number_input, *at.slider, *at.select_slider, *at.toggle, *at.text_input, *at.radio]
    }
    for label in (
        "Architecture",
        "Dataset",
        "Recipe",
        "Optimizer",
        "Learning rate",
        "Schedule",
        "Batch size",
        "Epochs",
        "Weight decay",
        "Weight init",
        "Label smoothing",
        "Run name",
        "Seed",
        "Device",
    ):
        assert label in labels, label
    assert [b.label for b in at.button][:2] == ["Start training", "Train every architecture"]
    # the page opens on cnn's quick first run: one epoch, no augmentation (99% in about 20 s on 2 cores)
    assert at.selectbox(key="arch").value == "cnn" and at.radio(key="recipe_cnn").value is False
    assert at.number_input(key="ep_cnn").value == 1 and at.toggle(key="aug_cnn").value is False
    for arch in ("lenet", "softmax", "convnet"):
        at.selectbox(key="arch").set_value(arch).run()
        rec = recipes.quick(arch)
        a = ARCHS[arch]
        assert at.number_input(key=f"lr_{arch}").value == pytest.approx(rec.lr)
        assert at.number_input(key=f"ep_{arch}").value == rec.epochs
        assert at.select_slider(key=f"bs_{arch}").value == rec.batch_size
        assert at.selectbox(key=f"opt_{arch}").value == rec.optimizer
        assert at.toggle(key=f"aug_{arch}").value == rec.augment
        assert at.number_input(key=f"ls_{arch}").value == pytest.approx(rec.label_smoothing)
        caption = " ".join(c.value for c in at.caption)
        assert f"{a.params:,} parameters" in caption and a.reported in caption
        at.radio(key=f"recipe_{arch}").set_value(True).run()  # the shipped model's recipe, in its own widgets
        full = recipes.recommended(arch)
        assert at.number_input(key=f"ep_{arch}_shipped").value == full.epochs
        assert at.toggle(key=f"aug_{arch}_shipped").value == full.augment
    assert any("No runs yet" in i.value for i in at.info)


def test_cnns_shipped_recipe_trains_the_shipped_width_and_its_quick_run_the_narrow_one(lab):
    at = train_page()
    for shipped, width in ((True, 24), (False, 0)):
        at.radio(key="recipe_cnn").set_value(shipped).run()
        at.number_input(key="ep_cnn_shipped" if shipped else "ep_cnn").set_value(1)
        [n for n in at.number_input if n.label == "Stop after steps (0 = no limit)"][0].set_value(2)
        at.text_input[0].input(f"w{width}")
        button(at, "Start training").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        job = lab_ui.job_runner().get(at.session_state["watch"])
        assert job.config.width == width == (recipes.recommended if shipped else recipes.quick)("cnn").width
        assert job.config.depth == (3 if shipped else 0)
        rerun_until(
            at, lambda at, job=job: job.snapshot()["status"] in {"finished", "stopped", "failed"}, what="its end"
        )
    assert checkpoints.read(lab / "w24.pt")["arch_args"] == {"width": 24, "depth": 3}
    assert checkpoints.read(lab / "w0.pt")["arch_args"] == {}


def test_the_parameters_and_layers_shown_are_the_recipes_network(lab):
    """cnn's quick run trains the 16-wide network, its shipped recipe the 24-wide one of three blocks: the
    caption and the Layers table say which will be trained."""
    at = open_page("app_pages/train.py", timeout=90, state={"train_layers": True})  # Layers opened
    shipped_size = {"width": 24, "depth": 3}
    for shipped, params in ((False, catalog.param_count("cnn")), (True, catalog.param_count("cnn", shipped_size))):
        at.radio(key="recipe_cnn").set_value(shipped).run()
        caption = unmarked(" ".join(c.value for c in at.caption))
        assert f"{params:,} parameters" in caption
        assert ("(width 24, depth 3)" in caption) == shipped
        table = at.dataframe[0].value
        assert table["Parameters"].sum() == params
    assert catalog.param_count("cnn") != catalog.param_count("cnn", shipped_size)


def test_momentum_shows_only_for_the_optimizers_that_use_it(lab):
    at = train_page()
    at.selectbox(key="arch").set_value("convnet").run()  # its recipe: SGD with momentum
    assert [s.label for s in at.slider] == ["Momentum"]
    for optimizer in OPTIMIZERS:
        at.selectbox(key="opt_convnet").set_value(optimizer).run()
        assert not at.exception
        shown = [s.label for s in at.slider] == ["Momentum"]
        assert shown == (optimizer in ("sgd_momentum", "nesterov", "rmsprop")), optimizer


def test_a_tiny_run_shows_progress_metrics_and_where_it_is_saved(lab):
    at = train_page()
    start_run(at, "softmax", "page run", ep=3, bs=100, ls=0.1)
    runner = lab_ui.job_runner()
    (job,) = runner.jobs()
    assert job.name == "page_run" and job.config.epochs == 3 and job.config.batch_size == 100
    assert job.config.label_smoothing == pytest.approx(0.1)
    rerun_until(at, lambda at: at.success, what="the run to finish")
    s = job.snapshot()
    assert s["status"] == "finished"
    acc = checkpoints.read(lab / "page_run.pt")["metrics"]["test_accuracy"]
    assert f"{acc:.2%}" in at.success[0].value and "Saved as `page_run` in the runs folder" in at.success[0].value
    assert str(lab.resolve()) not in at.success[0].value  # the server's path is the terminal's
    m = metrics(at)
    assert m["Test accuracy"] == f"{acc:.2%}" and m["Images / s"] != "-"
    loss = chart(at, "loss_chart")["data"]
    assert loss[0]["x"] == [p[0] for p in s["steps"]] and len(loss[0]["x"]) == len(s["steps"]) >= 3
    assert loss[1]["name"] == "smoothed"
    accuracy = chart(at, "accuracy_chart")["data"]
    assert [len(t["x"]) for t in accuracy] == [3, 3, len(s["steps"])]  # train, test per epoch; running train
    assert accuracy[2]["x"] == [p[1] for p in s["step_accuracy"]] == [p[1] for p in s["steps"]]
    assert accuracy[2]["y"] == [p[2] for p in s["step_accuracy"]]
    assert accuracy[1]["y"][-1] == pytest.approx(acc)
    assert at.session_state["watch"] == job.id
    assert [b.value for b in at.selectbox if b.label == "Run"] == [job.id]
    assert [p.value for p in at.progress] == []  # no progress bar once finished
    assert any("Draw" in link.value for link in at.page_link) or any("Draw" in c.value for c in at.caption)


def test_stop_button_stops_the_run(lab):
    at = train_page()
    start_run(at, "cnn", "stop me", ep=200, bs=32)
    job = lab_ui.job_runner().jobs()[0]
    rerun_until(at, lambda at: any(b.label == "Stop" for b in at.button) and at.progress, what="the run to be running")
    button(at, "Stop").click().run()
    assert not at.exception
    assert job.stop_requested
    # the page waits briefly for the loop to see the flag; on a slow machine the fragment's next poll shows it
    rerun_until(at, lambda at: job.status == "stopped" and not at.progress, what="the run to show as stopped")
    assert job.snapshot()["step"] < job.snapshot()["total_steps"]
    assert any(i.value.startswith("Stopped:") for i in at.info)
    assert not any(b.label == "Stop" for b in at.button)


def test_hostile_run_name_is_saved_safely(lab):
    at = train_page()
    start_run(at, "softmax", "../../evil/\u00e9t\u00e9 🙂", ep=1)
    (job,) = lab_ui.job_runner().jobs()
    assert job.wait(60) and job.status == "finished", job.message
    assert job.name == "evil_ete" and Path(job.snapshot()["checkpoint"]).parent == lab.resolve()
    assert not (lab.parent.parent / "evil").exists()


def test_train_every_architecture_queues_each_with_its_fast_recipe(lab):
    at = train_page()
    runner = lab_ui.job_runner()
    runner.stop_all()
    button(at, "Train every architecture").click().run()
    assert not at.exception
    made = sorted(runner.jobs(), key=lambda j: j.created)
    assert [j.config.arch for j in made] == list(ARCHS)
    assert all(j.config == recipes.recommended(j.config.arch) for j in made)
    runner.stop_all()
    rerun_until(at, lambda at: not runner.active(), what="every run to stop")
    # every run ended by the stop, except any that was done before the stop reached it (softmax's three
    # small epochs take a fraction of a second on a quiet machine): none failed or hangs
    assert {j.status for j in made} <= {"stopped", "finished"} and made[-1].status == "stopped"


def test_missing_dataset_gives_the_fix_and_a_clear_failure(runs_dir, tmp_path, monkeypatch):
    """No data and no internet (every mirror refuses): a message, never a traceback."""
    from torchvision import datasets

    empty = tmp_path / "no-data"
    monkeypatch.setenv("MNIST_DATA_DIR", str(empty))
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    at = train_page()
    assert not at.exception
    (warning,) = at.warning  # one line, so Start stays on the first screen; the ways to provide it under it
    assert unmarked(warning.value).startswith("MNIST is not on this machine")
    raw = str((empty / "MNIST" / "raw").resolve())
    (fix,) = [m.value for m in at.markdown if "MNIST_DATA_DIR" in m.value]
    assert raw not in fix and all(f in fix for f in data.RAW_FILES)
    at.selectbox(key="arch").set_value("softmax").run()
    button(at, "Start training").click().run()
    rerun_until(at, lambda at: at.error, what="the failure")
    text = unmarked(at.error[0].value)
    assert text.startswith("Failed: MNIST is not available") and raw not in text and "MNIST_DATA_DIR" in text
    assert lab_ui.job_runner().jobs()[0].status == "failed"
    assert "Traceback" not in " ".join(e.value for e in [*at.error, *at.markdown])


def test_a_queued_run_shows_its_place_in_line_and_each_run_who_started_it(lab):
    runner = lab_ui.job_runner()
    theirs = runner.submit(TrainConfig(arch="cnn", epochs=200, batch_size=16), "theirs", owner="another-session")
    at = train_page()
    start_run(at, "softmax", "mine", ep=1)  # behind theirs on the same device, one run at a time
    mine = next(j for j in runner.jobs() if j.name == "mine")
    rerun_until(at, lambda at: theirs.status == "running", what="the other session's run to start")
    assert mine.status == "queued" and runner.queue_position(mine) == 1
    where = f"Queued: number 1 in line on {jobs.device_queue(mine.config).upper()} (this server, 1 run at a time"
    assert any(i.value.startswith(where) for i in at.info), [i.value for i in at.info]
    (df,) = [d.value for d in at.dataframe]
    who = dict(zip(df["run"], df["started by"], strict=True))
    assert who == {"mine": "you", "theirs": f"visitor {owners.tag('another-session')}"}
    assert "another-session" not in df.to_string()  # the token that stops it is never shown


def test_a_ray_address_that_cannot_be_used_is_said_on_the_train_page(runs_dir, small_data_dir, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(small_data_dir))
    monkeypatch.setenv("MNIST_LAB_RAY_ADDRESS", "ray://nowhere.invalid:10001")
    monkeypatch.setattr(ray_backend, "installed", lambda: False)
    lab_ui.clear_job_runners()
    try:
        at = train_page()
        assert not at.exception
        assert any("not on Ray: Ray is not installed" in w.value for w in at.warning)
    finally:
        lab_ui.clear_job_runners()
