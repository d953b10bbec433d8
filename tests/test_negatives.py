"""The project's own non-digits (mnist_core.negatives): every kind draws, the same for a seed; the
train and held-out kinds never meet; no digit-like glyph gets in; the bench runs and prints its
totals; temperature scaling fixes an over-confident model's calibration."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from helpers import ROOT

from mnist_core import calibration, checkpoints, inference, negatives, pen
from mnist_core import negatives_glyphs as glyphs
from mnist_core import negatives_shapes as shapes
from mnist_core.config import TrainConfig
from mnist_core.models import build
from mnist_core.preprocess import preprocess

ALL_POOLS = ("letters", "symbols", "unseen_letters", "unseen_fonts", "scripts", "signs")
LATIN_POOLS = ("letters", "unseen_letters", "unseen_fonts")


@pytest.mark.parametrize("kind", negatives.kinds())
def test_each_kind_draws_something_and_the_same_for_a_seed(kind):
    a = negatives.make(kind, 2, seed=7)
    assert len(a) == 2
    for x in a:
        assert x.shape == (28, 28) and x.dtype == np.float32
        assert x.max() > 0.5 and (x > 0.3).sum() > 20  # real ink, not a dot
    again = negatives.make(kind, 3, seed=7)
    assert all(np.array_equal(p, q) for p, q in zip(a, again[:2], strict=True))  # item i: the same for any n
    other = negatives.make(kind, 2, seed=8)
    assert not any(np.array_equal(p, q) for p, q in zip(a, other, strict=True))
    rgba = negatives.make(kind, 1, seed=7, canvas=True)[0]
    assert rgba.shape == (pen.CANVAS, pen.CANVAS, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(preprocess(rgba), a[0])  # the 28x28 is what the app reads from the canvas


def test_train_and_held_out_kinds_are_disjoint_and_held_out_kinds_are_never_made_for_training():
    train, held = set(negatives.kinds("train")), set(negatives.kinds("held_out"))
    assert train and held and not train & held
    assert train | held == set(negatives.kinds())
    for kind in held:
        with pytest.raises(ValueError, match="held out"):
            negatives.make(kind, 1, split="train")
    assert len(negatives.make("letters", 1, split="train")) == 1
    # the glyphs: no (font, char) of a training kind in a held-out one, fonts and letters held out whole
    seen = set(glyphs.pool("letters")) | set(glyphs.pool("symbols"))
    for kind in ("unseen_letters", "unseen_fonts", "scripts", "signs"):
        assert glyphs.pool(kind) and not seen & set(glyphs.pool(kind)), kind
    assert {f for f, _ in glyphs.pool("letters")} <= set(glyphs.TRAIN_FONTS)
    assert not {f for f, _ in glyphs.pool("unseen_fonts")} & set(glyphs.TRAIN_FONTS)
    assert not {c for _, c in glyphs.pool("unseen_letters")} & {c for _, c in glyphs.pool("letters")}
    assert not set(shapes.SHAPES) & set(shapes.DOODLES)


def _shape(strokes) -> bytes:
    """A glyph's strokes, wherever they are placed: equal for the same drawing."""
    lo = np.concatenate(strokes).min(0)
    return b"|".join((np.asarray(s) - lo).round(3).tobytes() for s in strokes)


# Letters a reader (or a network reading 28x28 ink) takes for a digit, and signs that are one stroke
LOOK_ALIKES = "OoQ" + "Il" + "Ss" + "Zz" + "B" + "Gb" + "gq" + "0123456789" + "()[]{}|/\\!.,'`:;_-"


def test_digit_like_glyphs_are_left_out():
    for kind in LATIN_POOLS + ("symbols",):
        chars = {c for _, c in glyphs.pool(kind)}
        assert not chars & set(LOOK_ALIKES), (kind, sorted(chars & set(LOOK_ALIKES)))
    for font, char in glyphs.pool("letters") + glyphs.pool("unseen_fonts"):
        assert not (font in glyphs.SCRIPT_FONTS and char in glyphs.SCRIPT_DIGIT_LIKE), (font, char)
    kept = [(f, c) for kind in ALL_POOLS for f, c in glyphs.pool(kind)]
    # the digit slots of the other fonts hold digits, but Japanese's hold kanji: its numerals are out
    assert not [(f, c) for f, c in kept if c.isdigit() and f != "japanese"]
    assert not [c for f, c in kept if f == "japanese" and c in '12345678:"']
    # and no kept glyph is any font's digit drawn again under another slot
    fonts = glyphs.TRAIN_FONTS + glyphs.HELD_OUT_FONTS + ("greek", "cyrilc_1", "mathupp", "astrology")
    digits = {_shape(glyphs.glyph(f, d)) for f in fonts for d in "0123456789"}
    assert not [(f, c) for f, c in kept if _shape(glyphs.glyph(f, c)) in digits]
    assert _shape(glyphs.glyph("futural", "0")) in digits  # (the check sees a digit when there is one)


