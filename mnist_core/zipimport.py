"""Reading an import ZIP safely: the drawings of `[NAME/]DIGIT/FILE.png` entries, or StoreError saying why not.

A ZIP's central directory may lie: many records with one name, or pointing at one compressed stream, each
claiming a small size (Python's zipfile lists such a file as it claims, and would inflate it so). Nothing it
claims is trusted: zipfile's listing is checked before anything is inflated: at most IMPORT_MAX_FILES
entries, names of the expected form and each once, no two entries' local headers and data overlapping,
everything inside the file. Each entry is then inflated here (zlib, never the sizes the
directory states) with a hard cap on the bytes actually produced: an entry that inflates past the size its
record claims is refused at that size plus one byte, and its checksum must match. The whole read is bounded
in CPU time (time.thread_time) and wall time, and `progress(done, total)` is called between entries: if it
raises (a closed tab, a Cancel), the read stops there and the exception goes up.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .catalog import NOT_A_DIGIT
from .dbfile import StoreError

IMPORT_MAX_BYTES = 20 * 2**20
IMPORT_MAX_FILES = 20_000
IMPORT_MAX_INFLATED = 200 * 2**20  # the directory's claimed sizes, summed (the bytes inflated are at most these)
ENTRY_MAX_BYTES = 8 * 2**20  # one PNG file, inflated
IMPORT_MAX_SIDE = 1024
IMPORT_MAX_CPU_S = 30.0  # this thread's CPU time for the whole read
IMPORT_MAX_WALL_S = 90.0
PROGRESS_EVERY_S = 0.1  # progress is reported at most this often (and at the start and the end)
_ENTRY = re.compile(r"^(?:[^/]+/)?([0-9]|not_a_digit)/[\w.+-]{1,100}\.png$", re.IGNORECASE)
NOT_A_DIGIT_FOLDER = "not_a_digit"  # the folder of the drawings kept as "not a digit"
_LOCAL, _LOCAL_SIZE = b"PK\x03\x04", 30

Progress = Callable[[int, int], object]


class Entry(NamedTuple):
    """One record of a ZIP's central directory, as it claims."""

    name: str
    flags: int
    method: int
    crc: int
    packed: int  # compressed size
    size: int  # inflated size
    offset: int  # of its local header


def shown(name: str) -> str:
    """An entry's name as a message may show it: letters, digits and / . + - _ only, at most 80 characters."""
    text = re.sub(r"[^\w/.+-]", "?", name)
    return text if len(text) <= 80 else text[:77] + "..."


def read_import(
    content: bytes, *, room: int = IMPORT_MAX_FILES, no_room: str = "", progress: Progress | None = None
) -> list[tuple[str, int, np.ndarray]]:
    """(entry name as shown, digit, pixels) for each PNG of an import ZIP: a 28x28 image as uint8, a larger
    one made a model input as the Draw page would (float, 28x28). More than `room` drawings is refused
    before anything is inflated, with `no_room` (why) in the message."""
    if len(content) > IMPORT_MAX_BYTES:
        raise StoreError(
            f"the file is {len(content) / 2**20:.1f} MB; an import is at most {IMPORT_MAX_BYTES // 2**20} MB"
        )
    pngs = [(e, span) for e, span in check_directory(content) if e.name.lower().endswith(".png")]
    if not pngs:
        raise StoreError(
            "no drawings in the ZIP: expected PNG files in folders named by digit (0/ ... 9/, not_a_digit/)"
        )
    if len(pngs) > room:
        raise StoreError(f"{len(pngs):,} drawings in the ZIP, but {no_room or f'there is room for {room:,}'}")
    cpu0, wall0, said = time.thread_time(), time.monotonic(), -1.0
    items = []
    for k, (entry, span) in enumerate(pngs):
        if progress is not None and (k == 0 or time.monotonic() - said >= PROGRESS_EVERY_S):
            progress(k, len(pngs))
            said = time.monotonic()
        if time.thread_time() - cpu0 > IMPORT_MAX_CPU_S or time.monotonic() - wall0 > IMPORT_MAX_WALL_S:
            raise StoreError(
                f"reading the ZIP took too long ({k:,} of {len(pngs):,} drawings read in over "
                f"{IMPORT_MAX_CPU_S:.0f} s of the server's time); nothing was imported: import it in smaller parts"
            )
        name = shown(entry.name)
        items.append((name, label_of(_ENTRY.match(entry.name).group(1)), decode(name, inflate(content, entry, span))))
    if progress is not None:
        progress(len(pngs), len(pngs))
    return items


def folder_of(label: int) -> str:
    """The folder of an import or export ZIP holding a label's PNGs: the digit, or not_a_digit."""
    return NOT_A_DIGIT_FOLDER if label == NOT_A_DIGIT else str(label)


def label_of(folder: str) -> int:
    return NOT_A_DIGIT if folder.lower() == NOT_A_DIGIT_FOLDER else int(folder)


