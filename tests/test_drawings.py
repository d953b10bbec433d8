"""The labelled-drawings store: round trip, collections, concurrent writers, corrupt or foreign files,
export to MNIST's formats and import back, and bad imports that change nothing."""

from __future__ import annotations

import io
import shutil
import sqlite3
import threading
import time
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
    for digit in (-1, 11, 3.5, "3", True):
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


def test_a_drawing_kept_as_not_a_digit_is_label_10_counted_apart_and_left_out_of_the_digits(store):
    from mnist_core import finetuning

    for d in (1, 1, 1, drawings.NOT_A_DIGIT):
        store.add("mine", d, x28(d % 10), by=ME)
    counts = store.counts("mine")
    assert counts[drawings.NOT_A_DIGIT] == 1 and counts[1] == 3 and set(counts) == set(range(11))
    assert set(store.counts("other")) == set(range(10))  # no 10 where none was kept
    assert drawings.label_name(drawings.NOT_A_DIGIT) == "not a digit" and drawings.label_name(7) == "7"
    part = store.drawings("mine")
    assert finetuning.arrays(part)[1].tolist() == [1, 1, 1]  # the digits (what accuracy is measured on)
    assert finetuning.arrays(part, non_digits=True)[1].tolist() == [1, 1, 1, drawings.NOT_A_DIGIT]
    assert finetuning.finetune_problem(store, "mine") is None  # one non-digit does not hold fine-tuning back
    store.add("only", drawings.NOT_A_DIGIT, x28(2), by=ME)
    assert "has no digits yet" in finetuning.finetune_problem(store, "only")


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
    for d in (3, 3, 8, drawings.NOT_A_DIGIT):
        store.add("mine", d, x28(d % 10), by=ME)
    exported = store.export_zip("mine")
    assert sorted(n.split("/")[1] for n in zipfile.ZipFile(io.BytesIO(exported)).namelist() if n.endswith(".png")) == [
        "3",
        "3",
        "8",
        "not_a_digit",
    ]
    raw = zipfile.ZipFile(io.BytesIO(exported)).read("mine/raw/train-labels-idx1-ubyte")
    assert sorted(raw[8:]) == [3, 3, 8]  # the IDX files hold the digits: MNIST code reads ten classes
    assert store.import_zip("copy", exported) == 4
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


# --- owners ---------------------------------------------------------------------------------------
THEM = "visitor B's token"


def test_only_a_collections_owner_renames_or_deletes_it_and_anyone_adds_to_it(store):
    mine = store.add("class 4b", 1, x28(1), by=ME)
    theirs = store.add("class 4b", 2, x28(2), by=THEM)  # a class's collection: anyone adds to it
    (info,) = store.collections_info()
    assert (info.name, info.size, info.owner) == ("class 4b", 2, owners.key(ME))
    assert store.may_change("class 4b", ME) and not store.may_change("class 4b", THEM)
    assert store.may_change("class 4b", owners.ANYONE) and not store.may_change("nope", owners.ANYONE)
    for refused in (
        lambda: store.rename("class 4b", "ours", by=THEM),
        lambda: store.delete_collection("class 4b", by=THEM),
    ):
        with pytest.raises(StoreError, match="another visitor's: only its owner or the lab's operator"):
            refused()
    with pytest.raises(StoreError, match="kept by another visitor"):
        store.delete(mine, by=THEM)
    assert store.delete(theirs, by=THEM)  # their own drawing in my collection
    theirs = store.add("class 4b", 2, x28(2), by=THEM)
    assert store.delete(theirs, by=ME)  # the collection's owner may clear it
    by_them = {d.id: d.owner for d in store.drawings("class 4b")}
    assert by_them == {mine: owners.key(ME)} and store.collections() == {"class 4b": 1}
    store.rename("class 4b", "class 4c", by=owners.ANYONE)  # the operator may do anything
    assert store.delete_collection("class 4c", by=ME) == 1 and store.collections() == {}


