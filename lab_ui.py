"""Small Streamlit helpers shared by the pages (the pages stay thin; mnist_core stays UI-free)."""

from __future__ import annotations

import ctypes
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from mnist_core import checkpoints, data, inference, jobs, settings


def _fix_the_mmap_threshold(threshold: int = 4 * 2**20) -> bool:
    """Make glibc return large freed buffers to the system (Linux; a no-op elsewhere).

    glibc raises its mmap threshold (up to 32 MB) each time a large mmapped buffer is freed, so after
    the first large image, the next ones' buffers come from the heap of the session's script thread
    and stay there when freed: about 30 MB kept per session that left, on the 5470 x 5470 PNG of
    issue 14 (bench/session_memory.py). A fixed threshold turns that adjustment off: buffers over
    4 MB (decoded images) are mmapped and given back on free; training's batches are far smaller.
    An operator's own MALLOC_MMAP_THRESHOLD_ wins."""
    if settings.operator_malloc_threshold():
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, threshold))  # -3: M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False


_fix_the_mmap_threshold()


torch.set_num_threads(settings.torch_threads())  # one on a 2-core machine: see its docstring


@st.cache_resource(max_entries=64, show_spinner=False)
def _predictor(path: str, mtime: float) -> inference.Predictor:
    model, meta = checkpoints.load(path)
    return inference.Predictor(model, meta, meta.get("name") or Path(path).stem, Path(path))


def predictor(name: str) -> inference.Predictor:
    """A model by list name, loaded once per process and keyed by path and mtime (a retrained
    run with the same name is reloaded). Raises CheckpointError / ValueError for a bad file."""
    path = inference.resolve(name)
    p = _predictor(str(path.resolve()), path.stat().st_mtime)
    if p.name != name:  # the list name ("run:cnn") may differ from the name stored in the file
        p = inference.Predictor(p.model, p.meta, name, p.path)
    return p


def model_choices() -> list[inference.ModelEntry]:
    """The models a page may offer: files that pass the checkpoint checks (see unreadable())."""
    return inference.usable_entries()


def unreadable() -> list[str]:
    """One line per checkpoint file that is not offered: "NAME: unreadable: reason"."""
    return [f"{e.path.name}: unreadable: {e.problem.split(': ', 1)[-1]}" for e in inference.unreadable_entries()]


def session_token() -> str:
    """This browser session's own token: the runs it starts are the ones it may stop."""
    return st.session_state.setdefault("_lab_session", uuid.uuid4().hex)


def owner_label(tag: str) -> str:
    """Who started a run, for the runs table: "you", "session 3fa2c1" (another visitor's session, or one of
    before a restart), or "server" (the command line, a bare checkpoint)."""
    if not tag:
        return "server"
    return "you" if tag == jobs.owner_tag(session_token()) else f"session {tag}"


# --- training (the Train and home pages) ---------------------------------------------------------
DATASET_LABELS = {"mnist": "MNIST (digits)", "fashion": "FashionMNIST (clothing)"}


@st.cache_resource(show_spinner=False)
def _job_runner(runs: str) -> jobs.JobRunner:
    return jobs.JobRunner(runs)


def job_runner() -> jobs.JobRunner:
    """The process-wide runner for the runs directory: every session sees the same jobs."""
    return _job_runner(str(inference.runs_dir().resolve()))


def stop_run(job_id: str) -> None:
    """The Stop button's callback: stop that run if this session started it (the runner checks)."""
    runner = job_runner()
    if runner.stop(job_id, owner=session_token()):
        job = runner.get(job_id)
        if job is not None:
            job.wait(1.5)  # the loop sees the flag within a step; show the final status at once


def page_link(path: str, label: str, icon: str | None = None) -> None:
    """st.page_link to a page of this app, or a plain caption while that page does not exist."""
    if (Path(__file__).resolve().parent / path).is_file():
        st.page_link(path, label=label, icon=icon)
    else:
        st.caption(f"{label} (page not available)")


# The app's pages in the sidebar, by name and icon (the built-in list is off in .streamlit/config.toml:
# it would name the home page after its file, "app"). Every page calls sidebar_nav() first.
# Material icons ship with Streamlit's own font: they show wherever the app does (emoji need a font).
NAV = [("app.py", "Home", ":material/home:"), ("pages/1_Train.py", "Train", ":material/model_training:"),
       ("pages/2_Draw.py", "Draw", ":material/draw:"), ("pages/3_Compare.py", "Compare", ":material/compare:"),
       ("pages/4_Inside.py", "Inside", ":material/layers:"), ("pages/5_Digits.py", "Digits", ":material/apps:")]


