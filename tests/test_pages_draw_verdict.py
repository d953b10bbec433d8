"""The Draw page's verdict (AppTest): a drawing the model says is not a digit gets that, with its greyed
guess, no "Right" button, and the pills still keep it as a digit; a digit reads as before; every model's
verdict in the "Every model" tab; a model without a "not a digit" output says so."""

from __future__ import annotations

import pytest
import torch
from conftest import digit_image
from test_pages_draw import draw_page, encode, isolated, metrics, open_tab, untrained, upload  # noqa: F401 (fixtures)

from mnist_core import inference

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def eleven(monkeypatch, winner: int) -> None:
    """Every model reads every input with 11 outputs, `winner` (10: "not a digit") far ahead, 7 second."""

    def logits_batch(self, x28):
        n = len(torch.as_tensor(x28).reshape(-1, 28, 28))
        out = torch.zeros(1, n, 11)
        out[..., 7], out[..., winner] = 3.0, 9.0
        return out

    monkeypatch.setattr(inference.Predictor, "logits_batch", logits_batch)


def test_a_non_digit_reads_as_not_a_digit_with_its_guess_greyed(untrained, monkeypatch):  # noqa: F811
    eleven(monkeypatch, 10)
    at = upload(draw_page(), "star.png", encode(digit_image(4)))
    assert metrics(at)["Prediction"] == "Not a digit"
    words = " ".join(m.value for m in at.markdown)
    assert "doesn't look like a digit" in words and "digit score is 0%" in words
    assert "mnist-probs-muted" in " ".join(h.proto.body for h in at.get("html"))
    assert not [b for b in at.button if b.key == "draw_right"]  # no "Right, keep it as a 7"
    assert at.pills(key="draw_wrong").label == "It is a digit? It's a"
    open_tab(at, "Every model")
    table = at.dataframe[0].value
    assert list(table["Is it a digit?"]) == ["not a digit (0%)", "not a digit (0%)"]
    assert list(table["Prediction"]) == [7, 7]


def test_a_digit_reads_as_a_digit(untrained, monkeypatch):  # noqa: F811
    eleven(monkeypatch, 4)
    at = upload(draw_page(), "four.png", encode(digit_image(4)))
    assert metrics(at)["Prediction"] == "4"
    assert "mnist-probs-muted" not in " ".join(h.proto.body for h in at.get("html"))
    assert at.button(key="draw_right").label.endswith("keep it as a 4")
    open_tab(at, "Every model")
    assert all(v.startswith("a digit (") for v in at.dataframe[0].value["Is it a digit?"])


def test_a_model_without_the_output_says_so(untrained):  # noqa: F811
    at = upload(draw_page(), "four.png", encode(digit_image(4)))
    (m,) = [m for m in at.metric if m.label == "Prediction"]
    assert 'no "not a digit" output' in m.help
    open_tab(at, "Every model")
    assert set(at.dataframe[0].value["Is it a digit?"]) == {'no "not a digit" output'}
