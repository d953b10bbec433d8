"""The user's labelled drawings: one SQLite database in the runs folder, drawings in named collections.

Each drawing keeps the 28x28 model input (uint8, 784 bytes), the original canvas PNG, the true digit,
its collection, when it was saved, and what the model in use predicted. WAL mode and one short
transaction per change, each on its own connection with a busy timeout, so two sessions saving at
once lose nothing. A file at the database's path that is not this store (corrupt, or another
program's) is reported with its path and never overwritten.

A collection exports as a ZIP of PNGs in `digit/` folders plus MNIST's four IDX files (every fifth
drawing of each digit is the test part, as `split` holds out), and imports back from such a ZIP,
checked like any upload; a bad file changes nothing.
"""

from __future__ import annotations

import io
import re
import sqlite3
import struct
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import inference

DB_NAME = "drawings.sqlite3"
FORMAT, VERSION = "mnist-lab-drawings", 1
DEFAULT_COLLECTION = "mine"
NAME_MAX = 64
MIN_INK = 20  # summed 0..255 ink below this (under a tenth of one pixel row) is a blank canvas, never saved
HOLDOUT_EVERY = 5  # every fifth drawing of a digit is held out (the test part of a collection)
# an import is checked before anything is read into the store
IMPORT_MAX_BYTES = 20 * 2**20
IMPORT_MAX_FILES = 20_000
IMPORT_MAX_INFLATED = 200 * 2**20
IMPORT_MAX_SIDE = 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS drawings (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    digit INTEGER NOT NULL CHECK (digit BETWEEN 0 AND 9),
    x28 BLOB NOT NULL CHECK (length(x28) = 784),
    png BLOB,
    created REAL NOT NULL,
    model TEXT,
    predicted INTEGER CHECK (predicted IS NULL OR predicted BETWEEN 0 AND 9)
);
CREATE INDEX IF NOT EXISTS drawings_by_collection ON drawings(collection_id, digit, id);
"""
_NAME_OK = re.compile(r"^[\w .+-]+$")
_ENTRY = re.compile(r"^(?:[^/]+/)?([0-9])/[\w.+-]{1,100}\.png$", re.IGNORECASE)


class StoreError(Exception):
    """The database cannot be used (a corrupt or foreign file, a bad name, a bad import): says why."""


@dataclass(frozen=True)
class Drawing:
    id: int
    digit: int
    x28: np.ndarray  # (28, 28) uint8, 255 = ink
    created: float
    model: str | None
    predicted: int | None


def check_name(name: str) -> str:
    """A collection name as given, trimmed; StoreError for an empty, long or odd one."""
    text = str(name or "").strip()
    if not text or len(text) > NAME_MAX or not _NAME_OK.match(text):
        raise StoreError(f"a collection name is 1 to {NAME_MAX} letters, digits, spaces or . + - _ (got {name!r})")
    return text


def to_uint8(x28) -> np.ndarray:
    """The model input (28, 28) in [0, 1] (or uint8) as uint8."""
    a = np.asarray(x28)
    if a.shape != (28, 28):
        raise StoreError(f"a drawing's model input is 28 x 28, not {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return a


class DrawingStore:
    """The drawings database of one runs folder (`$MNIST_RUNS_DIR`, else ./runs)."""

    def __init__(self, runs_dir=None):
        self.path = (inference.runs_dir(runs_dir) / DB_NAME).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_or_create()

    # -- the file ---------------------------------------------------------------------------
    def _refuse(self, why: str) -> StoreError:
        return StoreError(
            f"{self.path} is not a usable MNIST Lab drawings database ({why}); it was left as it "
            "is: move it away (or set MNIST_RUNS_DIR) to start a new one"
        )

    def _open_or_create(self) -> None:
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            if existed:  # read it read-only first: a file that is not ours must not change by being looked at
                conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=30)
                try:
                    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                finally:
                    conn.close()
            else:
                with self._connect() as conn:
                    with conn:
                        conn.executescript(SCHEMA)
                        conn.executemany(
                            "INSERT OR IGNORE INTO meta VALUES (?, ?)",  # a racing creator: same rows
                            [("format", FORMAT), ("version", VERSION)],
                        )
                    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:  # "file is not a database", "no such table: meta", ...
            raise self._refuse(str(exc)) from None
        if meta.get("format") != FORMAT:
            raise self._refuse(f"its format is {meta.get('format')!r}")
        if str(meta.get("version")) != str(VERSION):
            raise self._refuse(f"schema version {meta.get('version')}, this app reads {VERSION}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection of its own (safe from any thread); `with conn:` inside makes a transaction."""
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives the app crashing; one fsync less
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        finally:
            conn.close()

    def _collection_id(self, conn, name: str, create: bool) -> int | None:
        if create:  # OR IGNORE: another session may create the same collection at the same moment
            conn.execute("INSERT OR IGNORE INTO collections (name, created) VALUES (?, ?)", (name, time.time()))
        row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    # -- drawings ---------------------------------------------------------------------------
    def add(
        self,
        collection: str,
        digit: int,
        x28,
        png: bytes | None = None,
        model: str | None = None,
        predicted: int | None = None,
    ) -> int:
        """Save one labelled drawing; its id. StoreError for a blank input or a digit outside 0-9."""
        name = check_name(collection)
        if not isinstance(digit, (int, np.integer)) or not 0 <= int(digit) <= 9:
            raise StoreError(f"the true digit must be 0-9, not {digit!r}")
        pixels = to_uint8(x28)
        if int(pixels.sum(dtype=np.int64)) < MIN_INK:
            raise StoreError("a blank drawing is not saved")
        with self._connect() as conn, conn:
            cid = self._collection_id(conn, name, create=True)
            return conn.execute(
                "INSERT INTO drawings (collection_id, digit, x28, png, created, model, predicted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    cid,
                    int(digit),
                    pixels.tobytes(),
                    png,
                    time.time(),
                    model,
                    None if predicted is None else int(predicted),
                ),
            ).lastrowid

    def drawings(self, collection: str, digit: int | None = None) -> list[Drawing]:
        """A collection's drawings, oldest first (of one digit when given)."""
        query = (
            "SELECT d.id, d.digit, d.x28, d.created, d.model, d.predicted FROM drawings d "
            "JOIN collections c ON c.id = d.collection_id WHERE c.name = ?"
        )
        args: tuple = (check_name(collection),)
        if digit is not None:
            query, args = query + " AND d.digit = ?", (*args, int(digit))
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY d.id", args).fetchall()
        return [Drawing(i, d, np.frombuffer(x, np.uint8).reshape(28, 28).copy(), c, m, p) for i, d, x, c, m, p in rows]

    def png(self, drawing_id: int) -> bytes | None:
        with self._connect() as conn:
            row = conn.execute("SELECT png FROM drawings WHERE id = ?", (int(drawing_id),)).fetchone()
        return row[0] if row else None

    def delete(self, drawing_id: int) -> bool:
        with self._connect() as conn, conn:
            return conn.execute("DELETE FROM drawings WHERE id = ?", (int(drawing_id),)).rowcount == 1

    def counts(self, collection: str) -> dict[int, int]:
        """Drawings per digit in a collection (every digit 0-9, zeros included)."""
        out = dict.fromkeys(range(10), 0)
        with self._connect() as conn:
            for digit, n in conn.execute(
                "SELECT d.digit, count(*) FROM drawings d JOIN collections c ON "
                "c.id = d.collection_id WHERE c.name = ? GROUP BY d.digit",
                (check_name(collection),),
            ):
                out[digit] = n
        return out

    # -- collections ------------------------------------------------------------------------
    def collections(self) -> dict[str, int]:
        """Every collection's name and size, by name."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT c.name, count(d.id) FROM collections c LEFT JOIN drawings d "
                "ON d.collection_id = c.id GROUP BY c.id ORDER BY c.name"
            ).fetchall()
        return dict(rows)

    def rename(self, old: str, new: str) -> None:
        old, new = check_name(old), check_name(new)
        with self._connect() as conn, conn:
            cid = self._collection_id(conn, old, create=False)
            if cid is None:
                raise StoreError(f"there is no collection {old!r}")
            other = self._collection_id(conn, new, create=False)
            if other is not None and other != cid:
                raise StoreError(f"a collection named {new!r} exists already")
            conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new, cid))

    def delete_collection(self, name: str) -> int:
        """Delete a collection and its drawings; how many drawings went."""
        name = check_name(name)
        with self._connect() as conn, conn:
            cid = self._collection_id(conn, name, create=False)
            if cid is None:
                return 0
            n = conn.execute("SELECT count(*) FROM drawings WHERE collection_id = ?", (cid,)).fetchone()[0]
            conn.execute("DELETE FROM collections WHERE id = ?", (cid,))
            return n

    # -- held-out part, export, import ----------------------------------------------------------
    def split(self, collection: str) -> tuple[list[Drawing], list[Drawing]]:
        """(train, held out): every HOLDOUT_EVERY-th drawing of each digit, in saving order, is held out."""
        train, held = [], []
        seen = dict.fromkeys(range(10), 0)
        for d in self.drawings(collection):
            seen[d.digit] += 1
            (held if seen[d.digit] % HOLDOUT_EVERY == 0 else train).append(d)
        return train, held

    def export_zip(self, collection: str) -> bytes:
        """The collection as a ZIP: NAME/DIGIT/ID.png (28x28, white on black) and MNIST's four IDX files
        (train-* the training part, t10k-* the held-out part), readable by any MNIST code."""
        from PIL import Image

        name = check_name(collection)
        train, held = self.split(name)
        folder = re.sub(r"[^\w.+-]", "_", name)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for d in sorted(train + held, key=lambda d: d.id):
                png = io.BytesIO()
                Image.fromarray(d.x28, "L").save(png, "PNG")
                z.writestr(f"{folder}/{d.digit}/{d.id:06d}.png", png.getvalue())
            for prefix, part in (("train", train), ("t10k", held)):
                images = np.stack([d.x28 for d in part]) if part else np.zeros((0, 28, 28), np.uint8)
                z.writestr(f"{folder}/raw/{prefix}-images-idx3-ubyte", idx_bytes(images))
                z.writestr(
                    f"{folder}/raw/{prefix}-labels-idx1-ubyte", idx_bytes(np.array([d.digit for d in part], np.uint8))
                )
        return buf.getvalue()

    def import_zip(self, collection: str, content: bytes) -> int:
        """Add the PNGs of an exported ZIP (`[NAME/]DIGIT/FILE.png`) to a collection, in one transaction:
        a bad file (too large, a zip bomb, odd names, an image that does not decode) adds nothing."""
        name = check_name(collection)
        items = read_import(content)
        with self._connect() as conn, conn:
            cid = self._collection_id(conn, name, create=True)
            now = time.time()
            conn.executemany(
                "INSERT INTO drawings (collection_id, digit, x28, png, created, model, predicted) "
                "VALUES (?, ?, ?, NULL, ?, 'imported', NULL)",
                [(cid, digit, x28.tobytes(), now) for digit, x28 in items],
            )
        return len(items)


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array in MNIST's IDX format (magic 0x0000080N, big-endian sizes)."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">I", 0x0800 | a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def read_import(content: bytes) -> list[tuple[int, np.ndarray]]:
    """(digit, 28x28 uint8) for each PNG of an import ZIP, or StoreError saying what is wrong with it."""
    from PIL import Image

    from .preprocess import preprocess

    if len(content) > IMPORT_MAX_BYTES:
        raise StoreError(
            f"the file is {len(content) / 2**20:.1f} MB; an import is at most {IMPORT_MAX_BYTES // 2**20} MB"
        )
    try:
        z = zipfile.ZipFile(io.BytesIO(content))
        infos = [i for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise StoreError(f"not a ZIP file ({exc})") from None
    pngs = [i for i in infos if i.filename.lower().endswith(".png")]
    if len(infos) > IMPORT_MAX_FILES:
        raise StoreError(f"{len(infos):,} files in the ZIP; at most {IMPORT_MAX_FILES:,}")
    if sum(i.file_size for i in infos) > IMPORT_MAX_INFLATED:  # sizes from the directory, before inflating
        raise StoreError(f"the ZIP would inflate to over {IMPORT_MAX_INFLATED // 2**20} MB")
    if not pngs:
        raise StoreError("no drawings in the ZIP: expected PNG files in folders named by digit (0/ ... 9/)")
    items = []
    for info in pngs:
        m = _ENTRY.match(info.filename)
        if not m or ".." in info.filename or info.filename.startswith("/"):
            raise StoreError(f"{info.filename!r}: expected DIGIT/NAME.png (optionally inside one folder)")
        try:
            with z.open(info) as f:
                data = f.read(IMPORT_MAX_INFLATED)
            img = Image.open(io.BytesIO(data))
            if max(img.size) > IMPORT_MAX_SIDE:
                raise StoreError(f"{info.filename}: {img.size[0]} x {img.size[1]} pixels, at most {IMPORT_MAX_SIDE}")
            pixels = np.asarray(img.convert("L"))
        except StoreError:
            raise
        except Exception as exc:  # PIL raises many kinds for a file that is not an image
            raise StoreError(f"{info.filename}: not an image that can be read ({type(exc).__name__})") from None
        if pixels.shape != (28, 28):  # a larger drawing: made an MNIST-style input as the Draw page would
            x = preprocess(pixels)
            if x is None:
                raise StoreError(f"{info.filename}: a blank image")
            pixels = to_uint8(x)
        items.append((int(m.group(1)), pixels))
    return items


# --- fine-tuning on a collection (an ordinary training job: TrainConfig.init_from + collection) -----
MIN_PER_DIGIT = 3  # a digit drawn fewer times than this is too few to learn a style from


def finetune_problem(store: DrawingStore, collection: str) -> str | None:
    """What is missing before `collection` can be fine-tuned on, in words; None when it is ready."""
    counts = store.counts(collection)
    if not any(counts.values()):
        return f"the collection {collection!r} has no drawings yet: keep some on the Draw page"
    few = {d: n for d, n in counts.items() if 0 < n < MIN_PER_DIGIT}
    if few:
        return (
            "too few drawings to learn from: "
            + ", ".join(
                f"draw {MIN_PER_DIGIT - n} more {d}{'s' if MIN_PER_DIGIT - n > 1 else ''}" for d, n in few.items()
            )
            + (f" (each digit you keep needs at least {MIN_PER_DIGIT})")
        )
    return None


def arrays(part: list[Drawing]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 images and (N,) int64 labels of some drawings."""
    if not part:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)
    return np.stack([d.x28 for d in part]), np.array([d.digit for d in part], np.int64)