def sidebar_nav() -> None:
    """The navigation: each page's title and icon, the current one highlighted by Streamlit."""
    from streamlit.errors import StreamlitAPIException

    with st.sidebar:
        for path, label, icon in NAV:
            if (Path(__file__).resolve().parent / path).is_file():
                try:
                    st.page_link(path, label=label, icon=icon)
                except StreamlitAPIException:  # a page run on its own (a page test): no app around it
                    return


def missing_data_help(dataset: str = "mnist") -> str:
    """What is missing and the ways to provide it, as Markdown."""
    folder = data.DATASETS[dataset][1]
    raw = data.raw_dir(dataset).resolve()
    files = "\n".join(f"  - `{f}`" for f in data.RAW_FILES)
    return (
        f"**{folder} is not on this machine.** Looked for it in `{raw}`. To provide it, either\n"
        f"- set the environment variable `MNIST_DATA_DIR` to a folder that holds `{folder}/raw/` and restart "
        f"the app, or\n- place these four files (unzipped) in `{raw}`:\n{files}\n\n"
        "With an internet connection it is downloaded there automatically when a run starts; without one, "
        "the run fails with this message. Drawing and comparing the shipped models still work."
    )


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing of a curve)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def loss_figure(steps: list) -> object:
    """Plotly: training loss per logged step, raw (faint) and smoothed."""
    import plotly.graph_objects as go

    x = [p[0] for p in steps]
    y = [p[2] for p in steps]
    fig = go.Figure()
    fig.add_scatter(x=x, y=y, mode="lines", name="loss", line={"color": "rgba(99,102,241,0.35)"})
    fig.add_scatter(x=x, y=smooth(y), mode="lines", name="smoothed", line={"color": "#6366f1", "width": 2})
    fig.update_layout(title="Training loss", xaxis_title="step", yaxis_title="cross-entropy", height=300,
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return fig


def accuracy_figure(epochs: list[dict], step_accuracy: list | tuple = ()) -> object:
    """Plotly: train and test accuracy per epoch, and (step_accuracy: (step, epoch, accuracy) points) the
    running training accuracy of the batches so far in each epoch, so the chart moves from the first steps."""
    import plotly.graph_objects as go

    x = [r["epoch"] for r in epochs]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[r["train_accuracy"] for r in epochs], mode="lines+markers", name="train")
    fig.add_scatter(x=x, y=[r["test_accuracy"] for r in epochs], mode="lines+markers", name="test")
    fig.add_scatter(x=[p[1] for p in step_accuracy], y=[p[2] for p in step_accuracy], mode="lines",
                    name="train, running (this epoch's batches so far)", line={"width": 1, "color": "#9ca3af"})
    fig.update_layout(title="Accuracy", xaxis_title="epoch", yaxis_title="accuracy", height=300,
                      yaxis={"tickformat": ".0%", "range": [0, 1.02]}, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.25})
    return fig


# --- the Draw page: one image read once, every result kept for its reruns ------------------------
# What one session may hold for its images: the last MEMO_IMAGES of them and at most MEMO_BYTES of
# arrays. The store is a session-scoped resource, so Streamlit drops it when the session's browser
# disconnects (session_state would outlive it by minutes, kept for a reconnect), and nothing in it
# is the full-size image: read_image keeps reduced copies (KEPT_SIDE) of the large steps.
MEMO_IMAGES = 4
MEMO_BYTES = 8 * 2**20
KEPT_SIDE = 256  # the page shows these steps at 112 pixels; the squash makes the image 28 x 28


class ImageMemos:
    """One session's results per image, oldest first; bounded by count and by array bytes."""

    def __init__(self, keep: int = MEMO_IMAGES, budget: int = MEMO_BYTES):
        self.keep, self.budget = keep, budget
        self.memos: OrderedDict[str, dict] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> dict:
        with self.lock:
            if key in self.memos:
                self.memos.move_to_end(key)
            else:
                self.memos[key] = {}
            while len(self.memos) > self.keep or (len(self.memos) > 1 and self.nbytes() > self.budget):
                self.memos.popitem(last=False)
            return self.memos[key]

    def nbytes(self) -> int:
        return sum(_nbytes(m) for m in self.memos.values())


def _nbytes(x, depth: int = 0) -> int:
    if isinstance(x, np.ndarray):
        return x.nbytes
    if depth < 3 and isinstance(x, dict):
        return sum(_nbytes(v, depth + 1) for v in x.values())
    if depth < 3 and isinstance(x, (list, tuple)):
        return sum(_nbytes(v, depth + 1) for v in x)
    return 0