def test_every_change_needs_by(store):
    i = store.add("mine", 1, x28(1), by=ME)
    for call in (
        lambda: store.add("mine", 1, x28(1)),
        lambda: store.delete(i),
        lambda: store.rename("mine", "other"),
        lambda: store.delete_collection("mine"),
    ):
        with pytest.raises(TypeError, match="by"):
            call()


def test_a_collection_made_by_nobody_is_changed_only_by_the_operator(store):
    store.add("shared", 3, x28(3), by=owners.ANYONE)  # the command line: owner ""
    assert store.collections_info()[0].owner == ""
    for by in (ME, "", None):
        assert not store.may_change("shared", by)
    with pytest.raises(StoreError, match="made by no visitor"):
        store.delete_collection("shared", by=ME)
    assert store.delete_collection("shared", by=owners.ANYONE) == 1


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE collections (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created REAL NOT NULL);
CREATE TABLE drawings (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    digit INTEGER NOT NULL CHECK (digit BETWEEN 0 AND 9),
    x28 BLOB NOT NULL CHECK (length(x28) = 784),
    png BLOB, created REAL NOT NULL, model TEXT,
    predicted INTEGER CHECK (predicted IS NULL OR predicted BETWEEN 0 AND 9)
);
CREATE INDEX drawings_by_collection ON drawings(collection_id, digit, id);
INSERT INTO meta VALUES ('format', 'mnist-lab-drawings'), ('version', '1');
"""


def legacy_store(path, rows: int, name: str = "mine") -> None:
    """A version-1 database (before owners) holding `rows` drawings in one collection, made by SQL."""
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.execute("INSERT INTO collections (id, name, created) VALUES (1, ?, 0)", (name,))
        ink = drawings.to_uint8(x28(1)).tobytes()
        conn.executemany(
            "INSERT INTO drawings (collection_id, digit, x28, png, created, model, predicted) "
            "VALUES (1, ?, ?, NULL, ?, NULL, NULL)",
            ((k % 10, ink, float(k)) for k in range(rows)),
        )
    conn.close()


def test_a_version_1_database_is_migrated_in_place_keeping_every_drawing(runs_dir):
    path = runs_dir / "drawings.sqlite3"
    legacy_store(path, 12)
    store = DrawingStore()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == ("3",)
        assert "BETWEEN 0 AND 10" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'drawings'").fetchone()[0]
        index = "SELECT tbl_name FROM sqlite_master WHERE name = 'drawings_by_collection'"
        assert conn.execute(index).fetchall() == [("drawings",)]
    conn.close()
    assert store.collections_info() == [drawings.CollectionInfo("mine", 12, "")]
    assert [d.digit for d in store.drawings("mine")] == [k % 10 for k in range(12)]  # each kept, in order
    assert {d.owner for d in store.drawings("mine")} == {""}
    with pytest.raises(StoreError, match="kept by no visitor"):
        store.delete(store.drawings("mine")[0].id, by=ME)
    store.add("mine", 4, x28(4), by=ME)  # anyone still adds to it
    store.add("mine", drawings.NOT_A_DIGIT, x28(5), by=ME)  # and a drawing kept as not a digit
    assert DrawingStore().collections() == {"mine": 14}  # opened again: already version 3


# --- size: a cap, and queries that cost the same in any collection -----------------------------------


def test_a_full_collection_refuses_another_drawing_saying_the_cap(store, monkeypatch):
    monkeypatch.setattr(drawings, "COLLECTION_MAX", 3)
    for d in (1, 2, 3):
        store.add("mine", d, x28(d), by=ME)
    with pytest.raises(StoreError, match=r"'mine' is full \(3 drawings; a collection holds at most 3\)"):
        store.add("mine", 4, x28(4), by=ME)
    assert store.room("mine") == 0 and store.room("other") == 3
    store.add("other", 4, x28(4), by=ME)
    assert store.collections() == {"mine": 3, "other": 1}


def test_a_legacy_collection_of_20000_drawings_still_opens_with_fast_pages(runs_dir, monkeypatch):
    """Made by SQL, as a store from before the cap may hold it: every page's query stays fast, a page holds
    PAGE_MAX at most with `split`'s held-out flag, and Compare measures a bounded sample of it."""
    legacy_store(runs_dir / "drawings.sqlite3", 20_000, "big")
    store = DrawingStore()
    t0 = time.perf_counter()
    assert store.collections() == {"big": 20_000} and store.counts("big") == dict.fromkeys(range(10), 2000)
    first = store.page("big", 3)
    last = store.page("big", 3, offset=1990, limit=50)
    newest = store.page("big", newest=True, limit=20)
    held = store.held_out("big", limit=100)
    took = time.perf_counter() - t0
    assert took < 0.5, f"{took:.2f} s"
    assert len(first) == drawings.PAGE_MAX and len(last) == 10 and all(d.digit == 3 for d in first + last)
    assert [d.held_out for d in first[:10]] == [False] * 4 + [True] + [False] * 4 + [True]
    assert [d.held_out for d in last] == [(1990 + k + 1) % 5 == 0 for k in range(10)]
    assert [d.id for d in newest] == list(range(20_000, 19_980, -1))
    assert len(held) == 100 and all(d.held_out for d in held) and held[-1].id == 20_000
    assert store.held_out_count("big") == 4000
    with pytest.raises(StoreError, match="is full"):
        store.add("big", 1, x28(1), by=owners.ANYONE)

    from mnist_core import measure

    measured = []
    monkeypatch.setattr(
        measure, "_on_drawings", lambda name, path, xs, labels, content: measured.append(len(xs)) or 1.0
    )
    result = measure.collection_accuracies([{"name": "m", "path": "m.pt"}], "big", runs_dir)
    assert measured == [measure.ON_DRAWINGS_MAX] and (result.measured, result.held_out) == (1000, 4000)
    assert result.scores == {"m": 1.0}