def check_directory(content: bytes) -> list[tuple[Entry, tuple[int, int]]]:
    """Each file entry and its compressed data's [start, end), after checking the whole central directory
    (as zipfile reads it, which trusts what each record claims) without inflating anything: at most
    IMPORT_MAX_FILES records, names (each once), methods, claimed sizes, and that no two entries (local header
    and data) overlap or reach past the file's end."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(content)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError):
        raise StoreError("not a ZIP file (or a damaged one)") from None
    if len(infos) > IMPORT_MAX_FILES:
        raise StoreError(f"{len(infos):,} files in the ZIP; at most {IMPORT_MAX_FILES:,}")
    names: set[str] = set()
    offsets: set[int] = set()
    spans, out, claimed = [], [], 0
    for info in infos:
        entry = Entry(
            info.filename, info.flag_bits, info.compress_type, info.CRC, info.compress_size, info.file_size,
            info.header_offset,
        )  # fmt: skip
        _check_entry(entry, names, offsets)
        claimed += entry.size
        span = _data_span(content, entry)
        spans.append((entry.offset, span[1], entry.name))
        if not entry.name.endswith("/"):
            out.append((entry, span))
    if claimed > IMPORT_MAX_INFLATED:
        raise StoreError(f"the ZIP would inflate to over {IMPORT_MAX_INFLATED // 2**20} MB")
    spans.sort()
    for (_, stop, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        if start < stop:
            raise StoreError(
                f"{shown(b)!r} overlaps {shown(a)!r} in the ZIP (entries sharing their data): a crafted file"
            )
    return out


def _check_entry(entry: Entry, names: set[str], offsets: set[int]) -> None:
    """One record on its own, and against the names and local headers seen before it."""
    name, folded = entry.name, entry.name.casefold()
    if folded in names:
        raise StoreError(f"{shown(name)!r} is in the ZIP twice: a damaged or crafted file")
    if entry.offset in offsets:
        raise StoreError(f"{shown(name)!r} shares its data with another entry in the ZIP: a crafted file")
    names.add(folded)
    offsets.add(entry.offset)
    png = folded.endswith(".png")
    if png and (not _ENTRY.match(name) or ".." in name or name.startswith("/")):
        raise StoreError(f"{shown(name)!r}: expected DIGIT/NAME.png or not_a_digit/NAME.png (in one folder or none)")
    if entry.flags & 0x1:
        raise StoreError(f"{shown(name)!r} is encrypted; an import holds plain PNG files")
    if entry.method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise StoreError(f"{shown(name)!r} is compressed in a way this lab does not read (use Deflate)")
    if png and entry.size > ENTRY_MAX_BYTES:
        raise StoreError(f"{shown(name)!r} would inflate to over {ENTRY_MAX_BYTES // 2**20} MB")


def _data_span(content: bytes, entry: Entry) -> tuple[int, int]:
    """[start, end) of an entry's compressed data, read from its local header; StoreError if it lies outside
    the file."""
    off = entry.offset
    if off < 0 or off + _LOCAL_SIZE > len(content) or content[off : off + 4] != _LOCAL:
        raise StoreError(f"{shown(entry.name)!r} points outside the ZIP's data: a damaged or crafted file")
    name_len, extra_len = struct.unpack_from("<HH", content, off + 26)
    start = off + _LOCAL_SIZE + name_len + extra_len
    if start + entry.packed > len(content):
        raise StoreError(f"{shown(entry.name)!r} points outside the ZIP's data: a damaged or crafted file")
    return start, start + entry.packed


def inflate(content: bytes, entry: Entry, span: tuple[int, int]) -> bytes:
    """An entry's bytes, inflated here with a hard cap: at most its claimed size plus one byte is ever made."""
    name, cap = shown(entry.name), entry.size
    raw = memoryview(content)[span[0] : span[1]]
    if entry.method == zipfile.ZIP_STORED:
        data = bytes(raw)
        complete = len(data) == cap
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            data = inflater.decompress(raw, cap + 1)
        except zlib.error:
            raise StoreError(f"{name!r}: its compressed data is damaged") from None
        if len(data) > cap:
            raise StoreError(f"{name!r} inflates to more than the {cap:,} bytes its record says: a crafted file")
        complete = inflater.eof and len(data) == cap
    if not complete or zlib.crc32(data) != entry.crc:
        raise StoreError(f"{name!r}: damaged (its size or checksum does not match the ZIP's directory)")
    return data


def decode(name: str, data: bytes) -> np.ndarray:
    """A PNG's pixels: 28x28 as uint8 (255 = ink), a larger image made a model input (float) as Draw does."""
    from PIL import Image

    from .preprocess import preprocess

    try:
        img = Image.open(io.BytesIO(data))
        if max(img.size) > IMPORT_MAX_SIDE:
            raise StoreError(f"{name!r}: {img.size[0]} x {img.size[1]} pixels, at most {IMPORT_MAX_SIDE}")
        pixels = np.asarray(img.convert("L"))
    except StoreError:
        raise
    except Exception as exc:  # PIL raises many kinds for a file that is not an image
        raise StoreError(f"{name!r}: not an image that can be read ({type(exc).__name__})") from None
    if pixels.shape == (28, 28):
        return pixels
    x = preprocess(pixels)
    if x is None:
        raise StoreError(f"{name!r}: a blank image; like the Draw page, an import keeps no blank drawings")
    return x
