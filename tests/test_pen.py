"""Pen-drawn digits (mnist_core.pen, issue 20): the UNIPEN reader on small files made here, the
writer split, the canvas renders, the missing/corrupt file messages, and training with them."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from helpers import run_bench

from mnist_core import augment, data, pen, pen_styles, trainset
from mnist_core.augment import style_batch
from mnist_core.config import TrainConfig
from mnist_core.preprocess import SCAN_ASPECT, preprocess
from mnist_core.training import train


def ring(n=20, cx=300.0, cy=500.0, r=120.0):
    t = np.linspace(0, 2 * np.pi, n)
    return np.stack([cx + 0.7 * r * np.sin(t), cy + r * np.cos(t)], 1).round().tolist()


# Strokes in tablet units, y up (as UNIPEN stores them)
SHAPES = {
    0: [ring()],
    1: [[[300, 620], [302, 500], [304, 380]]],
    7: [[[200, 620], [400, 620], [280, 380]]],
}


def record(label, donor, writer, strokes):
    return {
        "label": str(label),
        "donor": donor,
        "file": f"data/1a/{donor}/{writer}.dat",
        "writer": writer,
        "country": "",
        "quality": "OK",
        "delineation": "1",
        "strokes": strokes,
    }


def write_pen(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    return path


@pytest.fixture
def pen_root(tmp_path, monkeypatch):
    """A data dir holding a tiny UNIPEN file: 3 training labs and 2 benchmark labs, 3 digits each;
    no bundled copy and a private cache, so nothing outside the test is read or written."""
    monkeypatch.setattr(pen, "BUNDLED", tmp_path / "no bundled copy" / pen.FILE)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    recs = [
        record(label, donor, f"w{donor}", strokes)
        for donor in ("apa01", "syn02", "ibm", "gmd1", "val")
        for label, strokes in SHAPES.items()
    ]
    write_pen(tmp_path / "UNIPEN" / pen.FILE, recs)
    return tmp_path


def test_reader_parses_the_real_format(pen_root):
    digits = pen.read(pen_root / "UNIPEN" / pen.FILE)
    assert len(digits) == 15
    d = digits[0]
    assert (d.label, d.lab, d.writer, d.benchmark) == (0, "apa", "wapa01", False)
    assert digits[1].strokes[0].dtype == np.float32 and digits[1].strokes[0].shape == (3, 2)
    # y points up in the file, down in images: the first point of the 1 (top) has the smallest row
    assert digits[1].strokes[0][:, 1].tolist() == [-620, -500, -380]
    assert [d.lab for d in digits if d.benchmark] == ["gmd"] * 3 + ["val"] * 3


def test_split_never_puts_a_benchmark_writer_into_training(pen_root):
    train_digits, bench = pen.split(pen.load(pen_root))
    assert {d.lab for d in bench} == {"gmd", "val"}
    assert not {d.lab for d in train_digits} & set(pen.BENCHMARK_LABS)
    assert not {(d.lab, d.writer) for d in train_digits} & {(d.lab, d.writer) for d in bench}
    images, labels = pen.training_set(pen_root, renders=2, seed=0)
    assert images.shape == (2, len(train_digits), 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [d.label for d in train_digits]
    assert (images.reshape(2 * len(train_digits), -1).max(1) > 200).all()  # every render has ink


def test_split_of_the_real_file_keeps_benchmark_labs_out(monkeypatch):
    if not pen.is_available():
        pytest.skip("no UNIPEN file (set MNIST_DATA_DIR to a folder holding UNIPEN/)")
    train_digits, bench = pen.split(pen.load())
    assert len(bench) == 3469 and len({(d.lab, d.writer) for d in bench}) == 44
    assert len(train_digits) == 12484
    assert not {d.lab for d in train_digits} & set(pen.BENCHMARK_LABS)


def test_render_is_a_canvas_drawing_and_reproducible(pen_root):
    _, bench = pen.split(pen.load(pen_root))
    a = [img for _, img in pen.benchmark_samples(pen_root, seed=3)]
    b = [img for _, img in pen.benchmark_samples(pen_root, seed=3)]
    assert len(a) == len(bench) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    for img in a:
        assert img.shape == (280, 280, 4) and img.dtype == np.uint8
        assert set(np.unique(img[..., :3][img[..., 3] == 255])) <= set(range(256))
        assert preprocess(img) is not None
    assert {int(img[0, 0, 3]) for img in a} <= {0, 255}  # transparent or black background


def test_missing_file_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(pen, "BUNDLED", tmp_path / "bundled" / pen.FILE)
    with pytest.raises(data.DataUnavailable, match="unipen_1a_digits.jsonl.gz") as exc:
        pen.load(tmp_path / "empty")
    assert str((tmp_path / "empty" / "UNIPEN").resolve()) in str(exc.value)
    assert "MNIST alone" in str(exc.value)


@pytest.mark.parametrize("content", [b"not gzip at all", "truncated", "bad json", "no strokes"])
def test_corrupt_file_names_the_file(tmp_path, monkeypatch, content):
    monkeypatch.setattr(pen, "BUNDLED", tmp_path / "bundled" / pen.FILE)
    path = tmp_path / "UNIPEN" / pen.FILE
    write_pen(path, [record(1, "apa", "w", SHAPES[1])] * 50)
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:60])
    elif content == "bad json":
        path.write_bytes(gzip.compress(b'{"label": "1", "strokes": [[1, 2\n'))
    elif content == "no strokes":
        write_pen(path, [record(1, "apa", "w", [])])
    else:
        path.write_bytes(content)
    with pytest.raises(data.DataUnavailable, match="corrupt") as exc:
        pen.load(tmp_path)
    assert str(path) in str(exc.value)


def test_batched_benchmark_matches_predict_proba(pen_root):
    import mnist_core

    predictor = mnist_core.load_model("cnn")
    res = pen.benchmark(predictor, pen_root, seed=1)
    preds = [int(np.argmax(predictor.predict_proba(img))) for _, img in pen.benchmark_samples(pen_root, seed=1)]
    _, bench = pen.split(pen.load(pen_root))
    direct = pen.score([d.label for d in bench], preds, [d.lab for d in bench])
    assert res["accuracy"] == direct["accuracy"] and res["per_digit"] == direct["per_digit"]
    assert set(res["per_lab"]) == {"gmd", "val"} and res["digits"] == 6


def test_score_reports_labs_digits_and_confusions():
    s = pen.score([0, 0, 1, 1, 7], [0, 8, 7, 7, 7], ["gmd", "gmd", "val", "val", "val"])
    assert s["accuracy"] == pytest.approx(0.4)
    assert s["per_lab"] == {"val": pytest.approx(1 / 3), "gmd": 0.5}
    assert s["per_digit"] == {"0": 0.5, "1": 0.0, "7": 1.0}
    assert s["confusions"][0] == [1, 7, 2]


def test_style_strokes_touch_only_their_digits():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 1, 28, 28)
    x[:, 0, 4:24, 12:16] = 1.0  # a bar of ink standing in for each digit
    labels = torch.tensor([0, 1, 7, 9, 2, 3, 4, 8])
    y = style_batch(x, labels, gen, p=1.0)
    changed = (y != x).flatten(1).any(1)
    assert changed.tolist() == [True, True, True, True, False, False, False, False]
    assert (y >= x).all() and y.max() <= 1
    assert torch.equal(style_batch(x, labels, torch.Generator().manual_seed(0), p=0.0), x)


def test_pen_styles_flag_the_1_and_float_the_5s_bar():
    rng = np.random.default_rng(0)
    one = [np.float32([[300, 380], [302, 500], [304, 620]])]  # a plain stroke, top to bottom (y down)
    flags = [pen_styles.add_style(one, 1, rng)[1] for _ in range(200)]
    lengths = np.array([np.hypot(*(f[1] - f[0])) / 240 for f in flags])
    degrees = np.array([np.degrees(np.arctan2(f[1][1] - f[0][1], f[0][0] - f[1][0])) for f in flags])
    assert all(np.allclose(f[0], [300, 380]) for f in flags)  # from the top, down to the left
    assert 15 <= degrees.min() and degrees.max() <= 65 and lengths.max() > 1.0  # up to longer than the stem
    assert lengths[degrees < 35].max() <= 0.35  # a shallow flag is a short hook, never a 7's bar
    # a 5: body (neck down, then the belly) and bar; the neck is cut at its lowest-left point, the bar floats
    body = np.float32(
        [
            [100, 100],
            [99, 130],
            [98, 160],
            [97, 190],
            [130, 185],
            [170, 200],
            [200, 250],
            [190, 300],
            [150, 330],
            [100, 335],
        ]
    )
    bar = np.float32([[100, 100], [200, 95]])
    out = pen_styles.add_style([body, bar], 5, rng)
    assert np.allclose(out[0], body[3:]) and np.allclose(out[1][:, 0], bar[:, 0])
    gap = out[0][0, 1] - out[1][:, 1].mean()
    assert 0.1 * 240 <= gap <= 0.35 * 240 + 1e-3
    assert pen_styles.add_style([body], 5, rng) == [body]  # one stroke: no bar to float


HEAD_9 = np.float32([[160, 100], [100, 120], [100, 180], [160, 190], [160, 100]])  # a loop: 90 of 300 tall
STEM_9 = np.float32([[160, 100], [160, 250], [160, 400]])


def test_a_small_headed_9_keeps_its_height_and_squeezes_its_head():
    rng = np.random.default_rng(0)
    head, stem = HEAD_9, STEM_9
    for _ in range(50):
        small_head, small_stem = pen_styles.small_head([head, stem], 100.0, 300.0, rng)
        assert np.array_equal(small_head[:, 0], head[:, 0]) and np.ptp(small_stem[:, 1]) == pytest.approx(300)
        assert 0.1 * 300 <= np.ptp(small_head[:, 1]) <= 0.2 * 300  # 30% of the height -> 15-30% of 45%
    styled = [pen_styles.add_style([head, stem], 9, np.random.default_rng(s)) for s in range(200)]
    squeezed = sum(np.ptp(out[0][:, 1]) < 80 for out in styled) / len(styled)
    assert squeezed == pytest.approx(pen_styles.SMALL_HEAD_P, abs=0.1)
    assert all(len(out) == 3 for out in styled)  # and each 9 still gets its curled tail


def test_a_curled_9s_tail_hooks_or_loops_left_from_the_stems_end(monkeypatch):
    monkeypatch.setitem(pen_styles.STYLES, "curled_9", True)
    loops = 0
    for s in range(100):
        tail = pen_styles.curled_tail(160.0, 400.0, 300.0, np.random.default_rng(s))
        assert np.allclose(tail[0], [160, 400], atol=1e-3)  # from the stem's end
        assert tail[:, 0].min() < 160 - 0.15 * 300 and tail[:, 1].max() > 400  # down and round to the left
        assert tail[:, 0].min() > 160 - 0.55 * 300 and tail[:, 1].min() > 400 - 0.65 * 300  # a small curl
        loops += bool(tail[-1, 1] < 400 and tail[-1, 0] > 160 - 0.1 * 300)  # back up, across or at the stem
        assert np.array_equal(tail, pen_styles.curled_tail(160.0, 400.0, 300.0, np.random.default_rng(s)))
    assert 25 <= loops <= 75  # about half loops, half hooks
    outs = [pen_styles.add_style([HEAD_9, STEM_9], 9, np.random.default_rng(s)) for s in range(100)]
    assert 30 <= sum(len(o[-1]) > 3 for o in outs) <= 70  # half the styled 9s curl, the others keep the hook


def test_a_slanted_9s_stem_leans_left_under_its_head(monkeypatch):
    head, stem = pen_styles.slanted_stem([HEAD_9, STEM_9], 100.0, 300.0, np.random.default_rng(0))
    assert np.array_equal(head, HEAD_9)  # the head (top 30%) stays
    assert stem[0, 0] == 160 and 160 - 0.45 * 210 <= stem[-1, 0] <= 160 - 0.15 * 210  # the stem's foot moves left
    assert np.array_equal(stem[:, 1], STEM_9[:, 1])
    monkeypatch.setitem(pen_styles.STYLES, "slanted_9", True)
    outs = [pen_styles.add_style([HEAD_9, STEM_9], 9, np.random.default_rng(s)) for s in range(200)]
    slanted = sum(o[1][-1, 0] < 150 for o in outs) / len(outs)
    assert slanted == pytest.approx(pen_styles.SMALL_HEAD_P / 2, abs=0.1)  # half the small-headed ones


def test_a_footed_7_ends_in_a_foot_or_curl_to_the_right(monkeypatch):
    seven = [np.float32([[200, 100], [400, 100], [280, 400]])]
    pts = np.concatenate(seven)
    for s in range(50):
        foot = pen_styles.foot_7(pts, 300.0, np.random.default_rng(s))
        assert np.allclose(foot[0], [280, 400], atol=1e-3)
        assert foot[-1, 0] > 280 + 0.1 * 300 and foot[:, 1].max() < 400 + 0.2 * 300  # to the right, near the end
    monkeypatch.setitem(pen_styles.STYLES, "footed_7", False)
    assert all(len(pen_styles.add_style(seven, 7, np.random.default_rng(s))) == 2 for s in range(20))  # a bar
    monkeypatch.setitem(pen_styles.STYLES, "footed_7", True)
    outs = [pen_styles.add_style(seven, 7, np.random.default_rng(s)) for s in range(90)]
    footed = [o for o in outs if any(np.allclose(e[0], [280, 400], atol=1e-3) for e in o[1:])]
    assert 45 <= len(footed) <= 75 and 15 <= sum(len(o) == 3 for o in outs) <= 45  # a foot 2/3, both 1/3


def test_a_one_stroke_4_is_one_stroke_in_the_writers_box(monkeypatch):
    four = [np.float32([[110, 100], [80, 250], [280, 250]]), np.float32([[220, 120], [220, 400]])]
    monkeypatch.setitem(pen_styles.STYLES, "one_stroke_4", False)
    assert pen_styles.add_style(four, 4, np.random.default_rng(0)) == four  # off: unchanged
    assert not pen_styles.styled(4)
    monkeypatch.setitem(pen_styles.STYLES, "one_stroke_4", True)
    assert pen_styles.styled(4)
    outs = [pen_styles.add_style(four, 4, np.random.default_rng(s)) for s in range(100)]
    redrawn = [o for o in outs if len(o) == 1]
    assert 30 <= len(redrawn) <= 70  # FOUR_P of them
    for (st,) in redrawn:
        assert st[:, 0].min() >= 80 - 1e-3 and st[:, 0].max() <= 280 + 1e-3  # inside the writer's box
        assert st[:, 1].min() >= 100 - 1e-3 and st[:, 1].max() <= 400 + 1e-3
        assert st[:, 1].max() - st[:, 1].min() > 0.8 * 300  # from the top to the bottom of the box
        assert np.linalg.norm(np.diff(st, axis=0), axis=1).max() <= 0.04 * 300 + 1e-3  # dense points
    again = pen_styles.add_style(four, 4, np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(outs[3], again, strict=True))


def test_a_long_flagged_1_gets_a_foot_more_often(monkeypatch):
    one = [np.float32([[300, 380], [302, 500], [304, 620]])]

    def feet():
        outs = [pen_styles.add_style(one, 1, np.random.default_rng(s)) for s in range(400)]
        long_ones = [o for o in outs if np.hypot(*(o[1][1] - o[1][0])) > 0.5 * 240]
        return sum(len(o) == 3 for o in long_ones) / len(long_ones)

    monkeypatch.setitem(pen_styles.STYLES, "footed_1", False)
    assert feet() == pytest.approx(0.2, abs=0.08)
    monkeypatch.setitem(pen_styles.STYLES, "footed_1", True)
    assert feet() == pytest.approx(0.6, abs=0.1)


def test_the_styles_switched_on_get_renders_of_their_own(pen_root, monkeypatch):
    for name in pen_styles.STYLES:
        monkeypatch.setitem(pen_styles.STYLES, name, False)
    assert pen_styles.signature() == ""
    plain = pen.training_set(pen_root, renders=2, seed=0)
    monkeypatch.setitem(pen_styles.STYLES, "curled_9", True)
    assert pen_styles.signature() == "curled_9"
    cached = list((pen_root / "cache").rglob("unipen-train-*.npz"))
    styled = pen.training_set(pen_root, renders=2, seed=0)
    assert len(list((pen_root / "cache").rglob("unipen-train-*.npz"))) == len(cached) + 1
    assert styled[0].shape == plain[0].shape


def test_a_scan_is_binarised_stretched_and_centred_like_an_upload():
    x = torch.zeros(3, 1, 28, 28)
    x[0, 0, 4:24, 12:15] = 1.0  # a 1: narrow
    x[1, 0, 6:20, 8:20] = 0.8  # a filled box
    x[1, 0, 9:17, 11:17] = 0.0
    y = augment.scan_batch(x, torch.Generator().manual_seed(0), 1.0)
    assert torch.equal(y[2], x[2])  # a blank image stays blank
    assert torch.equal(augment.scan_batch(x, torch.Generator().manual_seed(0), 0.0), x)
    assert torch.equal(y, augment.scan_batch(x, torch.Generator().manual_seed(0), 1.0))  # per seed
    for img in y[:2, 0]:
        rows, cols = torch.nonzero(img > 0.3, as_tuple=True)
        assert rows.max() - rows.min() + 1 >= 19  # the long side fills 20 pixels, as preprocess scales
        ar = torch.arange(28.0)
        assert (
            abs(float((img.sum(1) @ ar) / img.sum()) - 14) <= 1 and abs(float((img.sum(0) @ ar) / img.sum()) - 14) <= 1
        )
        assert float(((img > 0.05) & (img < 0.95)).float().mean()) < 0.15  # mostly black or white: binarised
    cols = torch.nonzero(y[1, 0] > 0.3, as_tuple=True)[1]
    wide = round(20 * SCAN_ASPECT)  # the box stretched to fill the scan, read as preprocess reads such a frame
    assert wide - 1 <= cols.max() - cols.min() + 1 <= wide + 1
    assert 4 <= int((y[0, 0, 14] > 0.3).sum()) < wide  # the 1 wider than written, never a full block
    assert y.min() >= 0 and y.max() <= 1


def test_training_mixes_pen_digits_and_records_what_it_saw(pen_root, small_data_dir, monkeypatch):
    monkeypatch.setenv("MNIST_DATA_DIR", str(pen_root))
    (pen_root / "MNIST").symlink_to(small_data_dir / "MNIST")
    cfg = TrainConfig(arch="softmax", epochs=2, batch_size=64, pen_data=True, styles=True, augment=True)
    starts = []
    result = train(cfg, on_event=lambda e: starts.append(e) if e["type"] == "start" else None)
    assert result.status == "finished"
    # each pen digit's renders per epoch, and the three 1s (PEN_AGAIN) once more
    assert trainset.PEN_AGAIN == (1,) and starts[0]["train_images"] == 1200 + trainset.PEN_PER_EPOCH * (9 + 3)
    assert result.data_seen == {
        "mnist": 1200,
        "unipen_training_writers": 9,
        "unipen_again": {"digits": [1], "images": 3},
        "unipen_benchmark_labs_left_out": list(pen.BENCHMARK_LABS),
        "styles": trainset.STYLES_SEEN,
    }


def test_the_1s_come_again_in_the_renders_an_epoch_leaves_out():
    renders, labels = np.arange(4)[:, None, None, None] * np.ones((4, 5, 28, 28), np.uint8), np.array([1, 7, 1, 0, 9])
    images, out = trainset.with_again(renders, labels)
    assert out.tolist() == [1, 7, 1, 0, 9, 1, 1] and images.shape == (4, 7, 28, 28)
    for epoch in range(3):
        picks = [(epoch * trainset.PEN_PER_EPOCH + j) % 4 for j in range(trainset.PEN_PER_EPOCH)]  # as train takes them
        first, again = {int(images[r, 0, 0, 0]) for r in picks}, {int(images[r, 5, 0, 0]) for r in picks}
        assert first.isdisjoint(again) and first | again == {0, 1, 2, 3}


def test_pen_training_without_the_file_says_so_and_mnist_only_still_trains(small_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(pen, "BUNDLED", tmp_path / "bundled" / pen.FILE)
    with pytest.raises(data.DataUnavailable, match="UNIPEN"):
        train(TrainConfig(arch="softmax", max_steps=2, pen_data=True), data_root=small_data_dir)
    assert train(TrainConfig(arch="softmax", max_steps=2), data_root=small_data_dir).status == "finished"


def test_pen_data_needs_digits():
    with pytest.raises(ValueError, match="mnist"):
        TrainConfig(dataset="fashion", pen_data=True)


def test_real_handwriting_bench_prints_every_figure(pen_root):
    code, text, err = run_bench("real_handwriting.py", "--data-dir", str(pen_root), "--model", "cnn", "--seed", "1")
    assert code == 0, err
    assert "cnn: " in text and "of 6 drawings" in text and "ms per image" in text
    assert "per lab:   val" in text and "gmd" in text and "per digit: 0:" in text and "most frequent confusions" in text
    assert "| cnn |" in text


def test_scans_bench_prints_each_set_as_it_stands_and_at_each_aspect(pen_root):
    code, text, err = run_bench("scans.py", "--data-dir", str(pen_root), "--aspect", "0.5", "--threads", "1")
    assert code == 0, err
    assert "| scans of | digits | as it stands | 0.5 | 0.6 (the app) |" in text
    assert "| UNIPEN benchmark writers | 6 |" in text and "MNIST left out" in text and "MNIST test set" not in text
    assert "per digit, as it stands: 0:" in text and "per digit, as the app reads: 0:" in text


def test_real_handwriting_bench_without_the_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(pen, "BUNDLED", tmp_path / "x.gz")
    code, _, err = run_bench("real_handwriting.py", "--data-dir", str(tmp_path))
    assert code == 2 and "unipen_1a_digits.jsonl.gz" in err and str(tmp_path) in err


def test_a_styled_0_is_slashed_upright_or_across(monkeypatch):
    zero = [np.float32([[150, 100], [100, 200], [150, 300], [200, 200], [150, 100]])]  # 100 wide, 200 tall
    monkeypatch.setitem(pen_styles.STYLES, "upright_slash_0", True)
    slashes = [pen_styles.add_style(zero, 0, np.random.default_rng(s))[-1] for s in range(200)]
    (top, bottom) = np.array(slashes).transpose(1, 0, 2)  # each slash from above the 0 to below it
    assert (top[:, 1] <= 100 + 0.1 * 200 + 1e-3).all() and (bottom[:, 1] >= 300 - 0.1 * 200 - 1e-3).all()
    upright = (abs(top[:, 0] - bottom[:, 0]) <= 0.15 * 100 + 1e-3) & (abs(top[:, 0] - 150) <= 0.15 * 100 + 1e-3)
    assert upright.mean() == pytest.approx(pen_styles.UPRIGHT_SLASH_P, abs=0.1)  # through the middle, near upright
    monkeypatch.setitem(pen_styles.STYLES, "upright_slash_0", False)
    across = np.array([pen_styles.add_style(zero, 0, np.random.default_rng(s))[-1] for s in range(200)])
    assert (across[:, 0, 0] - across[:, 1, 0] >= 0.4 * 100 - 1e-3).all()  # "/": from top right to bottom left


def test_a_barred_0_has_a_level_bar_through_its_middle(monkeypatch):
    zero = [np.float32([[150, 100], [100, 200], [150, 300], [200, 200], [150, 100]])]  # 100 wide, 200 tall
    monkeypatch.setitem(pen_styles.STYLES, "barred_0", True)
    bars = np.array([pen_styles.add_style(zero, 0, np.random.default_rng(s))[-1] for s in range(300)])
    (a, b) = bars.transpose(1, 0, 2)
    level = (abs(a[:, 1] - b[:, 1]) <= 0.12 * 200 + 1e-3) & (abs(a[:, 1] + b[:, 1] - 400) <= 0.2 * 200 + 1e-3)
    across = (a[:, 0] <= 100 + 0.1 * 100 + 1e-3) & (b[:, 0] >= 200 - 0.1 * 100 - 1e-3)
    assert (level & across).mean() == pytest.approx(pen_styles.BARRED_P, abs=0.08)  # a theta, not a slash
    monkeypatch.setitem(pen_styles.STYLES, "barred_0", False)
    slashes = np.array([pen_styles.add_style(zero, 0, np.random.default_rng(s))[-1] for s in range(300)])
    assert (abs(slashes[:, 0, 1] - slashes[:, 1, 1]) >= 0.8 * 200 - 1e-3).all()  # off: every styled 0 slashed "/"


def test_a_looped_2_turns_through_a_loop_at_its_lower_left_corner(monkeypatch):
    two = [np.float32([[100, 120], [150, 100], [190, 140], [170, 200], [100, 300], [200, 300]])]  # 100 wide, 200 tall
    assert not pen_styles.styled(2)  # off (shipped): 2s are drawn as written
    monkeypatch.setitem(pen_styles.STYLES, "looped_2", True)
    assert pen_styles.styled(2)
    looped = 0
    for s in range(100):
        out = pen_styles.add_style(two, 2, np.random.default_rng(s))
        assert len(out) == 1 and np.array_equal(out[0][:5], two[0][:5]) and np.array_equal(out[0][-1], two[0][-1])
        loop = out[0][5:-1]
        if len(loop):
            looped += 1
            assert abs(loop - np.float32([100, 300])).max() <= 2 * 0.22 * 200 + 1e-3  # at the corner
            assert np.ptp(loop[:, 0]) >= 0.2 * 200 and np.ptp(loop[:, 1]) >= 0.2 * 200  # a full turn
            assert np.linalg.norm(loop[0] - loop[-1]) <= 0.5 * np.ptp(loop[:, 1])  # that closes
    assert looped / 100 == pytest.approx(pen_styles.LOOPED_2_P, abs=0.15)
