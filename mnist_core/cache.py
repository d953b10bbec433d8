"""The measurements' disk cache: what Compare measures per checkpoint, kept between sessions and restarts.

An entry is keyed by the checkpoint's *content* (a hash of the file's bytes), the cache version and
whatever else the measurement read (for an evaluation, the test files), never by the file's path. So a
renamed run keeps its measurements with nothing to move, a changed file is measured again, and a deleted
run's entries are simply never asked for again: entries not read for MAX_AGE_DAYS go, and the folder keeps
at most KEEP of them (the least recently read go first).

Entries are written atomically (files.write_atomic). A cache that cannot be read or written (a read-only
disk, a file where the folder should be) only costs recomputation: nothing here raises OSError except
content_key, whose file is the one being measured, and write_kept.

A shipped checkpoint's measurements are also kept beside it, in the repository (write_kept:
models/cnn.measurements.json), with the content key and CACHE_VERSION they were made for: a fresh clone,
with an empty cache folder, reads them instead of measuring (read_kept), and a changed checkpoint, or a new
version, finds them not its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

from . import data, settings
from .files import write_atomic

CACHE_VERSION = 7  # bump when what is stored changes: old entries are then never read, and pruned in time
# (2: real handwriting, 3: the machine's load when training ended and the run's settings, 4: preprocess reads
# a fat one-colour drawing on a transparent canvas, 5: keyed by the checkpoint's content, not its path)
KEEP = 1000  # entries kept at most: two per model (a summary and an evaluation), a few KB to 150 KB each
MAX_AGE_DAYS = 60  # an entry not read for this long goes (a deleted run's, an old version's)
TOUCH_AFTER_S = 24 * 3600  # a read marks an entry as used (its mtime) at most once a day: reads stay reads
KEPT_SUFFIX = ".measurements.json"  # beside a shipped checkpoint: models/cnn.pt -> models/cnn.measurements.json
_HASHED_KEEP = 4096  # content hashes remembered per process, by file identity (path, mtime, size, inode)
_hashed: dict[tuple, str] = {}
_hashed_lock = threading.Lock()


def folder(explicit: str | os.PathLike | None = None) -> Path:
    """`explicit`, else settings.cache_dir("compare")."""
    return Path(explicit) if explicit else settings.cache_dir("compare")


def digest(*parts) -> str:
    """A short hex name for a tuple of values (their str, joined)."""
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def content_key(path: str | os.PathLike) -> str:
    """The hash of a file's bytes (OSError if it cannot be read).

    Hashed once per process for each identity of the file (resolved path, mtime, size, inode): every
    writer here replaces a file with a new one (files.atomic_path), so new bytes come with a new identity,
    and a page that lists the same checkpoints on every rerun reads each of them once."""
    p = Path(path).resolve()
    st = p.stat()
    identity = (str(p), st.st_mtime_ns, st.st_size, st.st_ino)
    with _hashed_lock:
        known = _hashed.get(identity)
    if known is not None:
        return known
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    key = h.hexdigest()[:32]
    with _hashed_lock:
        while len(_hashed) >= _HASHED_KEEP:
            _hashed.pop(next(iter(_hashed)))
        _hashed[identity] = key
    return key


def test_files_key(dataset: str, data_root) -> str:
    """Identity of a dataset's test files: their folder, sizes and mtimes (OSError if they are missing)."""
    raw = data.raw_dir(dataset, data_root).resolve()
    parts = [raw]
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        st = (raw / name).stat()
        parts += [name, st.st_mtime_ns, st.st_size]
    return digest(*parts)


def entry(kind: str, ext: str, *key, cdir: str | os.PathLike | None = None) -> Path:
    """The file of one entry: "summary-<digest>.json" in the cache folder, the digest of the cache version,
    the kind and `key` (the checkpoint's content_key and whatever else the measurement depends on)."""
    return folder(cdir) / f"{kind}-{digest(CACHE_VERSION, kind, *key)}.{ext}"


def read(target: Path) -> bytes | None:
    """An entry's bytes, or None when it is not there (or cannot be read). A hit marks the entry as used."""
    try:
        payload = target.read_bytes()
    except OSError:
        return None
    try:
        if time.time() - target.stat().st_mtime > TOUCH_AFTER_S:
            os.utime(target)
    except OSError:
        pass
    return payload


def store(target: Path, payload: bytes) -> None:
    """Write an entry atomically, then prune the folder; an OSError only costs recomputation later."""
    try:
        write_atomic(target, payload)
    except OSError:
        return
    prune(target.parent)


def prune(
    cdir: str | os.PathLike | None = None, keep: int | None = None, max_age_days: float | None = None
) -> list[Path]:
    """Remove the entries not read for `max_age_days` (MAX_AGE_DAYS), then the least recently read beyond
    `keep` (KEEP).

    Every visible file of the folder is an entry (older versions' names included); hidden ones are writes
    in progress. Returns the files removed."""
    keep = KEEP if keep is None else keep
    max_age_days = MAX_AGE_DAYS if max_age_days is None else max_age_days
    try:
        files = []
        for p in folder(cdir).iterdir():
            if not p.name.startswith("."):
                try:
                    files.append((p.stat().st_mtime, p))
                except OSError:  # removed meanwhile by another process
                    pass
    except OSError:
        return []
    files.sort(reverse=True)  # most recently read first
    oldest = time.time() - max_age_days * 86400
    removed = [p for i, (mtime, p) in enumerate(files) if i >= keep or mtime < oldest]
    for p in removed:
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass
    return removed


def kept_path(checkpoint: str | os.PathLike) -> Path:
    """Where a checkpoint's measurements are kept beside it: models/cnn.pt -> models/cnn.measurements.json."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + KEPT_SUFFIX)


def read_kept(checkpoint: str | os.PathLike, key: str) -> dict | None:
    """The measurements kept beside `checkpoint`, if they were made for `key` (its content_key) and this
    CACHE_VERSION; None when there are none, they cannot be read, or they are another's."""
    try:
        doc = json.loads(kept_path(checkpoint).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or (doc.get("checkpoint"), doc.get("version")) != (key, CACHE_VERSION):
        return None
    return doc["summary"] if isinstance(doc.get("summary"), dict) else None


def write_kept(checkpoint: str | os.PathLike, key: str, summary: dict) -> Path:
    """Keep `summary` beside `checkpoint` for `key` (its content_key), atomically (OSError if it cannot be
    written); returns the file."""
    target = kept_path(checkpoint)
    doc = {"checkpoint": key, "version": CACHE_VERSION, "summary": summary}
    write_atomic(target, json.dumps(doc, sort_keys=True) + "\n")
    return target
