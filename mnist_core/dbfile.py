"""The drawings database's file: opened, checked, migrated, re-created, and its faults named.

One SQLite file in the runs folder. Each call opens a connection of its own with `mode=rw`, so a missing file
is never silently created as an empty database without tables: before each connection the file is looked at
(one lstat): gone (moved away while the server runs), a new, valid, empty store is made in its place; replaced,
the new file is checked again as on start. A symbolic link at the database's path is refused, never followed.

What goes wrong is raised as StoreError in words a visitor can read (no server path, no raw exception text):
read-only, disk full, damaged or not this lab's, a folder in its place, busy. Only a file that really is
damaged or not ours is said to need moving away; a healthy database on a read-only folder or a full disk is
never. The path and the exception go to the log.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
DB_NAME = "drawings.sqlite3"
FORMAT, VERSION = "mnist-lab-drawings", 3  # 2: owners (owners.key) recorded; 3: label 10, "not a digit"
WHAT = f"the drawings database ({DB_NAME} in the runs folder)"


def _drawings_table(name: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {name} ("
        " id INTEGER PRIMARY KEY,"
        " collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,"
        " digit INTEGER NOT NULL CHECK (digit BETWEEN 0 AND 10),"  # 10: kept as not a digit
        " x28 BLOB NOT NULL CHECK (length(x28) = 784),"
        " png BLOB,"
        " created REAL NOT NULL,"
        " model TEXT,"
        " predicted INTEGER CHECK (predicted IS NULL OR predicted BETWEEN 0 AND 9),"
        " owner TEXT NOT NULL DEFAULT '')"
    )


_INDEX = "CREATE INDEX IF NOT EXISTS drawings_by_collection ON drawings(collection_id, digit, id)"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS collections (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, "
    "created REAL NOT NULL, owner TEXT NOT NULL DEFAULT '')",
    _drawings_table("drawings"),
    _INDEX,
)
_COPIED = "id, collection_id, digit, x28, png, created, model, predicted, owner"
MIGRATE = {  # from version N to N + 1, in one transaction
    1: (
        "ALTER TABLE collections ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE drawings ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
    ),
    2: (  # SQLite changes a CHECK only by copying the table
        _drawings_table("drawings_v3"),
        f"INSERT INTO drawings_v3 ({_COPIED}) SELECT {_COPIED} FROM drawings",
        "DROP TABLE drawings",
        "ALTER TABLE drawings_v3 RENAME TO drawings",
        _INDEX,
    ),
}
PRAGMAS = ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"]
# SQLite's primary result codes (the low byte of sqlite_errorcode)
_BUSY, _LOCKED, _READONLY, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 11, 13, 14, 26


class StoreError(Exception):
    """The drawings cannot be kept or read, or a request is refused (a bad name, a bad import, another
    visitor's collection): says why, fit to show a visitor (plain text, no server path)."""


def damaged(why: str) -> StoreError:
    return StoreError(
        f"{WHAT} is damaged or is not this lab's ({why}); it was left as it is: move it away (the lab then "
        "starts a new, empty one) or set MNIST_RUNS_DIR to another folder"
    )


READ_ONLY = (
    f"{WHAT} cannot be written: the file or the runs folder is read-only. Nothing was lost; make them "
    "writable (or set MNIST_RUNS_DIR to a writable folder) to keep drawings"
)
FULL = (
    f"the disk holding the runs folder is full, so {WHAT} cannot grow. Nothing was lost; free some space and try again"
)
FOLDER = (
    f"a folder named {DB_NAME} is in the drawings database's place in the runs folder; it was left as it is: "
    "move it away (the lab then starts a new database)"
)
LINK = (
    f"{WHAT} is a symbolic link; the lab never follows one there (it could lead outside the runs folder): "
    "put the database file itself in its place, or remove the link"
)
BUSY = f"{WHAT} is busy (another program holds it locked); try again in a moment"


class Database:
    """The drawings database file of one runs folder (`folder`, resolved by the caller)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / DB_NAME  # the folder resolved, the file never: a link there is refused
        self._checked: tuple[int, int] | None = None  # (device, inode) of the file last checked
        self._lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.fault(exc) from None
        self.ensure()

    # -- the file ---------------------------------------------------------------------------
    def _lstat(self) -> os.stat_result | None:
        try:
            return os.lstat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.fault(exc) from None

    def ensure(self) -> None:
        """The file at the path is this store: checked once per file (again when it is replaced); none there
        (or an empty file), a new store is made; a link, a folder or anything else is refused."""
        st = self._lstat()
        if st is not None and (st.st_dev, st.st_ino) == self._checked and stat.S_ISREG(st.st_mode):
            return
        with self._lock:
            st = self._lstat()
            if st is not None:
                if stat.S_ISLNK(st.st_mode):
                    raise self.fault(StoreError(LINK))
                if stat.S_ISDIR(st.st_mode):
                    raise self.fault(StoreError(FOLDER))
                if not stat.S_ISREG(st.st_mode):
                    raise self.fault(damaged("it is not a regular file"))
            if st is None or st.st_size == 0:
                self._create(st is None)
            self._validate()
            st = self._lstat()
            self._checked = (st.st_dev, st.st_ino) if st else None

    def _create(self, missing: bool) -> None:
        if missing:
            if self._checked is not None:
                log.warning("the drawings database %s was gone: starting a new, empty one", self.path)
            self._set_aside_orphans()
            try:  # the whole runs folder may have gone too; O_EXCL | O_NOFOLLOW: never through a link
                self.folder.mkdir(parents=True, exist_ok=True)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
            except FileExistsError:
                pass  # another session made it at the same moment: checked below like any file
            except OSError as exc:
                raise self.fault(exc) from None
        with self.connect(check=False) as conn, write(conn):
            for statement in SCHEMA:
                conn.execute(statement)
            conn.executemany(  # OR IGNORE: a racing creator writes the same rows
                "INSERT OR IGNORE INTO meta VALUES (?, ?)", [("format", FORMAT), ("version", str(VERSION))]
            )

    def _set_aside_orphans(self) -> None:
        """A write-ahead log left without its database (the file moved away, not its -wal, while a connection
        had commits in it) would be discarded by the new one: it is renamed aside, kept for the operator."""
        wal, shm = Path(f"{self.path}-wal"), Path(f"{self.path}-shm")
        try:
            if wal.is_file() and not wal.is_symlink() and wal.stat().st_size:
                wal.replace(f"{wal}.orphaned-{int(time.time())}")
                log.warning("set aside %s, left without its database", wal)
            if shm.is_file() and not shm.is_symlink():
                shm.unlink()
        except OSError as exc:
            log.warning("could not set aside %s: %s", wal, exc)

    def _validate(self) -> None:
        """Read the meta table read-only (a file that is not ours must not change by being looked at), then
        migrate an older version in place."""
        try:
            conn = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=30)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise self.fault(exc) from None
        if meta.get("format") != FORMAT:
            raise self.fault(damaged("it is not an MNIST Lab drawings database"))
        version = str(meta.get("version"))
        if version == str(VERSION):
            return
        if version not in {str(v) for v in MIGRATE}:
            raise self.fault(
                StoreError(
                    f"{WHAT} has schema version {str(meta.get('version'))[:20]!r}; this app reads {VERSION} "
                    "and older: update the app (the file was left as it is)"
                )
            )
        self._migrate()

    def _migrate(self) -> None:
        with self.connect(check=False) as conn, write(conn):
            found = int(conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])
            for v in range(found, VERSION):  # another process may have migrated it meanwhile: then none
                for statement in MIGRATE[v]:
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(VERSION),))
        if found < VERSION:
            log.warning("the drawings database %s was migrated to schema version %s", self.path, VERSION)

    # -- connections ------------------------------------------------------------------------
    @contextmanager
    def connect(self, check: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection of its own (autocommit: `write(conn)` makes a transaction); every sqlite3 or OS
        error inside is raised as StoreError naming the problem."""
        for attempt in range(2):
            if check:
                self.ensure()
            try:
                conn = sqlite3.connect(f"{self.path.as_uri()}?mode=rw", uri=True, timeout=30, isolation_level=None)
                break
            except sqlite3.Error as exc:
                if attempt or not check or self._lstat() is not None:
                    raise self.fault(exc) from None  # gone between the look and the open: once more
        try:
            for pragma in PRAGMAS:
                conn.execute(pragma)
            yield conn
        except (sqlite3.Error, OSError) as exc:
            raise self.fault(exc) from None
        finally:
            conn.close()

    def fault(self, exc: BaseException) -> StoreError:
        """`exc` as a StoreError naming the problem; the path and the raw error go to the log."""
        out = exc if isinstance(exc, StoreError) else self._diagnose(exc)
        log.warning("drawings database %s: %s (%s)", self.path, out, exc)
        return out

    def _diagnose(self, exc: BaseException) -> StoreError:
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        num = getattr(exc, "errno", None)
        text = str(exc).lower()
        try:
            st = os.lstat(self.path)
        except OSError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            return StoreError(LINK)
        if st is not None and stat.S_ISDIR(st.st_mode):
            return StoreError(FOLDER)
        if code == _FULL or num in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text:
            return StoreError(FULL)
        if code == _READONLY or num in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text:
            return StoreError(READ_ONLY)
        if code in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text:
            return damaged("SQLite reads it as damaged" if code == _CORRUPT or "malformed" in text else "not SQLite")
        writable = os.access(self.folder, os.W_OK) and (st is None or os.access(self.path, os.W_OK))
        if code == _CANTOPEN and not writable:
            return StoreError(READ_ONLY)
        if "no such table" in text or "no such column" in text:
            return damaged("its tables are not this lab's")
        if code in (_BUSY, _LOCKED):
            return StoreError(BUSY)
        name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        return StoreError(f"{WHAT} could not be used ({name}); nothing was changed: the server's log says more")


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken at once (BEGIN IMMEDIATE: what it reads stays true until it commits)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
