"""bench/soak.py runs end to end, briefly (3 visitors for about 40 s, on the tests' small data set: a checkpoint
to upload and runs that finish), passes, and prints each figure docs/benchmarks.md quotes. Its figures come
from the full soak (30 visitors, 5 minutes); here only that every part runs and nothing is lost."""

from __future__ import annotations

import re
import shutil

import pytest
from helpers import run_bench

pytestmark = pytest.mark.browser


def test_a_short_soak_passes_and_prints_its_figures(small_data_dir):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    args = ("--visitors", "3", "--seconds", "40", "--workers", "2", "--drain", "180", "--timeout", "120")
    code, out, err = run_bench("soak.py", *args, "--data-dir", str(small_data_dir), "--chromium", chromium)
    assert code == 0, f"{out}\n{err}"
    assert out.rstrip().splitlines()[-1].startswith("PASS"), out
    assert re.search(r"^actions done: open \d+, draw \d+, import \d+, upload \d+, train \d+, delete \d+", out, re.M)
    overall = re.search(r"^  overall\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    assert overall and int(overall.group(1)) > 0 and float(overall.group(2)) <= float(overall.group(3)), out
    memory = re.search(r"^server memory: start (\d+) MB, peak (\d+) MB, end (\d+) MB$", out, re.M)
    assert memory and int(memory.group(1)) <= int(memory.group(2)) >= int(memory.group(3)) > 0, out
    assert re.search(r"^server CPU: [\d.]+ s over \d+ s \(mean \d+% of one core\)$", out, re.M), out
    kept = re.search(r"^drawings kept vs found: (\d+) expected .*, (\d+) found$", out, re.M)
    assert kept and kept.group(1) == kept.group(2), out
    assert re.search(r"^runs queued vs ended: \d+ queued .*; 0 left queued or running after", out, re.M), out
    assert "page errors: 0" in out and "failed actions: 0" in out
