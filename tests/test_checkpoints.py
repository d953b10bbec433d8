"""mnist_core.checkpoints: round trip with metadata, hostile files refused, atomic writes, safe names.

Every refusal must be a CheckpointError whose message starts with the file's name, and no file
may run code while it is read: the code-running pickles below carry a payload that a control
load (without weights_only) proves would have left a marker.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import platform
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from mnist_core import checkpoints, data, inference, recipes
from mnist_core.checkpoints import CheckpointError
from mnist_core.config import TrainConfig
from mnist_core.models import ARCHS, build
from mnist_core.training import train


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared 2-core machine: one thread is faster
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(small_data_dir):
    """A short real training run (softmax, 2 epochs of 600 images)."""
    cfg = TrainConfig(arch="softmax", device="cpu", epochs=2, batch_size=64, train_limit=600, log_every=5, seed=4)
    result = train(cfg, data_root=small_data_dir)
    assert result.usable, result.message
    return result


def probe_batch(n: int = 16) -> torch.Tensor:
    return torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(11))


def predictions(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(probe_batch())


def payload(**changes) -> dict:
    """A well-formed checkpoint dict for softmax (untrained), with fields changed or removed."""
    base = {
        "format": checkpoints.FORMAT,
        "version": checkpoints.VERSION,
        "name": "x",
        "arch": "softmax",
        "arch_args": {},
        "config": {},
        "history": {},
        "metrics": {},
        "extra": {},
        "state_dict": build("softmax").state_dict(),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def refused(path: Path, match: str = "") -> str:
    """Loading `path` raises CheckpointError naming the file first; returns the message."""
    with pytest.raises(CheckpointError) as info:
        checkpoints.load(path)
    msg = str(info.value)
    assert msg.startswith(f"{path.name}:"), msg
    assert re.search(match, msg), msg
    assert "Traceback" not in msg
    return msg


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_keeps_predictions_and_metadata(trained, tmp_path):
    path = trained.save(tmp_path / "runs" / "my-run.pt", name="my run", extra={"note": "hello"})
    assert path == tmp_path / "runs" / "my-run.pt" and path.is_file()
    model, meta = checkpoints.load(path)
    assert not model.training
    assert torch.equal(predictions(model), predictions(trained.model))

    assert meta["format"] == checkpoints.FORMAT and meta["version"] == checkpoints.VERSION
    assert meta["name"] == "my run" and meta["arch"] == "softmax" and meta["arch_args"] == {}
    assert meta["config"] == trained.config.to_dict()
    assert TrainConfig.from_dict(meta["config"]) == trained.config
    assert meta["history"] == trained.history and len(meta["history"]["epochs"]) == 2
    assert meta["dataset"] == "mnist"
    assert meta["normalization"] == {"mean": data.MEAN, "std": data.STD}
    assert meta["metrics"]["test_accuracy"] == trained.test_accuracy
    assert meta["metrics"]["status"] == "finished" and meta["metrics"]["epochs_done"] == 2
    created = datetime.fromisoformat(meta["created"])
    assert created.tzinfo is not None and created <= datetime.now(timezone.utc)
    assert meta["versions"] == {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "python": platform.python_version(),
    }
    assert meta["extra"] == {"note": "hello", "data_seen": trained.data_seen}  # which training data it saw
    assert "state_dict" not in meta
    # the same file through the public loader
    predictor = inference.load_model(path)
    assert predictor.arch == "softmax" and predictor.test_accuracy == trained.test_accuracy


@pytest.mark.parametrize("arch", list(ARCHS))
def test_every_architecture_round_trips_exactly(arch, tmp_path):
    torch.manual_seed(2)
    model = build(arch)
    model.train()
    with torch.no_grad():
        model(probe_batch(8))  # moves batch-norm running statistics away from their defaults
    path = checkpoints.save(tmp_path / f"{arch}.pt", model, arch, {"arch": arch}, {}, {})
    loaded, meta = checkpoints.load(path)
    assert meta["arch"] == arch and meta["name"] == arch
    assert torch.equal(predictions(loaded), predictions(model))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_saving_overwrites_an_older_checkpoint(trained, tmp_path):
    path = tmp_path / "run.pt"
    checkpoints.save(path, build("softmax"), "softmax", {}, {}, {})
    trained.save(path)
    model, _ = checkpoints.load(path)
    assert torch.equal(predictions(model), predictions(trained.model))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


# -- hostile and odd files --------------------------------------------------------------------


def test_truncated_file_is_refused(trained, tmp_path):
    good = trained.save(tmp_path / "good.pt")
    blob = good.read_bytes()
    for cut in (len(blob) // 2, len(blob) - 10, 100):
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(blob[:cut])
        assert "could run code" not in refused(bad, "not a readable checkpoint")


@pytest.mark.parametrize(
    "content",
    [b"", bytes(range(256)) * 40, b"PK\x03\x04" + bytes(500), b"\x80\x02}q\x00."[:-1]],
    ids=["empty", "all-bytes", "fake-zip", "cut-pickle"],
)
def test_bytes_that_are_not_a_torch_file_are_refused(content, tmp_path):
    bad = tmp_path / "junk.pt"
    bad.write_bytes(content)
    refused(bad, "not a readable checkpoint")


def test_random_bytes_are_refused(tmp_path):
    bad = tmp_path / "noise.pt"
    bad.write_bytes(
        torch.randint(0, 256, (5000,), generator=torch.Generator().manual_seed(1), dtype=torch.uint8).numpy().tobytes()
    )
    msg = refused(bad, "not a readable checkpoint")
    assert "could run code" not in msg  # junk is not reported as a code-running file


@pytest.mark.parametrize(
    "state, why",
    [
        (lambda: build("mlp").state_dict(), "other layers"),
        (lambda: {"1.weight": torch.zeros(10, 100), "1.bias": torch.zeros(10)}, "wrong shapes"),
        (lambda: {"1.weight": torch.zeros(10, 784)}, "a missing bias"),
        (lambda: {**build("softmax").state_dict(), "2.weight": torch.zeros(3)}, "an extra tensor"),
    ],
)
def test_weights_of_another_shape_are_refused(state, why, tmp_path):
    bad = tmp_path / "misfit.pt"
    torch.save(payload(state_dict=state()), bad)
    checkpoints.read(bad)  # a well-formed file: only rebuilding the model finds the misfit
    refused(bad, r"do not fit the 'softmax' architecture")


def test_a_cnn_records_its_width_and_older_checkpoints_still_load_as_width_16(tmp_path):
    wide = checkpoints.save(tmp_path / "wide.pt", build("cnn", {"width": 24}), "cnn", {}, {}, {})
    assert checkpoints.read(wide)["arch_args"] == {"width": 24}
    model, _ = checkpoints.load(wide)
    assert model[0].out_channels == 24 and model.arch_args == {"width": 24}
    # a cnn saved before the width was recorded (arch_args {}) was 16 wide, the builder's default: it loads so,
    # and stays so when saved again
    old = tmp_path / "old.pt"
    torch.save(payload(arch="cnn", state_dict=build("cnn", {"width": 16}).state_dict()), old)
    model, _ = checkpoints.load(old)
    assert model[0].out_channels == 16
    again = checkpoints.save(tmp_path / "again.pt", model, "cnn", {}, {}, {})
    assert checkpoints.load(again)[0][0].out_channels == 16


def test_a_cnn_of_three_blocks_records_its_depth_and_loads_as_it_was_saved(tmp_path):
    deep = checkpoints.save(tmp_path / "deep.pt", build("cnn", {"width": 24, "depth": 3}), "cnn", {}, {}, {})
    assert checkpoints.read(deep)["arch_args"] == {"width": 24, "depth": 3}
    model, _ = checkpoints.load(deep)
    convs = [m for m in model if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 48, 48, 96]  # the third block: 48 to 48 at 7x7
    shallow = build("cnn", {"width": 24})
    assert len([m for m in shallow if isinstance(m, torch.nn.Conv2d)]) == 3  # depth 2, the builder's own


@pytest.mark.parametrize(
    "args, why",
    [
        ({"width": 10**6}, "from 4 to 64"),
        ({"width": 2.5}, "whole number"),
        ({"width": True}, "whole number"),
        ({"layers": 3}, "no argument 'layers'"),
        ({"depth": 9}, "from 2 to 3"),
    ],
)
def test_builder_arguments_out_of_range_are_refused_before_building(args, why, tmp_path):
    bad = tmp_path / "huge.pt"  # a hostile file must not make the server allocate a giant network
    torch.save(payload(arch="cnn", arch_args=args, state_dict=build("cnn").state_dict()), bad)
    refused(bad, why)


def test_a_run_sets_the_width_within_its_range_and_only_where_the_network_has_one(small_data_dir, tmp_path):
    cfg = TrainConfig(arch="cnn", width=8, device="cpu", epochs=1, batch_size=64, train_limit=200, seed=1)
    result = train(cfg, data_root=small_data_dir)
    assert result.usable, result.message
    model, meta = checkpoints.load(result.save(tmp_path / "narrow.pt"))
    assert model[0].out_channels == 8 and meta["arch_args"] == {"width": 8} and meta["config"]["width"] == 8
    assert recipes.recommended("cnn").width == 24 and recipes.tutorial("cnn").width == 0
    for arch, width, why in [
        ("cnn", 10**6, "from 4 to 64"),
        ("cnn", True, "whole number"),
        ("mlp", 24, "takes no argument 'width'"),
    ]:
        with pytest.raises(ValueError, match=why):
            TrainConfig(arch=arch, width=width)
    for arch, depth, why in [("cnn", 4, "from 2 to 3"), ("mlp", 3, "takes no argument 'depth'")]:
        with pytest.raises(ValueError, match=why):
            TrainConfig(arch=arch, depth=depth)


@pytest.mark.parametrize("arch", ["resnet152", None, 7, ...])
def test_unknown_architecture_is_refused(arch, tmp_path):
    bad = tmp_path / "alien.pt"
    torch.save(payload(arch=arch), bad)
    refused(bad, "unknown architecture")


@pytest.mark.parametrize(
    "obj",
    [
        [1, 2, 3],
        torch.zeros(3),
        "a string",
        42,
        None,
        build("softmax").state_dict(),  # a bare state dict, as many tutorials save
        {"format": "something-else", "arch": "softmax"},
    ],
    ids=["list", "tensor", "str", "int", "none", "bare-state-dict", "other-format"],
)
def test_torch_files_that_are_not_checkpoints_are_refused(obj, tmp_path):
    bad = tmp_path / "other.pt"
    torch.save(obj, bad)
    refused(bad, "not an MNIST Lab checkpoint")


@pytest.mark.parametrize("weights", [None, [1, 2], torch.zeros(3)], ids=["none", "list", "tensor"])
def test_checkpoint_without_weights_is_refused(weights, tmp_path):
    bad = tmp_path / "empty.pt"
    torch.save(payload(state_dict=weights), bad)
    refused(bad, "holds no weights")


def test_missing_file_directory_and_oversized_file_are_refused(tmp_path, monkeypatch):
    refused(tmp_path / "absent.pt", "cannot be read")
    folder = tmp_path / "folder.pt"
    folder.mkdir()
    refused(folder)
    big = tmp_path / "big.pt"
    torch.save(payload(), big)
    monkeypatch.setattr(checkpoints, "MAX_BYTES", big.stat().st_size - 1)
    refused(big, "too large")


class MakesDir:
    """Unpickling calls os.mkdir(marker)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class RunsShell:
    """Unpickling calls os.system("touch marker")."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


class PlainObject:
    """No code in __reduce__, but still not plain data."""

    def __init__(self):
        self.value = 1


def write_evil(path: Path, hook, fmt: str) -> Path:
    obj = payload(hook=hook)
    if fmt == "zip":
        torch.save(obj, path)
    elif fmt == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(obj))
    return path


def unsafe_load(path: Path, fmt: str) -> None:
    if fmt == "pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)


@pytest.mark.parametrize("fmt", ["zip", "legacy", "pickle"])
@pytest.mark.parametrize("kind", [MakesDir, RunsShell])
def test_code_running_pickle_is_refused_without_running(kind, fmt, tmp_path):
    # Control: the payload really runs when the file is unpickled without weights_only.
    control_marker = tmp_path / "control_ran"
    unsafe_load(write_evil(tmp_path / "control.pt", kind(control_marker), fmt), fmt)
    assert control_marker.exists(), "the crafted payload did not run in the control: the test would prove nothing"

    marker = tmp_path / "checkpoint_ran"
    evil = write_evil(tmp_path / "evil.pt", kind(marker), fmt)
    # torch's zip format reaches the forbidden global and says so; the legacy format and a raw
    # pickle are refused before anything is unpickled (their sizes cannot be checked beforehand)
    expected = "refused; it holds objects that are not plain data"
    msg = refused(evil, expected if fmt == "zip" else "not a readable checkpoint .*legacy format")
    with pytest.raises(CheckpointError):
        checkpoints.read(evil)
    with pytest.raises(CheckpointError):
        inference.load_model(evil)
    assert not marker.exists(), f"loading ran the pickled code: {msg}"


def test_arbitrary_objects_are_refused(tmp_path):
    bad = tmp_path / "object.pt"
    torch.save(payload(extra=PlainObject()), bad)
    refused(bad, "refused; it holds objects that are not plain data")


# -- atomic writes ----------------------------------------------------------------------------


def full_disk_after_half(monkeypatch, seen: list[Path]):
    """torch.save that writes half of the real bytes to the file and then fails with ENOSPC."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        blob = buf.getvalue()
        seen.append(Path(f))
        with open(f, "wb") as out:
            out.write(blob[: len(blob) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(f))

    monkeypatch.setattr(torch, "save", save)


def test_full_disk_while_saving_keeps_the_previous_checkpoint(trained, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    path = trained.save(runs / "run.pt")
    before = path.read_bytes()
    expected = predictions(trained.model)

    seen: list[Path] = []
    full_disk_after_half(monkeypatch, seen)
    other = build("softmax")
    with pytest.raises(OSError) as info:
        checkpoints.save(path, other, "softmax", {}, {}, {})
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        trained.save(path)
    monkeypatch.undo()

    # the partial bytes went to a temp file in the same folder (so the rename is atomic) ...
    assert len(seen) == 2 and all(p.parent == runs and p != path and p.name.startswith(".") for p in seen)
    # ... which is gone, and the previous checkpoint is untouched and still loads
    assert sorted(p.name for p in runs.iterdir()) == ["run.pt"]
    assert path.read_bytes() == before
    model, meta = checkpoints.load(path)
    assert torch.equal(predictions(model), expected)
    assert meta["metrics"]["test_accuracy"] == trained.test_accuracy


def test_full_disk_on_a_first_save_leaves_nothing(tmp_path, monkeypatch):
    full_disk_after_half(monkeypatch, [])
    with pytest.raises(OSError):
        checkpoints.save(tmp_path / "first.pt", build("softmax"), "softmax", {}, {}, {})
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    path = checkpoints.save(tmp_path / "run.pt", build("softmax"), "softmax", {}, {}, {})
    before = path.read_bytes()

    def no_rename(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(checkpoints.os, "replace", no_rename)
    with pytest.raises(OSError):
        checkpoints.save(path, build("mlp"), "mlp", {}, {}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"] and path.read_bytes() == before


# -- safe names -------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../etc/passwd",
    "..",
    ".",
    "../",
    "a/b/c",
    "/abs/path",
    "a\\b\\..\\c",
    "x\x00y",
    "\x00",
    "a" * 500,
    "🙂",
    "digit 🙂 7",
    "",
    "   ",
    "-rf",
    ".hidden",
    "..\\..\\windows",
    "名前",
    "tab\tnew\nline",
    "~",
    "$(rm -rf ~)",
    "a..b...c",
]
SAFE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n)[:30])
def test_safe_name_gives_a_safe_file_stem(name, tmp_path):
    stem = checkpoints.safe_name(name)
    assert SAFE.fullmatch(stem), repr(stem)
    assert ".." not in stem and len(stem) <= 64
    assert checkpoints.safe_name(name) == stem and checkpoints.safe_name(stem) == stem  # stable, idempotent

    runs = tmp_path / "runs"
    runs.mkdir()
    path = checkpoints.path_in(runs, name)
    assert path.parent == runs.resolve() and path.name == stem + checkpoints.SUFFIX
    checkpoints.save(path, build("softmax"), "softmax", {}, {}, {}, name=name)
    # the file landed inside the runs folder, and nothing was written anywhere else
    assert [p.name for p in tmp_path.rglob("*")] == ["runs", path.name]
    assert checkpoints.load(path)[1]["name"] == (name or path.stem)  # the name as given (the stem if empty)


def test_safe_name_keeps_ordinary_names_readable():
    assert checkpoints.safe_name("cnn-20240101-120000") == "cnn-20240101-120000"
    assert checkpoints.safe_name("my run 1") == "my_run_1"
    assert checkpoints.safe_name("résumé.v2") == "resume.v2"
    assert checkpoints.safe_name("") == checkpoints.safe_name("🙂") == "run"
    assert len(checkpoints.safe_name("a" * 500)) == 64
    assert checkpoints.safe_name("a" * 500, max_len=10) == "a" * 10


def test_path_in_refuses_a_symlink_that_leads_outside(tmp_path):
    runs, outside = tmp_path / "runs", tmp_path / "outside"
    runs.mkdir()
    outside.mkdir()
    (runs / "escape.pt").symlink_to(outside / "target.pt")
    with pytest.raises(ValueError, match="does not map inside"):
        checkpoints.path_in(runs, "escape")
    assert checkpoints.path_in(runs, "other").parent == runs.resolve()


@pytest.mark.parametrize(
    "reading, why",
    [
        ("hot", "not a dict"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "0.5"}, "threshold"),
    ],
)
def test_a_reading_out_of_range_is_refused(reading, why, tmp_path):
    bad = tmp_path / "reading.pt"  # the fitted temperature and threshold a Predictor divides and compares by
    torch.save(payload(extra={"reading": reading}), bad)
    refused(bad, why)


def test_a_fitted_reading_loads(tmp_path):
    good = tmp_path / "good.pt"
    torch.save(payload(extra={"reading": {"temperature": 1.3, "threshold": 0.2}}), good)
    assert inference.load_model(good).reading == {"temperature": 1.3, "threshold": 0.2}
