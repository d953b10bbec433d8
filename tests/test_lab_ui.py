"""The pages' shared helpers (lab_ui) that need no page to test."""

import os
import subprocess
import sys

import pytest
from helpers import ROOT

import lab_ui


def test_smooth_is_a_debiased_moving_average():
    assert lab_ui.smooth([]) == []
    assert lab_ui.smooth([3.0] * 20) == pytest.approx([3.0] * 20)
    out = lab_ui.smooth([0.0] * 10 + [1.0] * 10, weight=0.5)
    assert out[0] == 0.0 and out[10] == pytest.approx(0.5, abs=0.01) and 0.99 < out[-1] < 1.0


def test_importing_lab_ui_changes_nothing_and_startup_sets_the_process_once():
    """The process-wide settings are app.py's to make, once (lab_ui.startup), never an import's side effect."""
    code = (
        "import torch; torch.set_num_threads(2)\n"
        "import lab_ui\n"
        "assert torch.get_num_threads() == 2, 'importing lab_ui changed the thread count'\n"
        "import gc; assert gc.get_freeze_count() == 0\n"
        "lab_ui.startup(); assert torch.get_num_threads() == 1\n"
        "assert gc.get_freeze_count() > 10000, 'start-up objects left to every collection'\n"
        "torch.set_num_threads(2); lab_ui.startup(); assert torch.get_num_threads() == 2, 'startup ran twice'\n"
    )
    env = {**os.environ, "MNIST_LAB_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_servers_first_page_does_not_import_torchvision():
    """torchvision (seconds to import) is loaded by the first dataset read, not by the pages' shared code:
    a fresh server's first Draw or Compare visit does not pay for it."""
    code = "import sys, lab_ui\nassert 'torchvision' not in sys.modules, 'imported by lab_ui'\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