def test_turned_glyphs_leave_out_the_turns_that_give_a_digit_and_turn_the_training_glyphs_only():
    triples = glyphs.turned_pool()
    assert {(f, c) for f, c, _ in triples} <= set(glyphs.pool("letters")) | set(glyphs.pool("symbols"))
    made = {(c, t) for _, c, t in triples}
    for turn in ("mirror", "flip"):  # b and q: a 6 and a 9
        assert ("d", turn) not in made and ("p", turn) not in made and ("P", turn) not in made
    assert ("L", "half") not in made and ("N", "left") not in made and ("N", "right") not in made  # a 7, a Z
    assert not {c for c, _ in made} & set("LJre")
    assert ("d", "half") in made and ("N", "mirror") in made and ("A", "flip") in made  # the harmless turns stay
    # a half turn is the glyph's points negated, a mirror its x negated
    half = glyphs.turned("futural", "A", "half")
    np.testing.assert_allclose(np.concatenate(half), -np.concatenate(glyphs.glyph("futural", "A")))
    mirror = np.concatenate(glyphs.turned("futural", "F", "mirror"))
    np.testing.assert_allclose(mirror[:, 0], -np.concatenate(glyphs.glyph("futural", "F"))[:, 0])


def test_polygons_have_three_or_five_corners():
    rng = np.random.default_rng(3)
    for _ in range(40):
        s = shapes.polygon(rng)
        pts = np.concatenate(s)
        corners = len(np.unique(pts.round(5), axis=0))
        assert corners in (3, 5), corners  # no four corners (the held-out diamond) and no rough 0


def test_a_single_stroke_reads_as_a_1_and_is_not_a_non_digit():
    line = [np.float32([[0, 0], [0.1, 1]])]
    flagged_one = [np.float32([[0, 0.3], [0.25, 0], [0.25, 1]])]
    assert negatives.is_stroke(line) and negatives.is_stroke(flagged_one) and negatives.is_stroke([])
    assert not negatives.is_stroke(shapes.star(np.random.default_rng(0)))
    ones = [d for d in pen.load() if d.label == 1][:200]
    assert np.mean([negatives.is_stroke(d.strokes) for d in ones]) > 0.8


def test_a_thin_stroke_lying_flat_is_a_dash_a_non_digit_and_the_shapes_draw_one():
    t = np.linspace(0, 1, 20, dtype=np.float32)
    level, tilted_20 = np.stack([t, 0 * t], 1), np.stack([t, np.tan(np.radians(20)) * t], 1)
    slash_45, wave = np.stack([t, t], 1), np.stack([6 * t, 0.3 * np.sin(12 * t)], 1)
    for flat in (level, tilted_20, wave):
        assert negatives.lies_flat([flat]) and not negatives.is_stroke([flat])
    assert negatives.is_stroke([slash_45]) and not negatives.lies_flat([slash_45])  # a slanted 1
    assert not negatives.lies_flat(shapes.star(np.random.default_rng(0)))  # a shape is not a stroke at all
    rng = np.random.default_rng(1)
    assert all(negatives.lies_flat(shapes.dash(rng)) for _ in range(50))
    ones = [d for d in pen.load() if d.label == 1]
    assert np.mean([negatives.lies_flat(d.strokes) for d in ones]) < 0.02  # UNIPEN's few flat "1"s are glitches


def test_temperature_scaling_fixes_an_over_confident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 3000)
    right = rng.random(3000) < 0.7  # 70% right, at about 99% confidence
    said = np.where(right, labels, (labels + rng.integers(1, 10, 3000)) % 10)
    logits = rng.normal(0, 1, (3000, 10)) + 9 * np.eye(10)[said]
    before = calibration.ece(calibration.softmax(logits), labels)
    t = calibration.fit_temperature(logits[:2000], labels[:2000])
    after = calibration.ece(calibration.softmax(logits[2000:], t), labels[2000:])
    assert before > 0.2 and t > 1.5 and after < before / 4, (before, t, after)
    # views (N, V, 10): the same fit through averaged softmax
    views = np.stack([logits, logits + rng.normal(0, 0.3, logits.shape)], 1)
    assert calibration.fit_temperature(views, labels) > 1.5
    assert calibration.ece(np.eye(10)[labels], labels) == 0.0  # sure and right: calibrated


