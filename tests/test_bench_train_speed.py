"""bench/train_speed.py runs end to end on the small data the tests write (its figures come from the
real MNIST; here only that every part runs and prints what docs/benchmarks.md quotes)."""

from __future__ import annotations

import re

from helpers import run_bench


def test_train_speed_prints_each_figure(small_data_dir):
    code, stdout, err = run_bench("train_speed.py", "--data-dir", str(small_data_dir))
    assert code == 0, err
    for name in ("reference", "engine", "floor"):
        m = re.search(rf"^  {name} \(.*?\):\s+([\d.]+) s  test accuracy ([\d.]+)%$", stdout, re.M)
        assert m, f"no {name} line in:\n{stdout}"
        assert float(m.group(1)) > 0 and 0 <= float(m.group(2)) <= 100
    assert re.search(r"^  reference / floor: [\d.]+x, .*; engine / floor: [\d.]+$", stdout, re.M), stdout
    assert "reference / engine:" in stdout and "ratio:" in stdout


def test_train_speed_without_data_says_where_it_looked(tmp_path):
    code, _, err = run_bench("train_speed.py", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2
    assert err.startswith("error: ") and str(tmp_path / "nowhere") in err
    assert "Traceback" not in err