@st.cache_resource(scope="session", show_spinner=False)
def session_memos() -> ImageMemos:
    """This session's image store (released by Streamlit when the session disconnects)."""
    return ImageMemos()


def image_memo(key: str, keep: int = MEMO_IMAGES) -> dict:
    """This session's store of results for one image, `key` naming its content (a hash of its bytes,
    or an upload's file id): a rerun for the same image (another widget changed) reuses what the
    last run computed instead of computing it again. Only the last `keep` images are kept, and at
    most MEMO_BYTES of arrays (the newest image always)."""
    memos = session_memos()
    memos.keep = keep
    return memos.get(key)


def _reduced(x: np.ndarray, side: int = KEPT_SIDE) -> np.ndarray:
    """An array image reduced (box filter, by an integer factor) to at most `side` on its longer side."""
    k = -(-max(x.shape[:2]) // side)
    if k <= 1:
        return x
    from PIL import Image

    if x.dtype == np.uint8:
        return np.asarray(Image.fromarray(x).reduce(k))
    return np.asarray(Image.fromarray(x.astype(np.float32), mode="F").reduce(k))


def once(memo: dict, key, compute):
    """memo[key], computed by compute() the first time it is asked for."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def read_image(memo: dict, data: bytes, min_side: int = 0) -> dict:
    """Decode an image and find its digit (once per image): {"error": message} for a file that is no
    usable image, else {"pixels", "notes", "steps"} where steps is None when there is no digit, and
    "blank" says why. min_side: see mnist_core.images.find_digit."""
    from mnist_core import images

    def compute() -> dict:
        try:
            decoded = images.decode(data)
        except images.ImageError as exc:
            return {"error": str(exc)}
        steps, blank = images.find_digit(decoded.pixels, min_side)
        if steps is not None:  # the page shows the large steps at about 112 pixels: keep them reduced
            steps = {k: (_reduced(v) if k in ("ink", "crop") else v) for k, v in steps.items()}
        # the image itself is kept only reduced (for the naive squash, which makes it 28 x 28 anyway)
        return {"pixels": _reduced(decoded.pixels), "notes": decoded.notes, "steps": steps, "blank": blank}

    return once(memo, ("read", min_side), compute)


def model_probs(memo: dict, name: str, x28, tag: str = "probs") -> object:
    """(10,) probabilities of the model `name` for the (28, 28) input x28, computed once per image,
    checkpoint and `tag` (which input of this image x28 is)."""
    p = predictor(name)
    return once(memo, (tag, name, str(p.path), p.path.stat().st_mtime), lambda: p.proba_batch(x28[None])[0])


def proba_figure(probs, height: int = 260) -> object:
    """Plotly: the ten class probabilities as bars, the top class highlighted."""
    import plotly.graph_objects as go

    top = int(probs.argmax())
    colours = ["#6366f1" if d == top else "#a5b4fc" for d in range(10)]
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=probs, marker_color=colours,
                           text=[f"{p:.0%}" if p >= 0.005 else "" for p in probs], textposition="outside",
                           hovertemplate="digit %{x}: %{y:.2%}<extra></extra>"))
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, showlegend=False,
                      xaxis={"title": "digit", "type": "category"},
                      yaxis={"title": "probability", "range": [0, 1.12], "tickformat": ".0%"})
    return fig


def proba_bars(probs, height: int = 200) -> str:
    """The ten class probabilities as HTML bars, the top class highlighted (the Draw page's chart: plain
    elements, so a drawing's reading costs the browser no chart library). Text takes the theme's colour."""
    top = int(probs.argmax())
    label = "Class probabilities: " + ", ".join(f"{d}: {p:.1%}" for d, p in enumerate(probs))
    cols = []
    for d, p in enumerate(probs):
        colour = "#6366f1" if d == top else "#a5b4fc"
        text = f"{p:.0%}" if p >= 0.005 else ""
        cols.append(
            f'<div class="mnist-prob" title="digit {d}: {p:.2%}" style="flex:1;display:flex;flex-direction:column;'
            f'justify-content:flex-end;align-items:center;height:100%">'
            f'<div style="font-size:0.75rem;line-height:1.2;min-height:1.2em;font-weight:{700 if d == top else 400}">'
            f'{text}</div><div class="mnist-prob-bar" style="width:70%;height:{max(p, 0.004) * 100:.1f}%;'
            f'background:{colour};border-radius:3px 3px 0 0"></div></div>')
    digits = "".join(f'<div style="flex:1;text-align:center;font-weight:{700 if d == top else 400}">{d}</div>'
                     for d in range(10))
    return (f'<div class="mnist-probs" role="img" aria-label="{label}" style="padding:0.25rem 0">'
            f'<div style="display:flex;gap:2px;height:{height}px;border-bottom:1px solid rgba(128,128,128,0.5)">'
            f'{"".join(cols)}</div><div style="display:flex;gap:2px;padding-top:0.2rem">{digits}</div>'
            '<div style="text-align:center;font-size:0.8rem;opacity:0.7">digit</div></div>')


def models_figure(scores: dict, height: int = 360) -> object:
    """Plotly: every model's ten class probabilities as grouped bars; each legend entry names the
    model, its prediction and its confidence. `scores`: model name -> (10,) probabilities."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, probs in scores.items():
        top = int(probs.argmax())
        fig.add_bar(x=[str(d) for d in range(10)], y=probs, name=f"{name}: {top} ({probs[top]:.0%})",
                    hovertemplate=f"{name}<br>digit %{{x}}: %{{y:.2%}}<extra></extra>")
    fig.update_layout(barmode="group", height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      xaxis={"title": "digit", "type": "category"},
                      yaxis={"title": "probability", "range": [0, 1.02], "tickformat": ".0%"},
                      legend={"title": {"text": "model: prediction (confidence)"}})
    return fig


# --- the Draw page: "Right, keep it" / "Wrong? It's a ...": the user's labelled drawings ----------
def keep_drawing_ui(key: str, x28, png: bytes | None, model: str, predicted: int) -> None:
    """One click keeps this drawing, labelled, in the chosen collection (mnist_core.drawings): right as
    predicted, or corrected to the digit it really is. Each drawing is kept once; a blank one never
    reaches here. The collection's count per digit is shown."""
    from mnist_core import drawings

    st.session_state["draw_pending"] = {"key": key, "x28": x28, "png": png, "model": model, "predicted": predicted}
    saved = st.session_state.setdefault("draw_saved", {})
    collection = st.session_state.setdefault("draw_collection", drawings.DEFAULT_COLLECTION)
    row = st.container(horizontal=True)
    with row.popover(f"Collection: {collection}"):
        st.text_input("Keep drawings in the collection", key="draw_collection", max_chars=drawings.NAME_MAX,
                      help="a name of your own: one per person, or per class; see them all on the Digits page")
    if key in saved:
        row.success(f"Kept as a **{saved[key]}**. Draw the next one.")
    else:
        row.button(f"✓ Right, keep it as a {predicted}", on_click=_keep_drawing, args=(predicted,), key="draw_right")
        st.pills("Wrong? It's a", list(range(10)), key="draw_wrong", on_change=_keep_corrected,
                 help="the digit you meant: kept with that label, for fine-tuning a model on your hand")
    if error := st.session_state.pop("draw_keep_error", None):
        st.warning(error)
    try:
        counts = drawing_store().counts(collection)
    except drawings.StoreError as exc:
        st.caption(f"Drawings cannot be kept: {exc}")
        return
    st.caption(f"*{collection}*: " + " · ".join(f"{d}: {n}" for d, n in counts.items()))


@st.cache_resource(show_spinner=False)
def _drawing_store(path: str):
    from mnist_core import drawings

    return drawings.DrawingStore(path)


def drawing_store():
    """The runs folder's drawings store, checked once per process (not on every Draw rerun); a new
    connection per call inside, so every session and thread may use it. StoreError for a bad file."""
    return _drawing_store(str(inference.runs_dir().resolve()))


def _keep_corrected() -> None:
    digit = st.session_state.get("draw_wrong")
    st.session_state["draw_wrong"] = None  # the pills clear for the next drawing
    if digit is not None:
        _keep_drawing(int(digit))


def _keep_drawing(digit: int) -> None:
    """The buttons' callback (before the rerun): save the drawing the page last showed."""
    from mnist_core import drawings

    p = st.session_state.get("draw_pending")
    if not p:
        return
    try:
        drawing_store().add(st.session_state["draw_collection"], digit, p["x28"], png=p["png"],
                                    model=p["model"], predicted=p["predicted"])
    except drawings.StoreError as exc:
        st.session_state["draw_keep_error"] = f"Not kept: {exc}"
        return
    st.session_state.setdefault("draw_saved", {})[p["key"]] = digit
