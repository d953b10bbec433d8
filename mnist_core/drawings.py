"""The user's labelled drawings: one SQLite database in the runs folder, drawings in named collections.

Each drawing keeps the 28x28 model input (uint8, 784 bytes), the original canvas PNG, the true digit (or
NOT_A_DIGIT, 10: a drawing its keeper says is no digit, for the models with the "not a digit" output), its
collection, when it was saved, what the model in use predicted, and who kept it (owners.key of the
visitor's token; "" for nobody: the command line, or before owners were recorded). A collection is owned by
whoever made it: anyone may add to it (a class's collection), only its owner (or owners.ANYONE, the
operator) renames or deletes it; a drawing is deleted by whoever kept it or the collection's owner.

A collection holds at most COLLECTION_MAX drawings, and what the pages ask (`page`, `counts`,
`collections_info`, `held_out` with a limit) costs the same however large a collection is (one that grew
larger before the cap still opens). WAL mode and one short transaction per change, each on its own
connection, so two sessions saving at once lose nothing; the file itself (moved away, replaced, damaged,
read-only, a full disk) is mnist_core.dbfile's, names are mnist_core.names', reading an import ZIP safely
is mnist_core.zipimport's.

A collection exports as a ZIP of PNGs in `digit/` folders (`not_a_digit/` for label 10) plus MNIST's four IDX
files of its digits (every fifth drawing of each digit is the test part, as `split` holds out), and imports
back from such a ZIP; a bad file changes nothing.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from dataclasses import dataclass

import numpy as np

from . import inference, names, owners, zipimport
from .catalog import NOT_A_DIGIT as NOT_A_DIGIT  # the label of a drawing kept as "not a digit"
from .dbfile import DB_NAME as DB_NAME
from .dbfile import Database, StoreError, write
from .names import NAME_MAX as NAME_MAX
from .names import check_name as check_name

DEFAULT_COLLECTION = "mine"
MIN_INK = 20  # summed 0..255 ink below this (under a tenth of one pixel row) is a blank canvas, never saved
HOLDOUT_EVERY = 5  # every fifth drawing of a digit is held out (the test part of a collection)
LABELS = range(NOT_A_DIGIT + 1)
COLLECTION_MAX = 5_000  # drawings in one collection
PAGE_MAX = 200  # drawings in one `page`
IMPORT_MAX_BYTES, IMPORT_MAX_INFLATED = zipimport.IMPORT_MAX_BYTES, zipimport.IMPORT_MAX_INFLATED
_COLUMNS = "d.id, d.digit, d.x28, d.created, d.model, d.predicted, d.owner"


@dataclass(frozen=True)
class Drawing:
    id: int
    digit: int
    x28: np.ndarray  # (28, 28) uint8, 255 = ink
    created: float
    model: str | None
    predicted: int | None
    owner: str = ""  # owners.key of whoever kept it ("" for nobody)
    held_out: bool = False  # in the held-out part (every HOLDOUT_EVERY-th of its digit, in saving order)


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    size: int  # drawings
    owner: str  # owners.key of whoever made it ("" for nobody: only owners.ANYONE changes it)


def to_uint8(x28) -> np.ndarray:
    """The model input (28, 28) in [0, 1] (or uint8) as uint8."""
    a = np.asarray(x28)
    if a.shape != (28, 28):
        raise StoreError(f"a drawing's model input is 28 x 28, not {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return a


def owner_key(by) -> str:
    """What is recorded as the owner of what `by` makes: its key, or "" for owners.ANYONE or nobody."""
    return owners.key(by) if isinstance(by, str) else ""


def may_delete(drawing: Drawing, collection_owner: str, by) -> bool:
    """Whether `by` may delete a drawing: whoever kept it, or the collection's owner (or owners.ANYONE)."""
    return owners.may_change(by, drawing.owner) or owners.may_change(by, collection_owner)


def _given(name) -> str:
    """A name as given for an existing collection (one made before today's rules still opens)."""
    text = str(name if name is not None else "").strip()
    if not text or len(text) > 4 * NAME_MAX:
        check_name(text)  # raises, saying what a name is
    return text


def _not_yours(name: str, owner: str, doing: str) -> StoreError:
    who = "another visitor's" if owner else "made by no visitor (the command line, or before owners were recorded)"
    return StoreError(f"the collection '{name}' is {who}: only its owner or the lab's operator may {doing} it")


def _full(name: str, size: int) -> StoreError:
    return StoreError(
        f"the collection '{name}' is full ({size:,} drawings; a collection holds at most {COLLECTION_MAX:,}): "
        "keep new drawings in another collection, or delete some"
    )


