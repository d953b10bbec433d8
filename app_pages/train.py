"""Train: pick an architecture and its hyperparameters, queue a run, watch it learn, stop it.

Training runs in mnist_core.jobs' process-wide runner, never in this script: a rerun or a closed
tab does not stop it, and every session sees (and can stop) the same runs. The live panel is a
fragment that polls the runner once a second while a run is queued or running, and not otherwise.
"""

import hashlib

import pandas as pd
import streamlit as st

import lab_ui
from mnist_core import catalog, data, devices, inside, jobs, pen, recipes
from mnist_core.config import INITS, OPTIMIZERS, SCHEDULES, USES_MOMENTUM, TrainConfig
from mnist_core.models import ARCHS

st.title("Train")
runner = lab_ui.runner_ui()
BATCHES = [16, 32, 64, 100, 128, 256, 512, 1024]
RECIPES = {False: "Quick first run", True: "Shipped model's recipe"}
settings, live = st.columns([2, 3], gap="large")


def dataset_ui() -> str:
    """The dataset, and when it is missing one line saying so (the ways to provide it one click away, so
    the Start button stays on the first screen)."""
    dataset = st.radio("Dataset", list(data.DATASETS), format_func=lab_ui.DATASET_LABELS.get, horizontal=True)
    if not data.is_available(dataset):
        folder = data.DATASETS[dataset][1]
        st.warning(f"{folder} is not on this machine: a run downloads it, which needs the internet.")
        with st.expander(f"How to provide {folder}"):
            st.markdown(lab_ui.missing_data_help(dataset))
    return dataset


def architecture_ui(arch: str, args: dict) -> None:
    """The network the run will train (the recipe's width and depth where it sets them): its size and layers."""
    a = ARCHS[arch]
    st.caption(
        f"**{catalog.param_count(arch, args):,} parameters**"
        + (f" ({catalog.args_said(arch, args)})" if args else "")
        + f" · tutorial reported: {a.reported}  \nSource: {a.source}"
    )
    layers = st.expander("Layers: output shapes and parameters", key="train_layers", on_change="rerun")
    if layers.open:  # built only when opened (torchinfo on a fresh model of the architecture)
        layers.dataframe(pd.DataFrame(inside.structure_rows(arch, args)), hide_index=True)
        layers.caption(
            "For one 28 x 28 image (a batch of 1): what comes out of each layer, channels x height x "
            "width for conv layers, and its weights. The Inside page shows them for a drawing."
        )


with settings:
    arch = st.selectbox(
        "Architecture",
        list(ARCHS),
        index=list(ARCHS).index("cnn"),
        key="arch",
        format_func=lambda a: f"{a}: {ARCHS[a].description}",
    )
    dataset = dataset_ui()
    full = st.radio(
        "Recipe",
        [False, True],
        horizontal=True,
        key=f"recipe_{arch}",
        format_func=RECIPES.get,
        help="Quick: one epoch, no augmentation, done in under a minute on a laptop; cnn reaches 99%. "
        "Shipped: the recipe its shipped model was trained with (several augmented epochs)",
    )
    rec = (recipes.recommended if full else recipes.quick)(arch, dataset=dataset)
    k = f"_{arch}_shipped" if full else f"_{arch}"  # keyed per architecture and recipe: each brings back its own
    architecture_ui(arch, rec.size_args)
    # Start comes before the hyperparameters, on the first screen: they hold the recipe's values already
    name = st.text_input(
        "Run name",
        max_chars=200,
        placeholder=f"{arch}-<date>-<time>",
        help="saved as a safe file name in the runs folder; never overwrites a model",
    )
    buttons = st.container(horizontal=True)
    start = buttons.button("Start training", type="primary")
    start_all = buttons.button("Train every architecture", help="queues all of them with their fast recipes")
    refused = st.empty()  # why a run could not start, under the buttons
    st.markdown("**Hyperparameters**")
    st.caption("The recipe's values: change any before you start.")
    c1, c2 = st.columns(2)
    optimizer = c1.selectbox("Optimizer", OPTIMIZERS, OPTIMIZERS.index(rec.optimizer), key="opt" + k)
    lr = c2.number_input("Learning rate", 1e-5, 10.0, float(rec.lr), step=1e-4, format="%.5f", key="lr" + k)
    schedule = c1.selectbox(
        "Schedule",
        SCHEDULES,
        SCHEDULES.index(rec.schedule),
        key="sched" + k,
        help="step: x0.1 at 50% and 75% of the steps",
    )
    epochs = c2.number_input("Epochs", 1, 200, rec.epochs, key="ep" + k)
    batch_size = c1.select_slider("Batch size", sorted({*BATCHES, rec.batch_size}), rec.batch_size, key="bs" + k)
    momentum = rec.momentum
    if optimizer in USES_MOMENTUM:  # shown only for the optimizers that use it
        momentum = c2.slider("Momentum", 0.0, 0.99, float(rec.momentum), 0.01, key="mom" + k)
    weight_decay = c1.number_input(
        "Weight decay", 0.0, 1.0, float(rec.weight_decay), step=1e-4, format="%.5f", key="wd" + k
    )
    init = c2.selectbox("Weight init", INITS, INITS.index(rec.init), key="init" + k)
    augment = st.toggle("Augment: random affine, elastic warp and stroke thickness", rec.augment, key="aug" + k)
    every_hand = st.toggle(
        "Every hand: mix in real pen-drawn digits (UNIPEN) and world writing styles",
        False,
        key="pen" + k,
        disabled=dataset != "mnist",
        help="UNIPEN's training writers' digits "
        "drawn as canvas strokes, and slashed 0s, crossed 7s, flagged 1s, curled and "
        "small-headed 9s: how the shipped drawn-input models learned to read every hand. Its "
        "benchmark writers are never trained on."
        + ("" if pen.is_available() else " Needs UNIPEN/ in the data folder."),
    )
    with st.expander("More settings"):
        m1, m2 = st.columns(2)
        seed = m1.number_input("Seed", 0, 2**31 - 1, rec.seed)
        device = m2.selectbox("Device", devices.available(), help="auto: a GPU when there is one")
        train_limit = m1.number_input("Training images (0 = all)", 0, 60000, 0, step=1000)
        max_steps = m2.number_input("Stop after steps (0 = no limit)", 0, 10**6, 0, step=100)
        log_every = m1.number_input("Log the loss every N steps", 1, 1000, rec.log_every)
        label_smoothing = m2.number_input(
            "Label smoothing",
            0.0,
            0.9,
            float(rec.label_smoothing),
            step=0.05,
            key="ls" + k,
            help="train towards 1 - s on the label, s spread over the ten classes",
        )
    if start or start_all:
        try:
            if start:
                cfg = TrainConfig(
                    arch=arch,
                    dataset=dataset,
                    optimizer=optimizer,
                    lr=lr,
                    momentum=momentum,
                    weight_decay=weight_decay,
                    label_smoothing=label_smoothing,
                    schedule=schedule,
                    batch_size=batch_size,
                    epochs=epochs,
                    init=init,
                    augment=augment,
                    seed=seed,
                    device=device,
                    pen_data=every_hand and dataset == "mnist",
                    styles=every_hand and dataset == "mnist",
                    max_steps=max_steps,
                    train_limit=train_limit,
                    log_every=log_every,
                    **rec.size_args,
                )  # the recipe's network size (the shipped cnn is 24 wide, 3 blocks deep), no widget
                st.session_state["watch"] = runner.submit(cfg, name.strip() or None, owner=lab_ui.visitor_token()).id
            else:
                st.session_state["watch"] = runner.submit_all(dataset=dataset, owner=lab_ui.visitor_token())[0].id
        except ValueError as exc:
            refused.error(f"Could not start: {lab_ui.problem(exc)}")


