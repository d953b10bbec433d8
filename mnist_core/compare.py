"""What the Compare page's table says, in words: the best model, the curves' points, where a training time
was measured, a run's settings in one line, each architecture's tutorial figure, and why a cell is empty.

The figures themselves are measured in mnist_core.measure (a model's summary, its accuracy on the user's
drawings) and mnist_core.evaluation (the test set), and kept in mnist_core.cache.
"""

from __future__ import annotations

from pathlib import Path

from . import data
from .measure import count, number
from .models import ARCHS


def best(rows: list[dict], key: str = "test_accuracy") -> dict | None:
    """The row with the highest `key` (rows without it, and claimed figures, are skipped)."""
    scored = [r for r in rows if isinstance(r.get(key), (int, float)) and r.get("accuracy_source") != "claimed"]
    return max(scored, key=lambda r: r[key]) if scored else None


def epoch_points(rows: list[dict]) -> list[dict]:
    """Long format for plotting: one point per model and evaluated epoch."""
    return [
        {
            "model": r["name"],
            "epoch": e.get("epoch"),
            "seconds": e.get("seconds"),
            "test_accuracy": e.get("test_accuracy"),
            "train_accuracy": e.get("train_accuracy"),
            "test_loss": e.get("test_loss"),
        }
        for r in rows
        for e in r["history"]["epochs"]
    ]


def step_points(rows: list[dict]) -> list[dict]:
    """Long format: one point per model and logged step ([step, epoch, loss, seconds])."""
    return [
        {"model": r["name"], "step": s[0], "epoch": s[1], "loss": s[2], "seconds": s[3]}
        for r in rows
        for s in r["history"]["steps"]
        if len(s) >= 4
    ]


# --- what the table says, in words ---------------------------------------------------------------


def busy(load: float, cpus: int) -> bool:
    """A load clearly above what the run itself puts on the cores (about one per core it trains on):
    other work was competing, so the time measured is longer than this machine needs."""
    return load > 1.25 * cpus + 0.5


def timed_on(row: dict) -> str:
    """Where a row's training time was measured, by the highest 1-minute load seen through the run: "2 CPU
    cores, idle (load 1.9)", "2 CPU cores, busy: load 5.7", or "load not recorded" for a checkpoint made
    before the load through the run was saved."""
    device = str(row.get("device") or "").lower()
    where = "GPU, " if device.startswith("cuda") else "Apple GPU, " if device == "mps" else ""
    load, cpus = _machine(row)
    if load is None or cpus is None:
        return f"{where or ('CPU, ' if device == 'cpu' else '')}load not recorded"
    state = f"busy: load {load:.1f}" if busy(load, cpus) else f"idle (load {load:.1f})"
    return f"{where}{cpus} CPU core{'s' if cpus != 1 else ''}, {state}"


def _machine(row: dict) -> tuple[float | None, int | None]:
    """The highest load seen through a row's run and its CPU count (None: not recorded, or not numbers)."""
    return number(row.get("load_1min")), count(row.get("cpu_count"))


def timed_idle(row: dict) -> bool:
    """Whether a row's training time was measured on idle cores (the only times the table shows)."""
    load, cpus = _machine(row)
    return load is not None and cpus is not None and not busy(load, cpus)


def timing_caveat(rows: list[dict]) -> str | None:
    """Why some training times are not shown, in words; None when every recorded time was measured on idle
    cores."""
    hidden = {r["name"]: timed_on(r) for r in rows if r.get("train_seconds") is not None and not timed_idle(r)}
    busy_ = [n for n, t in hidden.items() if "busy" in t]
    unknown = [n for n, t in hidden.items() if "not recorded" in t]
    parts = ([f"{', '.join(busy_)} trained on a busy machine"] if busy_ else []) + (
        [f"{', '.join(unknown)} {'carries' if len(unknown) == 1 else 'carry'} no record of the load through the run"]
        if unknown
        else []
    )
    if not parts:
        return None
    return (
        "Training times are shown only for runs timed on idle cores, where they say how fast the model trains: "
        f"{'; '.join(parts)}, so {'its time is' if len(hidden) == 1 else 'their times are'} not shown."
    )