class DrawingStore:
    """The drawings database of one runs folder (`$MNIST_RUNS_DIR`, else ./runs)."""

    def __init__(self, runs_dir=None):
        self.db = Database(inference.runs_dir(runs_dir).resolve())
        self.path = self.db.path  # never shown to visitors (messages say "the drawings database")

    # -- collections, inside a connection ---------------------------------------------------
    @staticmethod
    def _find(conn, name: str) -> tuple[int, str, str] | None:
        """(id, owner, stored name) of a collection (names are told apart without case)."""
        return conn.execute("SELECT id, owner, name FROM collections WHERE name = ?", (name,)).fetchone()

    @staticmethod
    def _size(conn, cid: int) -> int:
        return conn.execute("SELECT count(*) FROM drawings WHERE collection_id = ?", (cid,)).fetchone()[0]

    @staticmethod
    def _check_new(conn, name: str, but: int | None = None) -> str:
        """A new collection's name: today's rules, and not a look-alike of another collection's."""
        name = check_name(name)
        others = [n for i, n in conn.execute("SELECT id, name FROM collections") if i != but]
        if other := names.lookalike(name, others):
            raise StoreError(f"that name looks like the collection '{other}': pick a name that reads differently")
        return name

    def _for_adding(self, conn, name: str, by, n: int) -> tuple[int, str]:
        """(id, name) of the collection `n` drawings go into, made (owned by `by`) if new; StoreError if
        they would pass COLLECTION_MAX."""
        row = self._find(conn, name)
        if row is None:
            name = self._check_new(conn, name)
            cid = conn.execute(
                "INSERT INTO collections (name, created, owner) VALUES (?, ?, ?)", (name, time.time(), owner_key(by))
            ).lastrowid
            return cid, name
        size = self._size(conn, row[0])
        if size + n > COLLECTION_MAX:
            raise _full(row[2], size) if n == 1 else self._no_room(row[2], size, n)
        return row[0], row[2]

    @staticmethod
    def _no_room(name: str, size: int, n: int) -> StoreError:
        room = max(0, COLLECTION_MAX - size)
        return StoreError(
            f"{n:,} drawings would not fit: '{name}' has room for {room:,} more (a collection holds at most "
            f"{COLLECTION_MAX:,}); nothing was imported"
        )

    def _select(self, conn, name, digit=None, *, held_only=False, offset=0, limit=-1, newest=False) -> list[Drawing]:
        """Drawings of a collection in saving order (newest first if asked), each with its held-out flag,
        computed in SQL by `split`'s rule; only the page's rows are read (the rest only from the index)."""
        row = self._find(conn, _given(name))
        if row is None:
            return []
        where, args = "collection_id = ?", [row[0]]
        if digit is not None:
            where, args = where + " AND digit = ?", [*args, int(digit)]
        order = "DESC" if newest else "ASC"
        rows = conn.execute(
            f"WITH ranked AS (SELECT id, ROW_NUMBER() OVER (PARTITION BY digit ORDER BY id) % {HOLDOUT_EVERY} = 0 "
            f"AS held FROM drawings WHERE {where}), "
            f"picked AS (SELECT id, held FROM ranked {'WHERE held' if held_only else ''} "
            f"ORDER BY id {order} LIMIT ? OFFSET ?) "
            f"SELECT {_COLUMNS}, p.held FROM picked p JOIN drawings d ON d.id = p.id ORDER BY d.id {order}",
            (*args, int(limit), int(offset)),
        ).fetchall()
        return [
            Drawing(i, d, np.frombuffer(x, np.uint8).reshape(28, 28).copy(), c, m, p, o, bool(h))
            for i, d, x, c, m, p, o, h in rows
        ]

    # -- drawings ---------------------------------------------------------------------------
    def add(self, collection: str, digit: int, x28, png=None, model=None, predicted=None, *, by) -> int:
        """Save one labelled drawing, kept by `by` (a visitor's token, or owners.ANYONE); its id. A new
        collection is `by`'s. StoreError for a blank input, a label outside 0-9 and NOT_A_DIGIT, a bad new
        name, a full collection."""
        name = _given(collection)
        if not isinstance(digit, (int, np.integer)) or isinstance(digit, bool) or int(digit) not in LABELS:
            raise StoreError(f"the true digit must be 0-9 (or {NOT_A_DIGIT}: not a digit), not {str(digit)[:20]!r}")
        pixels = to_uint8(x28)
        if int(pixels.sum(dtype=np.int64)) < MIN_INK:
            raise StoreError("a blank drawing is not saved")
        predicted = None if predicted is None else int(predicted)
        with self.db.connect() as conn, write(conn):
            cid, _ = self._for_adding(conn, name, by, 1)
            return conn.execute(
                "INSERT INTO drawings (collection_id, digit, x28, png, created, model, predicted, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, int(digit), pixels.tobytes(), png, time.time(), model, predicted, owner_key(by)),
            ).lastrowid

    def drawings(self, collection: str, digit: int | None = None) -> list[Drawing]:
        """All of a collection's drawings, oldest first (of one digit when given); the pages use `page`."""
        with self.db.connect() as conn:
            return self._select(conn, collection, digit)

    def page(
        self, collection: str, digit: int | None = None, offset: int = 0, limit: int = PAGE_MAX, newest: bool = False
    ) -> list[Drawing]:
        """At most `limit` (<= PAGE_MAX) drawings from `offset` on, in saving order (newest first if asked),
        of one digit when given, each with `held_out` set: a page costs the same in any collection."""
        limit, offset = max(0, min(int(limit), PAGE_MAX)), max(0, int(offset))
        with self.db.connect() as conn:
            return self._select(conn, collection, digit, offset=offset, limit=limit, newest=newest)

    def held_out(self, collection: str, limit: int | None = None) -> list[Drawing]:
        """The held-out part (the newest `limit` of it when given), oldest first."""
        with self.db.connect() as conn:
            part = self._select(conn, collection, held_only=True, limit=-1 if limit is None else limit, newest=True)
        return part[::-1]

    def held_out_count(self, collection: str) -> int:
        """The held-out digits (not those kept as not a digit): what a model's accuracy is measured on."""
        return sum(n // HOLDOUT_EVERY for d, n in self.counts(collection).items() if d != NOT_A_DIGIT)

    def png(self, drawing_id: int) -> bytes | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT png FROM drawings WHERE id = ?", (int(drawing_id),)).fetchone()
        return row[0] if row else None

    def delete(self, drawing_id: int, *, by) -> bool:
        """Delete one drawing (whoever kept it, or the collection's owner); False if it was gone."""
        with self.db.connect() as conn, write(conn):
            row = conn.execute(
                "SELECT d.owner, c.owner FROM drawings d JOIN collections c ON c.id = d.collection_id WHERE d.id = ?",
                (int(drawing_id),),
            ).fetchone()
            if row is None:
                return False
            if not (owners.may_change(by, row[0]) or owners.may_change(by, row[1])):
                who = "another visitor" if row[0] else "no visitor (the command line, or before owners were recorded)"
                raise StoreError(
                    f"this drawing was kept by {who}: only they, the collection's owner or the lab's "
                    "operator may delete it"
                )
            return conn.execute("DELETE FROM drawings WHERE id = ?", (int(drawing_id),)).rowcount == 1

    def counts(self, collection: str) -> dict[int, int]:
        """Drawings per digit in a collection (every digit 0-9, zeros included; NOT_A_DIGIT when it has some)."""
        out = dict.fromkeys(range(10), 0)
        with self.db.connect() as conn:
            for digit, n in conn.execute(
                "SELECT d.digit, count(*) FROM drawings d JOIN collections c ON "
                "c.id = d.collection_id WHERE c.name = ? GROUP BY d.digit",
                (_given(collection),),
            ):
                out[digit] = n
        return out

    # -- collections ------------------------------------------------------------------------
    def collections_info(self) -> list[CollectionInfo]:
        """Every collection's name, size and owner's key, by name."""
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT c.name, count(d.id), c.owner FROM collections c LEFT JOIN drawings d "
                "ON d.collection_id = c.id GROUP BY c.id ORDER BY c.name"
            ).fetchall()
        return [CollectionInfo(*r) for r in rows]

    def collections(self) -> dict[str, int]:
        """Every collection's name and size, by name."""
        return {c.name: c.size for c in self.collections_info()}

    def may_change(self, name: str, by) -> bool:
        """Whether `by` may rename or delete the collection (False if there is none of that name)."""
        with self.db.connect() as conn:
            row = self._find(conn, _given(name))
        return row is not None and owners.may_change(by, row[1])

    def room(self, name: str) -> int:
        """How many more drawings the collection takes (COLLECTION_MAX for a new one)."""
        with self.db.connect() as conn:
            row = self._find(conn, _given(name))
            return COLLECTION_MAX - (self._size(conn, row[0]) if row else 0)

    def rename(self, old: str, new: str, *, by) -> None:
        old, new = _given(old), check_name(new)
        with self.db.connect() as conn, write(conn):
            row = self._find(conn, old)
            if row is None:
                raise StoreError("there is no collection of that name")
            if not owners.may_change(by, row[1]):
                raise _not_yours(row[2], row[1], "rename")
            other = self._find(conn, new)
            if other is not None and other[0] != row[0]:
                raise StoreError(f"a collection named '{other[2]}' exists already")
            new = self._check_new(conn, new, but=row[0])
            conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new, row[0]))

    def delete_collection(self, name: str, *, by) -> int:
        """Delete a collection and its drawings (its owner, or owners.ANYONE); how many drawings went."""
        with self.db.connect() as conn, write(conn):
            row = self._find(conn, _given(name))
            if row is None:
                return 0
            if not owners.may_change(by, row[1]):
                raise _not_yours(row[2], row[1], "delete")
            n = self._size(conn, row[0])
            conn.execute("DELETE FROM collections WHERE id = ?", (row[0],))
            return n

    # -- held-out part, export, import ----------------------------------------------------------
    def split(self, collection: str) -> tuple[list[Drawing], list[Drawing]]:
        """(train, held out): every HOLDOUT_EVERY-th drawing of each digit, in saving order, is held out."""
        every = self.drawings(collection)
        return [d for d in every if not d.held_out], [d for d in every if d.held_out]

    def export_zip(self, collection: str) -> bytes:
        """The collection as a ZIP: FOLDER/DIGIT/ID.png (28x28, white on black; not_a_digit/ for label 10) and
        MNIST's four IDX files of its digits (train-* the training part, t10k-* the held-out part), readable by
        any MNIST code. FOLDER is the name made safe (names.folder_name)."""
        from PIL import Image

        train, held = self.split(collection)
        folder = names.folder_name(_given(collection))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for d in sorted(train + held, key=lambda d: d.id):
                png = io.BytesIO()
                Image.fromarray(d.x28, "L").save(png, "PNG")
                z.writestr(f"{folder}/{zipimport.folder_of(d.digit)}/{d.id:06d}.png", png.getvalue())
            for prefix, part in (("train", train), ("t10k", held)):
                part = [d for d in part if d.digit != NOT_A_DIGIT]  # MNIST code reads ten classes
                images = np.stack([d.x28 for d in part]) if part else np.zeros((0, 28, 28), np.uint8)
                z.writestr(f"{folder}/raw/{prefix}-images-idx3-ubyte", idx_bytes(images))
                z.writestr(
                    f"{folder}/raw/{prefix}-labels-idx1-ubyte", idx_bytes(np.array([d.digit for d in part], np.uint8))
                )
        return buf.getvalue()

    def import_zip(self, collection: str, content: bytes, *, by=None, progress=None) -> int:
        """Add the PNGs of a ZIP (`[NAME/]DIGIT/FILE.png`, `not_a_digit/` for label 10) to a collection (a new
        one is `by`'s), in one transaction: a bad file (too large, a zip bomb or a lying directory, odd names, an
        image that does not decode or is blank, more than the collection has room for) adds nothing.
        `progress(done, total)` is called between entries (zipimport.read_import); if it raises, the import
        stops and adds nothing."""
        name = _given(collection)
        with self.db.connect() as conn:
            row = self._find(conn, name)
            size = self._size(conn, row[0]) if row else 0
            if row is None:
                self._check_new(conn, name)  # refused before the ZIP is read
        if size >= COLLECTION_MAX:
            raise _full(row[2], size)
        room = COLLECTION_MAX - size
        why = f"'{row[2] if row else name}' has room for {room:,} more (a collection holds at most {COLLECTION_MAX:,})"
        items = []
        for entry, digit, pixels in zipimport.read_import(content, room=room, no_room=why, progress=progress):
            pixels = to_uint8(pixels)
            if int(pixels.sum(dtype=np.int64)) < MIN_INK:
                raise StoreError(f"{entry!r}: a blank image; like the Draw page, an import keeps no blank drawings")
            items.append((digit, pixels))
        with self.db.connect() as conn, write(conn):
            cid, _ = self._for_adding(conn, name, by, len(items))
            now, me = time.time(), owner_key(by)
            conn.executemany(
                "INSERT INTO drawings (collection_id, digit, x28, png, created, model, predicted, owner) "
                "VALUES (?, ?, ?, NULL, ?, 'imported', NULL, ?)",
                [(cid, digit, x28.tobytes(), now, me) for digit, x28 in items],
            )
        return len(items)


def label_name(label: int) -> str:
    """A label as the pages say it: the digit, or "not a digit"."""
    return "not a digit" if label == NOT_A_DIGIT else str(label)


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 array in MNIST's IDX format (magic 0x0000080N, big-endian sizes)."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">I", 0x0800 | a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
