"""bench/train_speed.py runs end to end on the small data the tests write (its figures come from the
real MNIST; here only that every part runs and prints what docs/benchmarks.md quotes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "train_speed.py"


def run_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=600)


def test_train_speed_prints_each_figure(small_data_dir):
    out = run_bench("--data-dir", str(small_data_dir))
    assert out.returncode == 0, out.stderr
    for name in ("reference", "engine", "floor"):
        m = re.search(rf"^  {name} \(.*?\):\s+([\d.]+) s  test accuracy ([\d.]+)%$", out.stdout, re.M)
        assert m, f"no {name} line in:\n{out.stdout}"
        assert float(m.group(1)) > 0 and 0 <= float(m.group(2)) <= 100
    assert re.search(r"^  reference / floor: [\d.]+x, .*; engine / floor: [\d.]+$", out.stdout, re.M), out.stdout
    assert "reference / engine:" in out.stdout and "ratio:" in out.stdout


def test_train_speed_without_data_says_where_it_looked(tmp_path):
    out = run_bench("--data-dir", str(tmp_path / "nowhere"))
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and str(tmp_path / "nowhere") in out.stderr
    assert "Traceback" not in out.stderr
