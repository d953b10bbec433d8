"""mnist_core.data: loading into memory, the data location, clear errors, the real download path.

The download test runs torchvision's own download code (mirrors, md5 check, gunzip) against a
local http.server on 127.0.0.1 that serves gzipped IDX files made here, so it works offline.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_mnist_dir, write_idx
from torchvision import datasets

from mnist_core import data


def test_loads_small_dir_into_uint8_tensors(small_data_dir):
    train = data.load("mnist", train=True, root=small_data_dir, download=False)
    test = data.load("mnist", train=False, root=small_data_dir, download=False)
    assert train.images.shape == (1200, 28, 28) and test.images.shape == (300, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.labels.shape == (1200,) and len(train) == 1200 and len(test) == 300
    assert train.images.is_contiguous()
    assert 0 <= int(train.labels.min()) and int(train.labels.max()) <= 9
    assert int(train.images.max()) > 200  # real ink, not an all-zero array
    # what was written to disk is what is in memory
    raw = small_data_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    assert test.labels.tolist() == list(raw.read_bytes()[8:])


def test_loaded_once_per_process(small_data_dir):
    a = data.load("mnist", train=True, root=small_data_dir)
    b = data.load("mnist", train=True, root=str(small_data_dir))  # same folder, spelled differently
    assert a.images is b.images and a.labels is b.labels
    assert data.load("mnist", train=False, root=small_data_dir).images is not a.images


def test_fashion_mnist_loads(small_data_dir):
    split = data.load("fashion", train=False, root=small_data_dir, download=False)
    assert split.images.shape == (300, 28, 28) and split.images.dtype == torch.uint8
    assert len(data.DATASETS["fashion"][2]) == 10


def test_unknown_dataset_is_a_value_error(small_data_dir):
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("cifar10", root=small_data_dir)


def test_location_precedence(tmp_path, monkeypatch):
    explicit, env, cwd = tmp_path / "explicit", tmp_path / "env", tmp_path / "cwd"
    make_mnist_dir(explicit, n_train=30, n_test=10)
    make_mnist_dir(env, n_train=20, n_test=10)
    make_mnist_dir(cwd / "data", n_train=10, n_test=10)
    monkeypatch.chdir(cwd)

    monkeypatch.setenv("MNIST_DATA_DIR", str(env))
    assert data.data_dir(explicit) == explicit
    assert len(data.load(root=explicit, download=False)) == 30  # explicit beats the environment
    assert data.data_dir() == env
    assert len(data.load(download=False)) == 20  # the environment beats ./data

    monkeypatch.delenv("MNIST_DATA_DIR")
    assert data.data_dir() == Path("data")
    assert len(data.load(download=False)) == 10  # ./data, relative to the working directory
    assert data.is_available(root=cwd / "data") and not data.is_available(root=tmp_path)


def test_absent_without_download_names_folder_and_fix(tmp_path):
    with pytest.raises(data.DataUnavailable) as err:
        data.load(root=tmp_path / "nowhere", download=False)
    msg = str(err.value)
    assert str((tmp_path / "nowhere" / "MNIST" / "raw").resolve()) in msg
    assert "MNIST_DATA_DIR" in msg and "train-images-idx3-ubyte" in msg


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


@pytest.fixture
def offline(monkeypatch):
    """No proxy may reroute the loopback requests below."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_absent_and_download_impossible_names_folder_and_fix(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{_closed_port()}/"])
    with pytest.raises(data.DataUnavailable) as err:
        data.load(root=tmp_path, download=True)
    msg = str(err.value)
    assert "download failed" in msg
    assert str((tmp_path / "MNIST" / "raw").resolve()) in msg and "MNIST_DATA_DIR" in msg


@pytest.fixture
def mirror(tmp_path):
    """A local mirror serving gzipped IDX files: (url, {gz name: md5}, {raw name: array})."""
    served = tmp_path / "mirror"
    served.mkdir()
    rng = np.random.default_rng(7)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 40, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (16, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 16, dtype=np.uint8),
    }
    md5s = {}
    for name, array in arrays.items():
        write_idx(tmp_path / name, array)
        gz = served / f"{name}.gz"
        gz.write_bytes(gzip.compress((tmp_path / name).read_bytes()))
        md5s[gz.name] = hashlib.md5(gz.read_bytes()).hexdigest()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", md5s, arrays, requests
    server.shutdown()
    server.server_close()


