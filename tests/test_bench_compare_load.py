"""bench/compare_load.py runs and prints its figures: one model, without MNIST (its own browser run is the
bench's business on idle cores; here, the lines it prints and what a fresh clone measures)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re

import pytest
from helpers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def bench():
    spec = importlib.util.spec_from_file_location("bench_compare_load", ROOT / "bench" / "compare_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compare_load_bench_prints_each_visit_and_its_verdict(browser):
    if not (ROOT / "models" / "softmax.pt").is_file():
        pytest.skip("no shipped models")
    module = bench()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ok = module.run(browser, module.parse(["--archs", "softmax", "--without-mnist-only", "--timeout", "600"]))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("load average (1 min) ") and lines[0].endswith("models: softmax")
    visits = [("cold", 1, 10), ("warm, again", 0, 3), ("cold, restart", 0, 10)]
    assert len(lines) == 2 + len(visits), lines
    for line, (name, timed, target) in zip(lines[1:], visits, strict=False):
        # a fresh clone measures no shipped model (its figures are kept beside it): it times its latency
        pattern = (
            rf"without MNIST +{re.escape(name)} +table +[\d.]+ s \(script done +[\d.]+ s\); of 1 models "
            rf"0 measured, {timed} timed: (PASS|FAIL) \(target < {target} s\)"
        )
        assert re.fullmatch(pattern, line), line
    assert lines[-1].endswith(": PASS" if ok else ": FAIL")