def show_run(runner: jobs.JobRunner, job: jobs.Job) -> None:
    s = job.snapshot()
    lab_ui.run_status_ui(job, s, runner)
    if s["checkpoint"]:
        l1, l2 = st.columns(2)
        with l1:
            lab_ui.page_link("app_pages/draw.py", label="Draw a digit for it", icon="✍️")
        with l2:
            lab_ui.page_link("app_pages/compare.py", label="Compare it with the others", icon="📊")
    lab_ui.run_metrics_ui(s)
    lab_ui.stop_ui(job)
    note = None if s["steps"] else "waiting for the first steps…" if job.active else "no curves recorded"
    curves_ui(lab_ui.loss_figure(s["steps"], note), lab_ui.accuracy_figure(s["epochs"], s["step_accuracy"], note))


def curves_ui(loss, accuracy) -> None:
    """The two charts, side by side (the same keys whatever they show: a run, or none yet)."""
    c1, c2 = st.columns(2)
    c1.plotly_chart(loss, key="loss_chart")
    c2.plotly_chart(accuracy, key="accuracy_chart")


def live_panel(runner: jobs.JobRunner, polling: bool) -> None:
    if polling and not runner.active():
        st.rerun()  # the last run ended: one full rerun shows it and turns polling off
    all_jobs = {j.id: j for j in runner.jobs()}
    if not all_jobs:
        st.info("No runs yet: choose an architecture and press **Start training**.")
        # the charts' axes at once: their curves will grow here, drawn the moment the first steps come
        note = "press Start training"
        curves_ui(lab_ui.loss_figure([], note), lab_ui.accuracy_figure([], (), note))
        return
    if st.session_state.get("watch") not in all_jobs:
        st.session_state["watch"] = next((i for i, j in all_jobs.items() if j.active), next(iter(all_jobs)))
    # labels must not change while shown (the browser sends back the label), so no status in them. The box
    # is a new widget whenever the list of runs changes (another session adds one), opening on the run this
    # session watches: a kept one could fall back in the browser to its first option, the newest run.
    ids = list(all_jobs)
    st.session_state["watch"] = st.selectbox(
        "Run",
        ids,
        index=ids.index(st.session_state["watch"]),
        format_func=lambda i: all_jobs[i].name,
        key="watch_box_" + hashlib.blake2b(" ".join(ids).encode(), digest_size=6).hexdigest(),
    )
    show_run(runner, all_jobs[st.session_state["watch"]])
    st.subheader("Runs")
    st.dataframe(lab_ui.runs_table(list(all_jobs.values())), hide_index=True, key="runs_table")


with live:
    polling = bool(runner.active())
    st.fragment(live_panel, run_every=1.0 if polling else None)(runner, polling)
    if not polling:
        st.button("Refresh", help="show runs started from another tab")
