"""Every page of the app on a fresh machine: no dataset and no internet.

The pages are found with app_pages/*.py, so a page added later is covered too. Each is opened the
way a visitor does (the home page first, then a switch to the page), once with no models at all
and once with small test-made models in the shipped folder.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from compare_helpers import make_model
from conftest import make_mnist_dir
from helpers import open_page

from mnist_core import data

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["app.py", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "app_pages").glob("*.py"))]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, small_data_dir) -> Path:
    d = tmp_path_factory.mktemp("offline_models")
    return make_model(d / "softmax.pt", "softmax", small_data_dir, epochs=1)


@pytest.fixture
def offline(tmp_path, monkeypatch, runs_dir):
    """MNIST_DATA_DIR is an empty folder, and any connection off this machine is refused."""
    from torchvision import datasets

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DATA_DIR", str(empty))
    monkeypatch.setenv("MNIST_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    real_connect = socket.socket.connect

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else ""
        if host not in ("127.0.0.1", "::1", "localhost") and sock.family in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"no internet in this test (tried {address})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return empty


@pytest.mark.parametrize("with_models", [False, True], ids=["no-models", "test-made-models"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_without_dataset_or_internet(offline, tmp_path, small_model, page, with_models):
    if with_models:
        (tmp_path / "models").mkdir()
        shutil.copy2(small_model, tmp_path / "models" / "softmax.pt")
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(str(e.value) for e in [*at.markdown, *at.error, *at.warning, *at.info, *at.caption])
    assert "Traceback" not in shown
    assert at.title, f"{page} drew nothing"
    if page in ("app.py", "app_pages/home.py"):
        assert {m.label: m.value for m in at.metric}["Dataset"] == "not found"
        # where it looked, without the server's path: a visitor sees what to set, the terminal the path
        assert str(data.raw_dir("mnist").resolve()) not in shown and "MNIST_DATA_DIR" in shown
        assert {m.label: m.value for m in at.metric}["Models available"] == str(int(with_models))
    if page == "app_pages/train.py":  # what is missing, and how to provide it
        (warning,) = at.warning
        raw = str((offline / "MNIST" / "raw").resolve())
        assert "MNIST is not on this machine" in warning.value and raw not in warning.value
        (fix,) = [m.value for m in at.markdown if "MNIST_DATA_DIR" in m.value]  # one click away, under it
        assert raw not in fix and all(f in fix for f in data.RAW_FILES)
        assert [b.label for b in at.button][:1] == ["Start training"]
    if page == "app_pages/compare.py":
        if with_models:
            (df,) = [d.value for d in at.dataframe]
            assert list(df["Model"]) == ["softmax"]
            assert any("no confusion matrix" in i.value for i in at.info)
        else:
            assert any(i.value.startswith("No models yet") for i in at.info)


def test_every_page_is_found():
    """The parametrization above really covers the pages (the home page, Train and Compare at least)."""
    assert {"app.py", "app_pages/home.py", "app_pages/train.py", "app_pages/compare.py"} <= set(PAGES)


@pytest.mark.parametrize("found", [False, True], ids=["not-found", "found"])
def test_the_dataset_location_is_a_caption_that_wraps_at_spaces(tmp_path, monkeypatch, runs_dir, found):
    """The status column is a third of the page: a code span or a URL in it breaks in the middle of a word."""
    from helpers import unmarked

    monkeypatch.chdir(tmp_path)  # the lab's folder: the data folder is named relative to it
    if found:
        make_mnist_dir(tmp_path / "data", n_train=60, n_test=30)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)  # the default: data/ in the lab's folder
    at = open_page("app.py")
    (status,) = [c for c in at.columns if any(m.label == "Dataset" for m in c.metric)]
    (caption,) = [unmarked(c.value) for c in status.caption]
    assert "data/MNIST/raw" in caption and status.metric[0].value == ("MNIST found" if found else "not found")
    assert "`" not in caption and "http" not in caption, caption
    assert max(len(word) for word in caption.split()) <= 20, caption
