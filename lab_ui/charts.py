"""The pages' charts: training curves (Train) and class probabilities (Draw, Inside); the Draw page's own
bars are plain HTML (proba_bars), so a drawing's reading costs the browser no chart library."""

from __future__ import annotations

import plotly.graph_objects as go


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing of a curve)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def waiting(fig, note: str | None) -> object:
    """An empty chart's axes with `note` in the middle, in words: where the curves will grow."""
    if note:
        fig.add_annotation(text=note, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14})
    return fig


def loss_figure(steps: list, note: str | None = None) -> object:
    """Plotly: training loss per logged step, raw (faint) and smoothed; `note` on it while it has none."""
    x = [p[0] for p in steps]
    y = [p[2] for p in steps]
    fig = go.Figure()
    fig.add_scatter(x=x, y=y, mode="lines", name="loss", line={"color": "rgba(99,102,241,0.35)"})
    fig.add_scatter(x=x, y=smooth(y), mode="lines", name="smoothed", line={"color": "#6366f1", "width": 2})
    fig.update_layout(
        title="Training loss",
        xaxis_title="step",
        yaxis_title="cross-entropy",
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return waiting(fig, None if steps else note)


def accuracy_figure(epochs: list[dict], step_accuracy: list | tuple = (), note: str | None = None) -> object:
    """Plotly: train and test accuracy per epoch, and (step_accuracy: (step, epoch, accuracy) points) the
    running training accuracy of the batches so far in each epoch, so the chart moves from the first steps."""
    x = [r["epoch"] for r in epochs]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[r["train_accuracy"] for r in epochs], mode="lines+markers", name="train")
    fig.add_scatter(x=x, y=[r["test_accuracy"] for r in epochs], mode="lines+markers", name="test")
    fig.add_scatter(
        x=[p[1] for p in step_accuracy],
        y=[p[2] for p in step_accuracy],
        mode="lines",
        name="train, running (this epoch's batches so far)",
        line={"width": 1, "color": "#9ca3af"},
    )
    fig.update_layout(
        title="Accuracy",
        xaxis_title="epoch",
        yaxis_title="accuracy",
        height=300,
        yaxis={"tickformat": ".0%", "range": [0, 1.02]},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.25},
    )
    return waiting(fig, None if epochs or step_accuracy else note)


def proba_figure(probs, height: int = 260) -> object:
    """Plotly: the ten class probabilities as bars, the top class highlighted."""
    top = int(probs.argmax())
    colours = ["#6366f1" if d == top else "#a5b4fc" for d in range(10)]
    fig = go.Figure(
        go.Bar(
            x=[str(d) for d in range(10)],
            y=probs,
            marker_color=colours,
            text=[f"{p:.0%}" if p >= 0.005 else "" for p in probs],
            textposition="outside",
            hovertemplate="digit %{x}: %{y:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        showlegend=False,
        xaxis={"title": "digit", "type": "category"},
        yaxis={"title": "probability", "range": [0, 1.12], "tickformat": ".0%"},
    )
    return fig


def proba_bars(probs, height: int = 200, muted: bool = False) -> str:
    """The ten class probabilities as HTML bars, the top class highlighted (the Draw page's chart: plain
    elements, so a drawing's reading costs the browser no chart library). Text takes the theme's colour.
    muted: greyed and faded (what a model would have guessed for a drawing it says is not a digit)."""
    top = int(probs.argmax())
    label = ("Not a digit; it would have guessed: " if muted else "Class probabilities: ") + ", ".join(
        f"{d}: {p:.1%}" for d, p in enumerate(probs)
    )
    cols = []
    for d, p in enumerate(probs):
        colour = ("#9ca3af" if d == top else "#d1d5db") if muted else ("#6366f1" if d == top else "#a5b4fc")
        text = f"{p:.0%}" if p >= 0.005 else ""
        cols.append(
            f'<div class="mnist-prob" title="digit {d}: {p:.2%}" style="flex:1;display:flex;flex-direction:column;'
            f'justify-content:flex-end;align-items:center;height:100%">'
            f'<div style="font-size:0.75rem;line-height:1.2;min-height:1.2em;font-weight:{700 if d == top else 400}">'
            f'{text}</div><div class="mnist-prob-bar" style="width:70%;height:{max(p, 0.004) * 100:.1f}%;'
            f'background:{colour};border-radius:3px 3px 0 0"></div></div>'
        )
    digits = "".join(
        f'<div style="flex:1;text-align:center;font-weight:{700 if d == top else 400}">{d}</div>' for d in range(10)
    )
    return (
        f'<div class="mnist-probs{" mnist-probs-muted" if muted else ""}" role="img" aria-label="{label}" '
        f'style="padding:0.25rem 0{";opacity:0.55" if muted else ""}">'
        f'<div style="display:flex;gap:2px;height:{height}px;border-bottom:1px solid rgba(128,128,128,0.5)">'
        f'{"".join(cols)}</div><div style="display:flex;gap:2px;padding-top:0.2rem">{digits}</div>'
        '<div style="text-align:center;font-size:0.8rem;opacity:0.7">digit</div></div>'
    )


def models_figure(scores: dict, height: int = 360) -> object:
    """Plotly: every model's ten class probabilities as grouped bars; each legend entry names the
    model, its prediction and its confidence. `scores`: model name -> (10,) probabilities."""
    fig = go.Figure()
    for name, probs in scores.items():
        top = int(probs.argmax())
        fig.add_bar(
            x=[str(d) for d in range(10)],
            y=probs,
            name=f"{name}: {top} ({probs[top]:.0%})",
            hovertemplate=f"{name}<br>digit %{{x}}: %{{y:.2%}}<extra></extra>",
        )
    fig.update_layout(
        barmode="group",
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "digit", "type": "category"},
        yaxis={"title": "probability", "range": [0, 1.02], "tickformat": ".0%"},
        legend={"title": {"text": "model: prediction (confidence)"}},
    )
    return fig