def test_page_and_split_agree_on_the_held_out_part(store):
    for k in range(23):
        store.add("mine", k % 3, x28(k % 3), by=ME)
    train, held = store.split("mine")
    paged = [d for offset in range(0, 23, 4) for d in store.page("mine", offset=offset, limit=4)]
    assert [d.id for d in paged] == sorted(d.id for d in train + held)
    assert {d.id for d in paged if d.held_out} == {d.id for d in held}
    assert {d.id for d in store.held_out("mine")} == {d.id for d in held}


# --- the file: moved away, replaced, a link, a folder, damaged, read-only, full ------------------------


def no_path(message: str, runs_dir) -> bool:
    """A visitor's message names the lab's things, never the server's folders."""
    return str(runs_dir.parent) not in message and "drawings.sqlite3 in the runs folder" in message


def test_a_database_moved_away_while_the_server_runs_is_made_again_whole(store, runs_dir, tmp_path):
    """What the app's own message tells an operator to do: the next call makes a new, valid, empty store
    (the app as it was made an empty file without tables, and every call failed until a restart)."""
    store.add("mine", 1, x28(1), by=ME)
    moved = tmp_path / "moved.sqlite3"
    store.path.rename(moved)
    assert store.collections() == {}
    store.add("mine", 2, x28(2), by=ME)
    assert store.counts("mine")[2] == 1 and DrawingStore().collections() == {"mine": 1}
    with sqlite3.connect(store.path) as conn:
        assert dict(conn.execute("SELECT key, value FROM meta")) == {"format": "mnist-lab-drawings", "version": "3"}
    conn.close()
    with sqlite3.connect(moved) as conn:  # the moved file keeps what it had
        assert conn.execute("SELECT count(*) FROM drawings").fetchone() == (1,)
    conn.close()
    shutil.move(runs_dir, tmp_path / "moved runs")  # the whole runs folder, too
    store.add("mine", 3, x28(3), by=ME)
    assert store.collections() == {"mine": 1}


def test_a_replaced_database_is_checked_again(store, runs_dir, tmp_path):
    store.add("mine", 1, x28(1), by=ME)
    other = DrawingStore(tmp_path / "other runs")
    other.add("theirs", 5, x28(5), by=ME)
    other.path.replace(store.path)  # another valid store: read as it is
    assert store.collections() == {"theirs": 1}
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (t TEXT)")
    conn.close()
    foreign.replace(store.path)
    before = store.path.read_bytes()
    with pytest.raises(StoreError, match="is damaged or is not this lab's") as err:
        store.add("mine", 1, x28(1), by=ME)
    assert "move it away" in str(err.value) and no_path(str(err.value), runs_dir)
    assert store.path.read_bytes() == before


