"""Training the "not a digit" output: the drawn-input networks' `classes` argument (checked on load), the
non-digits mixed into the batches as label 10 from one pool (no copies), the writers held out of training to
fit the reading on, and the temperature and threshold a run fits and its checkpoint keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_pen import SHAPES, record, write_pen

import mnist_core
from mnist_core import catalog, checkpoints, fit_reading, negatives_cache, trainset
from mnist_core.config import TrainConfig
from mnist_core.models import build, param_count
from mnist_core.training import train

DRAWN = [name for name, a in catalog.ARCHS.items() if a.drawn_input]


@pytest.mark.parametrize("arch", DRAWN)
def test_drawn_input_networks_build_an_eleventh_output(arch):
    x = torch.zeros(2, 1, 28, 28)
    ten, eleven = build(arch).eval(), build(arch, {"classes": 11}).eval()
    assert ten(x).shape == (2, 10) and eleven(x).shape == (2, 11)
    assert param_count(eleven) == catalog.param_count(arch, {"classes": 11}) > param_count(ten)
    assert eleven.arch_args == {"classes": 11}


def test_classes_is_checked_like_width(tmp_path):
    with pytest.raises(ValueError, match="softmax takes no argument 'classes'"):
        build("softmax", {"classes": 11})
    with pytest.raises(ValueError, match="from 10 to 11"):
        build("cnn", {"classes": 12})
    with pytest.raises(ValueError, match="not a digit"):
        TrainConfig(arch="lstm", negatives=True)
    assert TrainConfig(arch="cnn", width=24, negatives=True).arch_args == {"width": 24, "classes": 11}
    assert catalog.args_said("cnn", {"width": 24, "classes": 11}) == "width 24, depth 2, an 11th 'not a digit' output"
    assert catalog.args_said("cnn", {}) == "width 16, depth 2"
    # a file that says 11 outputs over weights for 10 is refused, naming the file
    model = build("cnn", {"classes": 11})
    path = checkpoints.save(tmp_path / "m.pt", model, "cnn", TrainConfig().to_dict(), {}, {"test_accuracy": 0.5})
    assert checkpoints.load(path)[0](torch.zeros(1, 1, 28, 28)).shape == (1, 11)
    payload = torch.load(path, weights_only=True)
    payload["arch_args"] = {"classes": 10}
    torch.save(payload, path)
    with pytest.raises(checkpoints.CheckpointError, match="m.pt: its weights do not fit"):
        checkpoints.load(path)


@pytest.fixture
def pen_root(tmp_path, monkeypatch):
    """A tiny UNIPEN file (4 training writers, 1 benchmark writer; 0, 1 and 7), a private cache, few
    non-digits, and one training writer held out to fit the reading on."""
    monkeypatch.setattr(mnist_core.pen, "BUNDLED", tmp_path / "none" / mnist_core.pen.FILE)
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "cache"))
    recs = [
        record(label, donor, f"w{donor}", strokes)
        for donor in ("apa01", "syn02", "ibm", "hpb", "val")
        for label, strokes in SHAPES.items()
    ]
    write_pen(tmp_path / "UNIPEN" / mnist_core.pen.FILE, recs)
    monkeypatch.setattr(negatives_cache, "PER_KIND", 4)
    monkeypatch.setattr(fit_reading, "is_fit_writer", lambda d: d.writer == "whpb")
    return tmp_path


def test_a_run_learns_non_digits_as_label_10_and_fits_its_reading(pen_root, small_data_dir, tmp_path):
    (pen_root / "MNIST").symlink_to(small_data_dir / "MNIST")
    cfg = TrainConfig(arch="cnn", width=4, epochs=2, batch_size=64, pen_data=True, negatives=True, augment=True)
    starts = []
    result = train(cfg, data_root=pen_root, on_event=lambda e: starts.append(e) if e["type"] == "start" else None)
    assert result.status == "finished" and 0.0 <= result.test_accuracy <= 1.0
    n_neg = len(mnist_core.negatives.TRAIN_KINDS) * 4
    # MNIST, two renders of the 9 training writers' digits (the held-out writer's 3 left out) and the 1s again,
    # and every non-digit (fewer than NEGATIVES_PER_EPOCH)
    assert starts[0]["train_images"] == 1200 + trainset.PEN_PER_EPOCH * (9 + 3) + n_neg
    seen = result.data_seen
    assert seen["unipen_training_writers"] == 9 and seen["unipen_held_out_to_fit_the_reading"] == {"digits": 3}
    assert seen["non_digits"] == {"kinds": list(mnist_core.negatives.TRAIN_KINDS), "drawings": n_neg}
    reading, fit = result.fitted["reading"], result.fitted["reading_fit"]
    assert 0.05 <= reading["temperature"] <= 20 and 0.0 <= reading["threshold"] <= 1.0
    assert fit["digits"] == 3 * fit_reading.RENDERS and fit["writers"] == 1 and fit["kept"] >= fit_reading.KEEP
    path = result.save(tmp_path / "neg.pt", name="neg")
    p = mnist_core.load_model(path)
    assert p.has_detector and p.reading == {"temperature": reading["temperature"], "threshold": reading["threshold"]}
    r = p.read(np.pad(np.full((160, 20), 255, np.uint8), 60))
    assert r.probabilities.shape == (10,) and 0.0 <= r.digit_score <= 1.0


def test_an_epoch_is_rows_of_one_pool_with_the_non_digits_in_turn():
    images, labels = torch.zeros(5, 28, 28, dtype=torch.uint8), torch.arange(5) % 10
    pen_images = torch.arange(3).view(3, 1, 1, 1).expand(3, 2, 28, 28).to(torch.uint8) + 100  # 3 renders of 2
    td = trainset.TrainingData(images, labels, None, pen_images, torch.tensor([4, 7]))
    td.neg_images = torch.arange(10).view(10, 1, 1).expand(10, 28, 28).to(torch.uint8) + 200
    old = trainset.NEGATIVES_PER_EPOCH
    trainset.NEGATIVES_PER_EPOCH = 4
    try:
        firsts = []
        for epoch in range(3):
            rows = td.epoch(epoch)
            assert len(rows) == len(td) == 5 + trainset.PEN_PER_EPOCH * 2 + 4
            x, y = td.pool[rows][:, 0, 0], td.pool_labels[rows]
            assert y[-4:].tolist() == [trainset.NOT_A_DIGIT] * 4 and y[5:-4].tolist() == [4, 7] * 2
            picks = [(epoch * trainset.PEN_PER_EPOCH + j) % 3 for j in range(trainset.PEN_PER_EPOCH)]
            assert x[5:-4].tolist() == [100 + r for r in picks for _ in range(2)]  # as before: renders in turn
            firsts.append(x[-4:].tolist())
        assert firsts == [[200, 201, 202, 203], [204, 205, 206, 207], [208, 209, 200, 201]]
    finally:
        trainset.NEGATIVES_PER_EPOCH = old


def test_styles_are_drawn_on_the_rows_that_take_one_and_scans_on_every_row(monkeypatch):
    """The styles' strokes go only on the 0s, 1s, 7s and 9s (the other rows are left as they are, not redrawn);
    with the scan render on (augment.SCAN_P), style_batch sees every row, as it redraws any digit as a scan."""
    from mnist_core import augment, training

    seen = []
    monkeypatch.setattr(training, "style_batch", lambda x, y, g: seen.append(y.tolist()) or x)
    cfg = TrainConfig(arch="cnn", styles=True)
    y = torch.tensor([0, 2, 7, 3, 9, 1, 4])
    x = torch.zeros(len(y), 1, 28, 28)
    model = build("cnn", {"width": 4})
    training._batch_loss(cfg, model, None, None, x, y, torch.arange(len(y)), torch.Generator())
    monkeypatch.setattr(augment, "SCAN_P", 0.1)
    training._batch_loss(cfg, model, None, None, x, y, torch.arange(len(y)), torch.Generator())
    assert seen == [[0, 7, 9, 1], y.tolist()]


def test_fine_tuning_a_model_with_the_output_keeps_learning_it_and_keeps_its_reading(
    pen_root, small_data_dir, runs_dir, tmp_path, monkeypatch
):
    from conftest import digit_image

    from mnist_core import drawings, owners, preprocess, recipes
    from mnist_core.drawings import DrawingStore

    (pen_root / "MNIST").symlink_to(small_data_dir / "MNIST")
    monkeypatch.setattr(trainset, "FINETUNE_NEGATIVES_PER_KIND", 3)
    cfg = TrainConfig(arch="cnn", width=4, max_steps=20, batch_size=64, pen_data=True, negatives=True)
    start = train(cfg, data_root=pen_root).save(tmp_path / "start.pt", name="start")
    plain = train(TrainConfig(arch="cnn", width=4, max_steps=5), data_root=pen_root).save(tmp_path / "plain.pt")
    assert recipes.has_detector(str(start)) and not recipes.has_detector(str(plain))
    assert not recipes.has_detector(str(tmp_path / "missing.pt"))
    store = DrawingStore()
    for k in range(5):
        for d in range(10):
            x = preprocess(np.asarray(digit_image(d, width=14 + 3 * k)))
            store.add("mine", d, x, model="cnn", predicted=0, by=owners.ANYONE)
    for k in range(3):  # the user's own non-digits, kept from the Draw page
        store.add("mine", drawings.NOT_A_DIGIT, np.eye(28, k=k, dtype=np.float32), by=owners.ANYONE)
    fine = recipes.finetune(str(start), "cnn", "mine", max_steps=6, batch_size=32)
    assert fine.negatives  # the network, 11 outputs and all, comes from the checkpoint
    assert not recipes.finetune(str(plain), "cnn", "mine").negatives
    with pytest.raises(ValueError, match="has no 'not a digit' output"):  # asked for by hand: a clear refusal
        train(recipes.finetune(str(plain), "cnn", "mine", max_steps=2, negatives=True), data_root=pen_root)
    result = train(fine, data_root=pen_root)
    assert result.status == "finished", result.message
    assert result.data_seen["non_digits"]["drawings"] == len(mnist_core.negatives.TRAIN_KINDS) * 3
    assert result.data_seen["collection"]["non_digits"] == 3 and result.data_seen["collection"]["drawings"] == 43
    before = mnist_core.load_model(start).reading
    assert result.fitted == {"reading": before, "reading_fit": {"carried_from": str(start)}}  # not the defaults
    p = mnist_core.load_model(result.save(tmp_path / "fine.pt", name="fine"))
    assert p.has_detector and p.reading == before and before != {"temperature": 1.0, "threshold": 0.5}
