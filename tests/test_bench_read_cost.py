"""bench/read_cost.py runs and prints each round and the ratio (its figures are timings of this machine;
here only that every part runs, on the shipped cnn against itself)."""

from __future__ import annotations

import re

from helpers import run_bench


def test_read_cost_prints_each_round_and_the_ratio():
    code, stdout, err = run_bench("read_cost.py", "--before", "models/cnn.pt", "--drawings", "5", "--rounds", "2")
    assert code == 0, err
    rounds = re.findall(
        r"^round \d: before [\d.]+ ms \((10|11) outputs\), after [\d.]+ ms \((10|11) outputs\)", stdout, re.M
    )
    assert len(rounds) == 2, stdout
    assert re.search(r"after against before: [\d.]+x \(target <= 1.3x\)$", stdout, re.M), stdout
