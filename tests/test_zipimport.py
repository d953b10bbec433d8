"""Import ZIPs that lie: a directory of 20,000 records naming one entry, or pointing at one compressed stream,
each claiming a small size; entries that inflate past what their record says; imports that would pass a
collection's cap, take too long, are stopped by their caller, or hold a blank image. Each is refused fast,
cheaply, and adds nothing."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_core import drawings, owners, zipimport
from mnist_core.drawings import DrawingStore, StoreError

ME = "visitor A's token"
ROOT = Path(__file__).resolve().parent.parent


def png28(ink: bool = True) -> bytes:
    a = np.zeros((28, 28), np.uint8)
    if ink:
        a[6:22, 12:16] = 255  # a "1"
    buf = io.BytesIO()
    Image.fromarray(a, "L").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def padded_png_stream(mb: int) -> tuple[bytes, int, int]:
    """(raw deflate stream, CRC, size) of a 28x28 PNG followed by `mb` MiB of zeros: the stream inflates to
    `mb` MiB, while the CRC and size are the PNG's, which is what a lying record claims (Python's zipfile
    inflates the whole stream, keeps the claimed size, and finds the CRC right)."""
    png = png28()
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(2**20)
    stream = c.compress(png) + b"".join(c.compress(chunk) for _ in range(mb)) + c.flush()
    return stream, zlib.crc32(png), len(png)


def local_header(name: bytes, stream: bytes, crc: int, size: int) -> bytes:
    return struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), size, len(name), 0) + name


def central_record(name: bytes, stream_len: int, crc: int, size: int, offset: int) -> bytes:
    fields = (b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, stream_len, size, len(name), 0, 0, 0, 0, 0, offset)
    return struct.pack("<4s6H3L5H2L", *fields) + name


def end_record(records: int, directory: bytes, start: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, records, records, len(directory), start, 0)


def lying_zip(records: int = 20_000, distinct: bool = False, mb: int = 200) -> bytes:
    """One local entry `0/a.png` whose stream inflates to `mb` MiB (a PNG, then zeros), and `records`
    central-directory records all pointing at it (named `0/a.png` each, or `0/a00001.png` ... when
    `distinct`), each claiming the PNG's size and CRC."""
    stream, crc, size = padded_png_stream(mb)
    local = local_header(b"0/a.png", stream, crc, size)
    directory = b"".join(
        central_record(f"0/a{k:05d}.png".encode() if distinct else b"0/a.png", len(stream), crc, size, 0)
        for k in range(records)
    )
    return local + stream + directory + end_record(records, directory, len(local) + len(stream))


PEAK = r"""
import json, sys, time
from mnist_core import drawings

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

store = drawings.DrawingStore(sys.argv[1])
content = open(sys.argv[2], "rb").read()
before = peak()
t0 = time.perf_counter()
try:
    store.import_zip("mine", content)
    error = None
except drawings.StoreError as exc:
    error = str(exc)
print(json.dumps({"seconds": time.perf_counter() - t0, "extra_mb": (peak() - before) / 2**20, "error": error,
                  "collections": store.collections()}))
"""