def settings_text(row: dict) -> str:
    """A run's recipe in one line: "cnn · adam lr 0.02 onecycle · batch 64 · 1 epoch · augmented"."""
    c = row.get("config") or {}
    parts = [str(row.get("arch") or "?")]
    if c.get("dataset") not in (None, "mnist"):
        parts.append(data.DATASETS.get(c["dataset"], (None, str(c["dataset"])))[1])
    opt = f"{c.get('optimizer') or '?'}" + (f" lr {c['lr']:g}" if number(c.get("lr")) is not None else "")
    if c.get("schedule") not in (None, "constant"):
        opt += f" {c['schedule']}"
    parts.append(opt)
    if number(c.get("batch_size")) is not None:
        parts.append(f"batch {c['batch_size']:g}")
    epochs = number(c.get("epochs"))
    if number(c.get("max_steps")):
        parts.append(f"{c['max_steps']:g} steps")
    elif epochs is not None:
        parts.append(f"{epochs:g} epoch{'s' if epochs != 1 else ''}")
    if number(c.get("train_limit")):
        parts.append(f"first {c['train_limit']:,.0f} images")
    for key, word in (("label_smoothing", "smoothing"), ("weight_decay", "decay")):
        if number(c.get(key)):
            parts.append(f"{word} {c[key]:g}")
    parts += [
        word
        for key, word in (("augment", "augmented"), ("pen_data", "pen data"), ("styles", "styles"))
        if c.get(key) is True
    ]
    if c.get("init_from"):
        parts.append(f"fine-tuned from {Path(str(c['init_from'])).stem}")
    if c.get("collection"):
        parts.append(f"on drawings '{c['collection']}'")
    return " · ".join(parts)


def tutorial(arch: str) -> tuple[float | None, str]:
    """What the architecture's tutorial reported: (its MNIST test accuracy, or None where it reported
    another dataset or measure, or nothing), and the figure in words with its dataset, metric and epochs."""
    a = ARCHS.get(arch)
    if a is None:
        return None, "not an architecture of the registry"
    mnist = a.reported_accuracy if a.reported_dataset == "mnist" else None
    label = data.DATASETS.get(a.reported_dataset, (None, a.reported_dataset))[1]
    said = a.reported
    if not said.startswith("no ") and label.lower() not in said.lower():
        said = f"{label}: {said}"
    return mnist, said


def table_rows(rows: list[dict], on_drawings: dict | None = None) -> list[dict]:
    """The summaries with what the table adds in words: tutorial figures, where each was timed, settings,
    and the accuracy on a collection of the user's drawings (name -> fraction or None) when given."""
    out = []
    for r in rows:
        mnist, said = tutorial(r.get("arch"))
        extra = {"tutorial_mnist": mnist, "tutorial_said": said, "timed_on": timed_on(r), "settings": settings_text(r)}
        if not timed_idle(r):  # a busy machine's seconds say little about the model: none rather than those
            extra["train_seconds"] = None
        if on_drawings is not None:
            extra["drawings_accuracy"] = on_drawings.get(r["name"])
        out.append({**r, **extra})
    return out


def missing_notes(rows: list[dict], headers: dict[str, str], notes: dict[str, str] | None = None) -> list[str]:
    """Why cells are empty, one line per column and reason: "Real handwriting, lenet_f: trained on another
    dataset". `headers` maps a row key to its column's header; notes[name] is a row's drawings note."""
    why = {"drawn_accuracy": "drawn_note", "redrawn_accuracy": "redrawn_note"}
    grouped: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        for key, header in headers.items():
            if r.get(key) is not None:
                continue
            if key == "test_accuracy":
                reason = (
                    "only claimed by the uploaded file until it is measured here"
                    if r.get("accuracy_source") == "claimed"
                    else "not recorded in its checkpoint"
                )
            elif key in ("digits_kept", "refused") and not r.get("detector"):
                reason = 'no "not a digit" output: it gives every drawing a digit'
            elif key in ("digits_kept", "refused", "ece"):
                reason = r.get("detection_note") or "not measured"
            elif key == "drawings_accuracy":
                reason = (notes or {}).get(r["name"]) or "not measured"
            elif key in why:
                reason = r.get(why[key]) or "not measured"
            else:
                continue
            grouped.setdefault((header, reason), []).append(r["name"])
    return [f"{header} — {', '.join(names)}: {reason}" for (header, reason), names in grouped.items()]
