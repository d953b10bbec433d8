"""The pages' shared helpers (lab_ui) that need no page to test."""

import pytest

import lab_ui


def test_smooth_is_a_debiased_moving_average():
    assert lab_ui.smooth([]) == []
    assert lab_ui.smooth([3.0] * 20) == pytest.approx([3.0] * 20)
    out = lab_ui.smooth([0.0] * 10 + [1.0] * 10, weight=0.5)
    assert out[0] == 0.0 and out[10] == pytest.approx(0.5, abs=0.01) and 0.99 < out[-1] < 1.0
