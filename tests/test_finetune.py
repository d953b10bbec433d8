"""Fine-tuning on a collection of the user's drawings: an ordinary job from a starting checkpoint,
mixed with MNIST, measured before and after on the held-out drawings, saved as a new model that
never overwrites the original; too few drawings are named instead of trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import digit_image

from mnist_core import checkpoints, data, owners, preprocess, recipes, training, trainset
from mnist_core.config import TrainConfig
from mnist_core.drawings import DrawingStore
from mnist_core.jobs import JobRunner


def drawn(digit: int, k: int) -> np.ndarray:
    return preprocess(np.asarray(digit_image(digit, width=14 + 3 * (k % 5))))


@pytest.fixture
def base(runs_dir, small_data_dir, tmp_path):
    """A softmax trained for a few steps on the small data: the model to start from (outside runs/)."""
    result = training.train(TrainConfig(arch="softmax", max_steps=30), data_root=small_data_dir)
    return result.save(tmp_path / "base.pt", name="base")


@pytest.fixture
def collection(runs_dir) -> DrawingStore:
    store = DrawingStore()
    for k in range(5):
        for d in range(10):
            store.add("mine", d, drawn(d, k), model="softmax", predicted=0, by=owners.ANYONE)
    return store


def test_a_model_without_the_not_a_digit_output_leaves_the_drawings_kept_as_not_a_digit_out(
    base, collection, small_data_dir
):
    from mnist_core.drawings import NOT_A_DIGIT

    for k in range(5):
        collection.add("mine", NOT_A_DIGIT, np.eye(28, k=k, dtype=np.float32), by=owners.ANYONE)
    cfg = recipes.finetune(str(base), "softmax", "mine", max_steps=5)
    assert not cfg.negatives
    result = training.train(cfg, data_root=small_data_dir)
    assert result.status == "finished", result.message  # label 10 never reached its ten outputs
    seen = result.data_seen["collection"]
    assert seen["drawings"] == 40 and seen["held_out"] == 10 and seen["non_digits_left_out"] == 5


def test_a_finetune_starts_from_the_checkpoint_and_measures_before_and_after(base, collection, small_data_dir):
    before = checkpoints.read(base)
    cfg = recipes.finetune(str(base), "softmax", "mine", max_steps=40, log_every=10)
    result = training.train(cfg, data_root=small_data_dir)
    assert result.status == "finished", result.message
    seen = result.data_seen["collection"]
    assert seen["name"] == "mine" and seen["drawings"] == 40 and seen["held_out"] == 10  # every fifth of each digit
    assert 0 <= seen["held_out_before"] <= 1 and 0 <= seen["held_out_after"] <= 1 and 0 <= seen["mnist_before"] <= 1
    start, _ = checkpoints.load(base)  # it started from the base weights and moved from them
    w0, w1 = start.state_dict()["1.weight"], result.model.state_dict()["1.weight"]
    assert not torch.equal(w0, w1) and torch.norm(w1 - w0) < torch.norm(w1)
    assert checkpoints.read(base)["metrics"] == before["metrics"]  # the original is untouched


def test_the_collection_makes_its_share_of_the_images(base, collection, small_data_dir):
    cfg = recipes.finetune(str(base), "softmax", "mine", max_steps=2)
    result = training.train(cfg, data_root=small_data_dir)
    seen = result.data_seen["collection"]
    mine = seen["repeats"] * seen["drawings"]
    assert mine / (mine + result.data_seen["mnist"]) == pytest.approx(trainset.COLLECTION_SHARE, abs=0.02)


def test_distillation_keeps_the_starting_models_outputs_on_mnist(base, collection, small_data_dir):
    start, _ = checkpoints.load(base)
    x = data.normalize(data.load("mnist", train=False, root=small_data_dir).images)

    def drift(distill: float) -> float:
        """KL(starting model || fine-tuned model) on the MNIST test images."""
        cfg = recipes.finetune(str(base), "softmax", "mine", max_steps=40, lr=5e-3, distill=distill)
        model = training.train(cfg, data_root=small_data_dir).model
        with torch.no_grad():
            return F.kl_div(
                F.log_softmax(model(x), 1), F.log_softmax(start(x), 1), log_target=True, reduction="batchmean"
            ).item()

    kept, free = drift(5.0), drift(0.0)
    assert kept < 0.5 * free, (kept, free)
    with pytest.raises(ValueError, match="needs init_from"):
        TrainConfig(distill=1.0)


def test_too_few_drawings_are_named_instead_of_trained_on(base, runs_dir, small_data_dir):
    store = DrawingStore()
    for k in range(4):
        store.add("few", 3, drawn(3, k), by=owners.ANYONE)
    store.add("few", 7, drawn(7, 0), by=owners.ANYONE)
    with pytest.raises(ValueError, match="draw 2 more 7s"):
        training.train(recipes.finetune(str(base), "softmax", "few", max_steps=5), data_root=small_data_dir)
    with pytest.raises(ValueError, match="no drawings yet"):
        training.train(recipes.finetune(str(base), "softmax", "empty", max_steps=5), data_root=small_data_dir)


def test_a_finetune_job_saves_a_new_model_next_to_the_original(base, collection, runs_dir, small_data_dir):
    runner = JobRunner(runs_dir)
    try:
        cfg = recipes.finetune(str(base), "softmax", "mine", max_steps=20)
        job = runner.submit(cfg, name="base + mine", data_root=small_data_dir)
        assert job.wait(120) and job.status == "finished", job.message
        assert job.name == "base_mine"
        meta = checkpoints.read(job.snapshot()["checkpoint"])
        assert meta["config"]["init_from"] == str(base) and meta["config"]["collection"] == "mine"
        assert "held_out_after" in meta["extra"]["data_seen"]["collection"]
        assert base.is_file() and checkpoints.read(base)["name"] == "base"
        arch_mismatch = recipes.finetune(str(base), "mlp", "mine", max_steps=5)
        bad = runner.submit(arch_mismatch, name="wrong arch", data_root=small_data_dir)
        assert bad.wait(60) and bad.status == "failed" and "is a softmax, not a mlp" in bad.message
    finally:
        runner.close()
