"""The Draw page's verdict (AppTest): a drawing the model says is not a digit gets that, with its greyed
guess; its "Right" button keeps it as not a digit and the pills still keep it as a digit; a digit reads as
before, and its pills can keep it as not a digit; every model's verdict in the "Every model" tab; a model
without a "not a digit" output says so."""

from __future__ import annotations

import pytest
import torch
from conftest import digit_image
from test_pages_draw import (  # noqa: F401 (fixtures)
    draw_page,
    encode,
    isolated,
    kept,
    metrics,
    open_tab,
    texts,
    untrained,
    upload,
)

from mnist_core import drawings, inference

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def eleven(monkeypatch, winner: int) -> None:
    """Every model reads every input with 11 outputs, `winner` (10: "not a digit") far ahead, 7 second."""

    def logits_batch(self, x28):
        n = len(torch.as_tensor(x28).reshape(-1, 28, 28))
        out = torch.zeros(1, n, 11)
        out[..., 7], out[..., winner] = 3.0, 9.0
        return out

    monkeypatch.setattr(inference.Predictor, "logits_batch", logits_batch)


def test_a_non_digit_reads_as_not_a_digit_with_its_guess_greyed(untrained, monkeypatch, runs_dir):  # noqa: F811
    eleven(monkeypatch, 10)
    at = upload(draw_page(), "star.png", encode(digit_image(4)))
    assert metrics(at)["Prediction"] == "Not a digit"
    words = " ".join(m.value for m in at.markdown)
    assert "doesn't look like a digit" in words and "digit score is 0%" in words
    assert "mnist-probs-muted" in " ".join(h.proto.body for h in at.get("html"))
    assert at.button(key="draw_right").label == "✓ Right, keep it as not a digit"  # not "as a 7"
    pills = at.pills(key="draw_wrong")
    assert pills.label == "It is a digit? It's a" and pills.options == [str(d) for d in range(10)]
    at.button(key="draw_right").click().run()
    assert not at.exception and "Kept as **not a digit**" in texts(at.success)
    (d,) = kept(runs_dir)
    assert (d.digit, d.predicted) == (drawings.NOT_A_DIGIT, 7)
    assert "not a digit: 1" in texts(at.caption)
    open_tab(at, "Every model")
    table = at.dataframe[0].value
    assert list(table["Is it a digit?"]) == ["not a digit (0%)", "not a digit (0%)"]
    assert list(table["Prediction"]) == [7, 7]


def test_a_digit_reads_as_a_digit_and_may_be_kept_as_not_a_digit(untrained, monkeypatch, runs_dir):  # noqa: F811
    eleven(monkeypatch, 4)
    at = upload(draw_page(), "four.png", encode(digit_image(4)))
    assert metrics(at)["Prediction"] == "4"
    assert "mnist-probs-muted" not in " ".join(h.proto.body for h in at.get("html"))
    assert at.button(key="draw_right").label.endswith("keep it as a 4")
    assert at.pills(key="draw_wrong").options[-1] == "not a digit"  # what the model took for a 4 was none
    at.pills(key="draw_wrong").set_value(drawings.NOT_A_DIGIT).run()
    assert not at.exception and [d.digit for d in kept(runs_dir)] == [drawings.NOT_A_DIGIT]
    open_tab(at, "Every model")
    assert all(v.startswith("a digit (") for v in at.dataframe[0].value["Is it a digit?"])


def test_a_model_without_the_output_says_so(untrained):  # noqa: F811
    at = upload(draw_page(), "four.png", encode(digit_image(4)))
    (m,) = [m for m in at.metric if m.label == "Prediction"]
    assert 'no "not a digit" output' in m.help
    open_tab(at, "Every model")
    assert set(at.dataframe[0].value["Is it a digit?"]) == {'no "not a digit" output'}
