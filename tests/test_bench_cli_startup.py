"""bench/cli_startup.py runs and prints each row docs/benchmarks.md quotes (its figures are timings of
this machine; here only that every part runs)."""

from __future__ import annotations

import re

from helpers import run_bench


def test_cli_startup_prints_each_row_and_its_ratio():
    code, stdout, err = run_bench("cli_startup.py", "--repeats", "1")
    assert code == 0, err
    for name in ("bare", "--help", "typo", "archs"):
        assert re.search(rf"^{re.escape(name)}\s+\d+\s+\d+\s+\d+\s+[\d.]+\s+\d+\s+[\d.]+$", stdout, re.M), stdout
    assert "load before" in stdout and "target: --help within 1.5x of bare" in stdout