@pytest.mark.parametrize("when", ["at start", "while running"])
def test_a_link_at_the_database_path_is_refused_and_never_followed(runs_dir, tmp_path, when):
    """A dangling link would have made the database at its target, outside the runs folder."""
    target = tmp_path / "outside" / "elsewhere.sqlite3"
    target.parent.mkdir()
    path = runs_dir / "drawings.sqlite3"
    if when == "while running":
        store = DrawingStore()
        path.unlink()
    path.symlink_to(target)
    with pytest.raises(StoreError, match="is a symbolic link; the lab never follows one") as err:
        DrawingStore().add("mine", 1, x28(1), by=ME) if when == "at start" else store.add("mine", 1, x28(1), by=ME)
    assert not target.exists() and path.is_symlink() and no_path(str(err.value), runs_dir)


@pytest.mark.parametrize("when", ["at start", "while running"])
def test_a_folder_in_the_databases_place_is_named(runs_dir, when):
    path = runs_dir / "drawings.sqlite3"
    store = DrawingStore() if when == "while running" else None
    if store:
        path.unlink()
    path.mkdir()
    with pytest.raises(StoreError, match="a folder named drawings.sqlite3 is in the drawings database's place") as e:
        (store or DrawingStore()).add("mine", 1, x28(1), by=ME)
    assert "damaged" not in str(e.value) and path.is_dir() and str(runs_dir) not in str(e.value)


def test_a_damaged_database_is_named_and_left_as_it_is(store, runs_dir, caplog):
    """Pages of the drawings table overwritten after the store was opened: the next read says damaged,
    and to move it away (the file is not changed by being read)."""
    for k in range(60):
        store.add("mine", k % 10, x28(k % 10), png=png_of(k % 10), by=ME)
    data = bytearray(store.path.read_bytes())
    data[3 * 4096 : len(data) - 4096] = b"\xa5" * (len(data) - 4 * 4096)
    store.path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        store.drawings("mine")
    message = str(err.value)
    assert "is damaged" in message and "move it away" in message and no_path(message, runs_dir)
    assert store.path.read_bytes() == bytes(data)
    assert str(store.path) in caplog.text  # the terminal gets the path


def test_a_read_only_database_says_so_and_loses_nothing(store, runs_dir, monkeypatch):
    """SQLite refusing every write (as for a read-only file or folder): never "damaged", never "move it
    away"; what it holds stays readable."""
    store.add("mine", 1, x28(1), by=ME)
    monkeypatch.setattr(drawings_db(), "PRAGMAS", [*drawings_db().PRAGMAS, "PRAGMA query_only=ON"])
    for change in (lambda: store.add("mine", 2, x28(2), by=ME), lambda: store.delete_collection("mine", by=ME)):
        with pytest.raises(StoreError, match="cannot be written: the file or the runs folder is read-only") as err:
            change()
        assert "move it away" not in str(err.value) and "damaged" not in str(err.value)
        assert no_path(str(err.value), runs_dir)
    assert store.collections() == {"mine": 1}


def drawings_db():
    from mnist_core import dbfile

    return dbfile


@pytest.mark.parametrize("code, message", [(13, "read-only"), (28, "disk holding the runs folder is full")])
def test_a_database_that_cannot_be_created_says_why(runs_dir, monkeypatch, code, message):
    """A read-only runs folder (EACCES) or a full disk (ENOSPC) when the database is first made."""
    import errno

    def refuse(*args, **kwargs):
        raise OSError(code, errno.errorcode[code], str(runs_dir / "drawings.sqlite3"))

    monkeypatch.setattr(drawings_db().os, "open", refuse)
    with pytest.raises(StoreError, match=message) as err:
        DrawingStore()
    assert "move it away" not in str(err.value) and str(runs_dir) not in str(err.value)