def test_download_through_torchvision_from_a_local_mirror(tmp_path, monkeypatch, offline, mirror):
    url, md5s, arrays, requests = mirror
    monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
    monkeypatch.setattr(datasets.MNIST, "resources", [(name, md5) for name, md5 in md5s.items()])
    root = tmp_path / "fresh"
    assert not data.is_available(root=root)

    train = data.load(root=root, train=True, download=True)
    test = data.load(root=root, train=False, download=True)

    assert data.is_available(root=root)  # the four raw files are now in root/MNIST/raw
    assert any(path.endswith("train-images-idx3-ubyte.gz") for path in requests)
    assert np.array_equal(train.images.numpy(), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(train.labels.numpy(), arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(test.images.numpy(), arrays["t10k-images-idx3-ubyte"])
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64


def test_download_with_a_bad_checksum_is_refused(tmp_path, monkeypatch, offline, mirror):
    url, md5s, _, _ = mirror
    monkeypatch.setattr(datasets.MNIST, "mirrors", [url])
    monkeypatch.setattr(datasets.MNIST, "resources", [(name, "0" * 32) for name in md5s])
    with pytest.raises(data.DataUnavailable, match="download failed"):
        data.load(root=tmp_path / "fresh", download=True)
    assert not data.is_available(root=tmp_path / "fresh")


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
def test_truncated_idx_file_is_named(small_data_dir, tmp_path, name):
    root = tmp_path / "copy"
    shutil.copytree(small_data_dir / "MNIST", root / "MNIST")
    bad = root / "MNIST" / "raw" / name
    content = bad.read_bytes()
    bad.write_bytes(content[: len(content) // 2])
    with pytest.raises(data.DataUnavailable) as err:
        data.load(root=root, train=True)
    msg = str(err.value)
    assert str(bad.resolve()) in msg and "truncated" in msg
    other = "train-labels-idx1-ubyte" if name.startswith("train-images") else "train-images-idx3-ubyte"
    assert other not in msg  # the intact file of the pair is not blamed
    # the test split, whose files are intact, still loads from the same folder
    assert len(data.load(root=root, train=False)) == 300


def test_garbage_idx_header_is_named(small_data_dir, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(small_data_dir / "MNIST", root / "MNIST")
    bad = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x89PNG not an IDX file at all" * 10)
    with pytest.raises(data.DataUnavailable) as err:
        data.load(root=root, train=False)
    assert str(bad.resolve()) in str(err.value)


def _devices() -> list:
    return ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


@pytest.mark.parametrize("device", _devices())
def test_normalize_on_the_device(device):
    images = torch.tensor([[[0, 255], [128, 1]]], dtype=torch.uint8).expand(3, 2, 2)
    x = data.normalize(images, device)
    assert x.device.type == device and x.dtype == torch.float32 and x.shape == (3, 1, 2, 2)
    expected = (images.float() / 255.0 - data.MEAN) / data.STD
    torch.testing.assert_close(x.cpu()[:, 0], expected)
    assert images.dtype == torch.uint8 and int(images[0, 0, 1]) == 255  # the source is untouched


def test_normalised_training_set_has_zero_mean_unit_std(real_data_dir):
    x = data.normalize(data.load(root=real_data_dir, train=True).images[:20000])
    assert abs(float(x.mean())) < 0.02 and abs(float(x.std()) - 1.0) < 0.02


def labels_of_200(small_data_dir: Path, tmp_path: Path, train: bool = True) -> tuple[Path, str]:
    """A copy of the small data set whose labels file holds a 200 (an operator's own IDX files)."""
    root = tmp_path / "labels200"
    shutil.copytree(small_data_dir / "MNIST", root / "MNIST")
    name = f"{'train' if train else 't10k'}-labels-idx1-ubyte"
    f = root / "MNIST" / "raw" / name
    labels = np.frombuffer(f.read_bytes()[8:], np.uint8).copy()
    labels[3] = 200
    write_idx(f, labels)
    return root, f"MNIST/raw/{name}"


@pytest.mark.parametrize("train", [True, False])
def test_a_label_outside_0_to_9_is_a_data_error_naming_the_file_in_the_data_folder(small_data_dir, tmp_path, train):
    root, relative = labels_of_200(small_data_dir, tmp_path, train)
    with pytest.raises(data.DataUnavailable) as err:
        data.load("mnist", train=train, root=root, download=False)
    for said in (str(err.value), err.value.public):
        assert relative in said and "outside 0-9" in said and "200" in said
        assert str(tmp_path) not in said  # named relative to the data folder


def test_a_missing_or_corrupt_data_set_is_told_to_visitors_without_the_servers_paths(small_data_dir, tmp_path):
    """The operator's message (the command line) names the folder; the visitor's (`public`) does not."""
    with pytest.raises(data.DataUnavailable) as err:
        data.load("mnist", train=True, root=tmp_path / "nowhere", download=False)
    assert str(tmp_path / "nowhere") in str(err.value)
    assert str(tmp_path) not in err.value.public and "/" + tmp_path.name not in err.value.public
    assert "MNIST_DATA_DIR" in err.value.public and "train-images-idx3-ubyte" in err.value.public
    bad = tmp_path / "bad"
    shutil.copytree(small_data_dir / "MNIST", bad / "MNIST")
    f = bad / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:5000])
    with pytest.raises(data.DataUnavailable) as err:
        data.load("mnist", train=True, root=bad, download=False)
    assert str(f) in str(err.value)
    assert "MNIST/raw/train-images-idx3-ubyte" in err.value.public and str(tmp_path) not in err.value.public
