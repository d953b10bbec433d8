"""The labelled-drawings store: round trip, collections, concurrent writers, corrupt or foreign files,
export to MNIST's formats and import back, and bad imports that change nothing."""

from __future__ import annotations

import io
import sqlite3
import threading
import zipfile

import numpy as np
import pytest
from conftest import digit_image
from PIL import Image

from mnist_core import data, drawings, owners, preprocess
from mnist_core.drawings import DrawingStore, StoreError


ME = "visitor A's token"  # a visitor (lab_ui.visitor_token); owners.ANYONE is the operator


@pytest.fixture
def store(runs_dir) -> DrawingStore:
    return DrawingStore()


def x28(digit: int, width: int = 22) -> np.ndarray:
    """A canvas-drawn digit as the Draw page feeds the model: (28, 28) float32 in [0, 1]."""
    return preprocess(np.asarray(digit_image(digit, width=width)))


def png_of(digit: int) -> bytes:
    buf = io.BytesIO()
    digit_image(digit).save(buf, "PNG")
    return buf.getvalue()


def test_a_drawing_round_trips_with_its_label_model_and_png(store, runs_dir):
    assert store.path == (runs_dir / "drawings.sqlite3").resolve()
    x = x28(7)
    i = store.add("mine", 7, x, png=png_of(7), model="cnn", predicted=1, by=ME)
    (d,) = store.drawings("mine")
    assert (d.id, d.digit, d.model, d.predicted) == (i, 7, "cnn", 1)
    np.testing.assert_array_equal(d.x28, drawings.to_uint8(x))
    assert np.abs(d.x28 / 255.0 - x).max() <= 0.5 / 255 + 1e-6  # the model input, to a grey level
    assert store.png(i) == png_of(7)
    assert store.counts("mine") == {**dict.fromkeys(range(10), 0), 7: 1}
    assert store.collections() == {"mine": 1}
    assert DrawingStore().drawings("mine")[0].id == i  # another session opens the same file


def test_a_blank_drawing_a_bad_digit_or_name_is_refused(store):
    with pytest.raises(StoreError, match="blank"):
        store.add("mine", 3, np.zeros((28, 28), np.float32), by=ME)
    for digit in (-1, 10, 3.5, "3"):
        with pytest.raises(StoreError, match="0-9"):
            store.add("mine", digit, x28(3), by=ME)
    for name in ("", "   ", "../evil", "a" * 65, "semi;colon"):
        with pytest.raises(StoreError, match="collection name"):
            store.add(name, 3, x28(3), by=ME)
    assert store.collections() == {}


def test_collections_rename_delete_and_entries(store):
    ids = [store.add("class 4b", d, x28(d), by=ME) for d in (1, 1, 2)]
    store.add("mine", 5, x28(5), by=ME)
    assert store.collections() == {"class 4b": 3, "mine": 1}
    assert store.delete(ids[0], by=ME) and not store.delete(ids[0], by=ME)
    store.rename("class 4b", "class 4c", by=ME)
    assert store.counts("class 4c")[1] == 1 and store.collections() == {"class 4c": 2, "mine": 1}
    with pytest.raises(StoreError, match="exists already"):
        store.rename("class 4c", "MINE", by=ME)  # names are told apart without case
    with pytest.raises(StoreError, match="no collection"):
        store.rename("nope", "other", by=ME)
    assert store.delete_collection("class 4c", by=ME) == 2
    assert store.collections() == {"mine": 1} and store.drawings("class 4c") == []


def test_every_fifth_drawing_of_a_digit_is_held_out(store):
    for k in range(12):
        store.add("mine", k % 2, x28(k % 2), by=ME)  # six 0s and six 1s, interleaved
    train, held = store.split("mine")
    assert sorted(d.digit for d in held) == [0, 1]  # the fifth 0 and the fifth 1
    assert len(train) == 10 and {d.id for d in train}.isdisjoint({d.id for d in held})