def test_the_bench_runs_in_its_tiny_mode_and_prints_its_totals(small_data_dir, capsys):
    spec = importlib.util.spec_from_file_location("not_a_digit", ROOT / "bench" / "not_a_digit.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--tiny", "--data-dir", str(small_data_dir)]) == 0
    out = capsys.readouterr().out
    for kind in negatives.kinds():
        assert any(line.startswith(kind + " ") for line in out.splitlines()), kind
    for total in (
        "threshold (99% of training writers; own)",
        "digits kept: UNIPEN benchmark writers",
        "digits kept: MNIST test",
        "non-digits refused: held-out kinds",
        "non-digits refused: all kinds",
        "held-out refused at the targets (a bound)",
        "calibration: ECE (15 bins) on UNIPEN benchmark writers",
    ):
        assert total in out, total
    row = next(line for line in out.splitlines() if line.startswith("non-digits refused: all kinds"))
    methods = len(bench.METHODS) + bool(inference.load_model("cnn").has_detector)  # (its own output's, if any)
    assert len(row.split("%")) == methods + 1  # a share for each method


def test_the_bench_reads_a_model_with_the_not_a_digit_output_at_its_own_threshold(small_data_dir, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("not_a_digit", ROOT / "bench" / "not_a_digit.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.manual_seed(0)
    model = build("cnn", {"width": 4, "classes": 11})
    with torch.no_grad():
        model[-1].bias[10] = 50.0  # says "not a digit" to everything
    reading = {"temperature": 2.0, "threshold": 0.5}
    config, metrics = TrainConfig().to_dict(), {"test_accuracy": 0.1}
    path = checkpoints.save(tmp_path / "eleven.pt", model, "cnn", config, {}, metrics, extra={"reading": reading})
    assert bench.main(["--tiny", "--data-dir", str(small_data_dir), "--model", str(path)]) == 0
    out = capsys.readouterr().out
    assert "methods default" in out and "T = 2.000" in out and "accuracy as the app reads them" in out
    header = next(line for line in out.splitlines() if line.startswith("kind"))
    assert header.split()[3:7] == ["msp", "energy", "mahalanobis", "output"]
    kept = next(line for line in out.splitlines() if line.startswith("digits kept: MNIST test"))
    refused = next(line for line in out.splitlines() if line.startswith("non-digits refused: all kinds"))
    assert kept.split()[-1] == "0.0%" and refused.split()[-1] == "100.0%"  # everything refused at its threshold
    ten = checkpoints.save(tmp_path / "ten.pt", build("cnn", {"width": 4}), "cnn", config, {}, metrics)
    assert bench.main(["--tiny", "--data-dir", str(small_data_dir), "--model", str(ten), "--method", "output"]) != 0


def test_the_bounds_threshold_keeps_exactly_the_targets_share_of_each_set_of_digits():
    spec = importlib.util.spec_from_file_location("not_a_digit", ROOT / "bench" / "not_a_digit.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = np.random.default_rng(0)
    bench_scores, mnist_scores = rng.uniform(0, 1, 1000), rng.uniform(0.2, 1, 4000)
    blank = np.zeros(1000, bool)
    blank[:5] = True
    bench_scores[:5] = 0.0  # blank reads: not digits the threshold keeps or loses
    res = {"bench": {"m": bench_scores}, "mnist_test": {"m": mnist_scores}, "blank": {"bench": blank}}
    thr = bench._bound(res, "m")
    kept = [(bench_scores[~blank] >= thr).mean(), (mnist_scores >= thr).mean()]
    assert kept[0] >= bench.TARGET_KEPT[0] and kept[1] >= bench.TARGET_KEPT[1]
    above = np.nextafter(thr, 1.0)  # the least raise loses one of the digits the tighter target counts
    kept_above = [(bench_scores[~blank] >= above).mean(), (mnist_scores >= above).mean()]
    assert kept_above[0] < bench.TARGET_KEPT[0] or kept_above[1] < bench.TARGET_KEPT[1]
