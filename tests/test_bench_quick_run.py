"""bench/quick_run.py runs the Train page's quick first run through the app's runner and prints what the
README quotes (here on the test-made small data set: only that every part runs and is read right)."""

from __future__ import annotations

import json
import re

from helpers import run_bench


def test_quick_run_prints_each_run_the_median_and_the_machine(small_data_dir, tmp_path):
    out = tmp_path / "rows.json"
    code, stdout, err = run_bench(
        "quick_run.py", "--data-dir", str(small_data_dir), "--arch", "softmax", "--seeds", "0", "--json", str(out)
    )
    assert code == 0, err
    (row,) = json.loads(out.read_text())
    assert row["status"] == "finished" and 0 <= row["test_accuracy"] <= 1
    assert 0 < row["first_point_s"] <= row["total_s"]
    assert re.search(r"^seed 0: finished, first curve point after [\d.]+ s, [\d.]+ s from Start", stdout, re.M)
    assert f"test accuracy {row['test_accuracy']:.2%}" in stdout
    assert re.search(r"^median of 1: first curve point [\d.]+ s", stdout, re.M), stdout
    assert re.search(r"^machine: \d+ cores, torch threads \d+, 1-minute load", stdout, re.M), stdout
