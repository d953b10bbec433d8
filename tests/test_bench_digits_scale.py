"""bench/digits_scale.py runs and prints its figures (small sizes, the page's script only: the browser part
is the bench's own business on idle cores)."""

from __future__ import annotations

import pytest
from helpers import run_bench

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_the_digits_scale_bench_prints_both_sizes_and_its_verdict(runs_dir):
    code, out, err = run_bench("digits_scale.py", "--small", "5", "--large", "2000", "--repeats", "1", "--no-browser")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].startswith("small       5 drawings: script first") and "browser not measured" in lines[0]
    assert lines[1].startswith("large   2,000 drawings: script first")
    assert lines[2].startswith("large / small: script ") and lines[2].endswith("PASS (target < 3 s)")