def test_two_sessions_saving_at_once_lose_nothing(store):
    errors, barrier = [], threading.Barrier(4)

    def session(k: int) -> None:
        try:
            mine = DrawingStore()  # each session opens the store itself
            barrier.wait()
            for j in range(25):
                mine.add("mine", (k + j) % 10, x28((k + j) % 10), by=ME)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(store.counts("mine").values()) == 100 and len({d.id for d in store.drawings("mine")}) == 100


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\x01" * 5000])
def test_a_corrupt_file_is_named_and_never_overwritten(runs_dir, content):
    path = runs_dir / "drawings.sqlite3"
    path.write_bytes(content)
    with pytest.raises(StoreError) as err:
        DrawingStore()
    assert "damaged" in str(err.value) and "left as it is" in str(err.value) and "move it away" in str(err.value)
    assert str(path.parent) not in str(err.value) and "drawings.sqlite3 in the runs folder" in str(err.value)
    assert path.read_bytes() == content


def test_another_programs_database_is_named_and_left_alone(runs_dir):
    path = runs_dir / "drawings.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (t TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="is damaged or is not this lab's"):
        DrawingStore()
    assert path.read_bytes() == before
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]


def test_export_is_pngs_by_digit_and_the_four_idx_files_mnist_code_reads(store, tmp_path):
    for k in range(10):
        store.add("mine", k % 5, x28(k % 5), by=ME)  # two of each of 0-4
    for _ in range(3):
        store.add("mine", 4, x28(4), by=ME)  # 4 has five: its fifth is held out
    z = zipfile.ZipFile(io.BytesIO(store.export_zip("mine")))
    pngs = [n for n in z.namelist() if n.endswith(".png")]
    assert len(pngs) == 13 and all(n.split("/")[1] in "01234" for n in pngs)
    img = Image.open(io.BytesIO(z.read(pngs[0])))
    assert img.size == (28, 28) and img.mode == "L"
    root = tmp_path / "export"
    for name in data.RAW_FILES:
        (root / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        (root / "MNIST" / "raw" / name).write_bytes(z.read(f"mine/raw/{name}"))
    train, test = data.load("mnist", train=True, root=root), data.load("mnist", train=False, root=root)
    assert len(train) == 12 and len(test) == 1 and int(test.labels[0]) == 4  # torchvision's reader reads them
    held = store.split("mine")[1][0]
    np.testing.assert_array_equal(test.images[0].numpy(), held.x28)


def test_import_brings_an_export_back_into_a_collection(store):
    for d in (3, 3, 8):
        store.add("mine", d, x28(d), by=ME)
    assert store.import_zip("copy", store.export_zip("mine")) == 3
    assert store.counts("copy") == store.counts("mine")
    np.testing.assert_array_equal(
        np.stack([d.x28 for d in store.drawings("copy")]), np.stack([d.x28 for d in store.drawings("mine")])
    )
    # a large canvas PNG in a digit folder is made a 28x28 input as the Draw page would
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("6/canvas.png", png_of(6))
    assert store.import_zip("copy", buf.getvalue()) == 1 and store.counts("copy")[6] == 1


def zip_of(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in entries.items():
            z.writestr(name, content)
    return buf.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip", "not a ZIP"),
        (zip_of({"notes.txt": b"hello"}), "no drawings"),
        (zip_of({"../../evil/3/x.png": b"x"}), "expected DIGIT/NAME.png"),
        (zip_of({"a/b/3/x.png": b"x"}), "expected DIGIT/NAME.png"),
        (zip_of({"3/x.png": b"this is text, not a PNG"}), "not an image"),
        (zip_of({"3/huge.png": b"\x00" * (drawings.IMPORT_MAX_INFLATED + 1)}), "inflate to over"),
        (b"\x00" * (drawings.IMPORT_MAX_BYTES + 1), "at most 20 MB"),
    ],
    ids=["not-zip", "no-pngs", "traversal", "deep", "not-image", "bomb", "too-large"],
)
def test_a_bad_import_is_refused_and_changes_nothing(store, content, message):
    store.add("mine", 2, x28(2), by=ME)
    good = zip_of({"5/ok.png": z28_png()})
    with pytest.raises(StoreError, match=message):
        store.import_zip("mine", good[:0] + content if content else good)
    assert store.collections() == {"mine": 1}


def z28_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(drawings.to_uint8(x28(5)), "L").save(buf, "PNG")
    return buf.getvalue()


def test_a_bad_file_among_good_ones_adds_none_of_them(store):
    content = zip_of({"5/a.png": z28_png(), "5/b.png": z28_png(), "5/c.png": b"broken"})
    with pytest.raises(StoreError, match="5/c.png"):
        store.import_zip("new", content)
    assert store.collections() == {}