@pytest.mark.parametrize("distinct", [False, True], ids=["one-name", "distinct-names"])
def test_a_lying_zip_is_refused_within_a_second_and_50_mb(tmp_path, distinct):
    """20,000 records over one stream that inflates to 200 MiB, each claiming 100 bytes (1.3 MB in all):
    refused from the directory (a name twice, or entries sharing their data) before anything is inflated.
    Measured in a fresh process (its own peak memory, VmHWM); the app as it was spends ~1.5 s of CPU and
    +400 MB per record, hours for the file, so the subprocess's timeout fails it."""
    content = lying_zip(distinct=distinct)
    assert len(content) < 1.5 * 2**20
    path = tmp_path / "lying.zip"
    path.write_bytes(content)
    out = subprocess.run(
        [sys.executable, "-c", PEAK, str(tmp_path / "runs"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["error"] and ("twice" in result["error"] if not distinct else "shares its data" in result["error"])
    assert result["seconds"] < 1.0 and result["extra_mb"] < 50, result
    assert result["collections"] == {}


def overlapping_zip() -> bytes:
    """Two entries at different offsets, the first's data holding the second (local header and all)."""
    png = png28()
    stream = zlib.compress(png, 9)[2:-4]  # raw deflate
    inner = local_header(b"0/b.png", stream, zlib.crc32(png), len(png)) + stream
    outer = local_header(b"0/a.png", inner, zlib.crc32(png), len(png))
    directory = central_record(b"0/a.png", len(inner), zlib.crc32(png), len(png), 0) + central_record(
        b"0/b.png", len(stream), zlib.crc32(png), len(png), len(outer)
    )
    return outer + inner + directory + end_record(2, directory, len(outer) + len(inner))


def zip_of(entries: dict, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, content in entries.items():
            z.writestr(name, content)
    return buf.getvalue()


@pytest.fixture
def store(runs_dir) -> DrawingStore:
    return DrawingStore()


def test_entries_that_inflate_past_their_record_are_cut_off_at_its_size(store):
    """Honest offsets, no overlap, but each record claims the size of a PNG at the front of a stream that
    inflates to 50 MiB: the first is cut off one byte past its claimed size, never inflated to 50 MiB (the
    app as it was inflated each whole stream, 30 x 50 MiB)."""
    stream, crc, size = padded_png_stream(50)
    parts, central, offset = [], [], 0
    for k in range(30):
        name = f"0/a{k:02d}.png".encode()
        parts.append(local_header(name, stream, crc, size) + stream)
        central.append(central_record(name, len(stream), crc, size, offset))
        offset += len(parts[-1])
    directory = b"".join(central)
    content = b"".join(parts) + directory + end_record(30, directory, offset)
    inflated = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args):
            self.inner = real(*args)

        def decompress(self, data, max_length=0):
            out = self.inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self.inner, name)

    zipimport.zlib.decompressobj = Counting
    try:
        t0 = time.perf_counter()
        with pytest.raises(StoreError, match=rf"'0/a00.png' inflates to more than the {size} bytes its record says"):
            store.import_zip("mine", content, by=ME)
        assert time.perf_counter() - t0 < 1.0
    finally:
        zipimport.zlib.decompressobj = real
    assert inflated == [size + 1] and store.collections() == {}


@pytest.mark.parametrize(
    "content, message",
    [
        (zip_of({"0/a.png": png28(), "0/A.png": png28()}), "in the ZIP twice"),
        (overlapping_zip(), "'0/b.png' overlaps '0/a.png'"),
        (zip_of({"0/a.png": png28(), "raw/../0/a.png": png28()}), "expected DIGIT/NAME.png"),
        (zip_of({"0/a.png": b"x" * 1000}, zipfile.ZIP_STORED)[:-200] + b"\x00" * 200, "not a ZIP"),
    ],
    ids=["same-name-twice", "overlap", "dot-dot", "cut-short"],
)
def test_a_damaged_or_crafted_directory_adds_nothing(store, content, message):
    with pytest.raises(StoreError, match=message):
        store.import_zip("mine", content, by=ME)
    assert store.collections() == {}


def test_a_wrong_checksum_or_a_short_stream_is_damaged(store):
    content = bytearray(zip_of({"0/a.png": png28()}, zipfile.ZIP_STORED))
    content[40] ^= 0xFF  # a byte of the PNG itself: the stored CRC no longer matches
    with pytest.raises(StoreError, match="'0/a.png': damaged"):
        store.import_zip("mine", bytes(content), by=ME)
    assert store.collections() == {}


def test_an_entry_name_is_shown_as_plain_characters(store):
    content = zip_of({"![x](https:__evil.example_a.png)/3/a.png": png28(), "0/b.png": b"not a png"})
    with pytest.raises(StoreError) as err:
        store.import_zip("mine", content, by=ME)
    assert "expected DIGIT/NAME.png" in str(err.value) or "not an image" in str(err.value)
    assert "](" not in str(err.value) and "!" not in str(err.value)


def test_progress_is_reported_between_entries_and_raising_there_stops_the_import(store):
    content = zip_of({f"{d}/{k}.png": png28() for d in range(3) for k in range(4)})
    seen = []
    assert store.import_zip("mine", content, by=ME, progress=lambda done, total: seen.append((done, total))) == 12
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)

    class Closed(Exception):
        pass

    def closed_tab(done, total):
        if done >= 1:
            raise Closed  # a Streamlit StopException, a Cancel: anything the caller raises goes up as it is

    zipimport_every = zipimport.PROGRESS_EVERY_S
    zipimport.PROGRESS_EVERY_S = 0.0
    try:
        with pytest.raises(Closed):
            store.import_zip("other", content, by=ME, progress=closed_tab)
    finally:
        zipimport.PROGRESS_EVERY_S = zipimport_every
    assert store.collections() == {"mine": 12}


def test_an_import_past_its_time_is_stopped_and_adds_nothing(store, monkeypatch):
    monkeypatch.setattr(zipimport, "IMPORT_MAX_CPU_S", 0.0)
    content = zip_of({f"1/{k}.png": png28() for k in range(5)})
    with pytest.raises(StoreError, match="took too long"):
        store.import_zip("mine", content, by=ME)
    assert store.collections() == {}


def test_a_blank_image_is_refused_as_draw_refuses_it_naming_the_entry(store):
    """A 28x28 all-black PNG (and an all-white canvas, which Draw's preprocessing reads as blank)."""
    black = png28(ink=False)
    with pytest.raises(StoreError, match=r"'0/black.png': a blank image"):
        store.import_zip("mine", zip_of({"1/ok.png": png28(), "0/black.png": black}), by=ME)
    faint = np.zeros((28, 28), np.uint8)
    faint[14, 14] = drawings.MIN_INK - 1  # one faint pixel: under MIN_INK, as Draw's blank canvas
    buf = io.BytesIO()
    Image.fromarray(faint, "L").save(buf, "PNG")
    faint = buf.getvalue()
    with pytest.raises(StoreError, match=r"'2/faint.png': a blank image"):
        store.import_zip("mine", zip_of({"2/faint.png": faint}), by=ME)
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(buf, "PNG")
    with pytest.raises(StoreError, match=r"'3/canvas.png': a blank image"):
        store.import_zip("mine", zip_of({"3/canvas.png": buf.getvalue()}), by=ME)
    assert store.collections() == {}


def test_an_import_that_would_pass_the_cap_says_how_many_fit(store, monkeypatch):
    monkeypatch.setattr(drawings, "COLLECTION_MAX", 10)
    content = zip_of({f"1/{k}.png": png28() for k in range(4)})
    for _ in range(2):
        assert store.import_zip("mine", content, by=ME) == 4
    with pytest.raises(StoreError, match=r"4 drawings in the ZIP, but 'mine' has room for 2 more .*at most 10"):
        store.import_zip("mine", content, by=ME)
    assert store.counts("mine")[1] == 8
    store.import_zip("mine", zip_of({"1/a.png": png28(), "1/b.png": png28()}), by=ME)
    with pytest.raises(StoreError, match=r"'mine' is full \(10 drawings; a collection holds at most 10\)"):
        store.import_zip("mine", content, by=ME)
    assert store.collections() == {"mine": 10}


def test_an_import_records_who_made_the_collection(store):
    store.import_zip("theirs", zip_of({"1/a.png": png28()}), by=ME)
    (info,) = store.collections_info()
    assert info.owner == owners.key(ME) and store.drawings("theirs")[0].owner == owners.key(ME)
    assert store.may_change("theirs", ME) and not store.may_change("theirs", "visitor B")