def test_a_full_disk_says_so_and_loses_nothing(store, runs_dir, monkeypatch):
    """SQLite's own "database or disk is full" (a database that may not grow a page, as on a full disk)."""
    store.add("mine", 1, x28(1), by=ME)
    monkeypatch.setattr(drawings_db(), "PRAGMAS", [*drawings_db().PRAGMAS, "PRAGMA max_page_count=1"])
    with pytest.raises(StoreError, match="the disk holding the runs folder is full") as err:
        store.add("mine", 2, x28(2), png=bytes(200_000), by=ME)
    assert "move it away" not in str(err.value) and "damaged" not in str(err.value)
    assert no_path(str(err.value), runs_dir) and store.collections() == {"mine": 1}


# --- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [".", "..", "...", "m\u0456n\u0435", "\uff4d\uff49\uff4e\uff45", "[x](https://evil.example/a.png)", "a\u200db"],
    ids=["dot", "dot-dot", "dots", "cyrillic-in-latin", "full-width", "markdown-link", "zero-width-joiner"],
)
def test_dot_mixed_script_and_odd_names_are_refused_without_repeating_them(store, name):
    with pytest.raises(StoreError, match="a collection name is 1 to 64") as err:
        store.add(name, 1, x28(1), by=ME)
    assert (name not in str(err.value) or not name.strip(".")) and "http" not in str(err.value)
    assert store.collections() == {}


def test_a_look_alike_of_another_collections_name_is_refused(store):
    for name in ("ace", "mine", "class 1"):
        store.add(name, 1, x28(1), by=ME)
    store.add("other", 1, x28(1), by=ME)
    for lookalike, of in (("\u0430\u0441\u0435", "ace"), ("rnine", "mine"), ("CLASS l", "class 1")):
        for attempt in (
            lambda n: store.add(n, 1, x28(1), by=ME),
            lambda n: store.rename("other", n, by=ME),
            lambda n: store.import_zip(n, b"refused before the ZIP is read", by=ME),
        ):
            with pytest.raises(StoreError, match=f"looks like the collection '{of}'"):
                attempt(lookalike)
    store.rename("mine", "Mine", by=ME)  # its own look-alike: itself
    store.add("www.evil.example", 1, x28(1), by=ME)  # plain text on the pages: a name, not a link
    assert sorted(store.collections()) == ["Mine", "ace", "class 1", "other", "www.evil.example"]


def test_a_name_from_before_the_rules_still_opens_and_exports_to_a_safe_folder(runs_dir):
    legacy_store(runs_dir / "drawings.sqlite3", 10, "..")
    store = DrawingStore()
    assert store.counts("..")[3] == 1
    names = zipfile.ZipFile(io.BytesIO(store.export_zip(".."))).namelist()
    assert all(n.startswith("collection/") for n in names) and not any(".." in n for n in names)
    assert store.import_zip("copy", store.export_zip(".."), by=ME) == 10
    assert store.delete_collection("..", by=owners.ANYONE) == 10


def test_a_write_ahead_log_left_without_its_database_is_kept_aside(store, runs_dir, tmp_path):
    """The database moved away but not its -wal (commits of a connection still open then): the new store
    starts whole and empty, and the log is kept aside byte for byte (SQLite would discard it)."""
    store.add("mine", 1, x28(1), by=ME)
    held = sqlite3.connect(store.path)  # another connection, its commit still in the log
    held.execute("PRAGMA wal_autocheckpoint=0")
    held.execute("INSERT INTO collections (name, created, owner) VALUES ('logged', 0, '')")
    held.commit()
    wal = runs_dir / "drawings.sqlite3-wal"
    log = wal.read_bytes()
    held.close()
    store.path.rename(tmp_path / "moved.sqlite3")
    wal.write_bytes(log)
    store.add("mine", 2, x28(2), by=ME)
    assert store.collections() == {"mine": 1}
    (kept,) = runs_dir.glob("drawings.sqlite3-wal.orphaned-*")
    assert kept.read_bytes() == log
