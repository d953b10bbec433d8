"""bench/not_a_digit_items.py lists every item of the kinds asked for, with how often it is let through and as
which digit; a model with no "not a digit" output gets a clear error."""

from __future__ import annotations

import re

from helpers import run_bench

from mnist_core import negatives_glyphs, negatives_shapes


def test_every_item_of_each_kind_is_listed_with_its_share_and_digit():
    code, out, err = run_bench(
        "not_a_digit_items.py", "--renders", "2", "--kind", "doodles", "--kind", "signs", "--at-least", "0"
    )
    assert code == 0, err
    n_signs, n_doodles = len(negatives_glyphs.pool("signs")), len(negatives_shapes.DOODLES)
    assert re.search(rf"^signs: {n_signs} items, [\d.]+% of their drawings let through$", out, re.M), out
    assert re.search(rf"^doodles: {n_doodles} items, [\d.]+% of their drawings let through$", out, re.M), out
    rows = re.findall(r"^  (.+?)\s+(\d+)%  read as (-?\d)$", out, re.M)
    assert len(rows) == n_signs + n_doodles, out
    assert {name for name, _, _ in rows} >= set(negatives_shapes.DOODLES)
    for _, share, digit in rows:  # two drawings: 0, 50 or 100%; let through in none, read as no digit (-1)
        assert share in ("0", "50", "100")
        assert (share == "0") == (digit == "-1")


def test_a_model_without_the_output_is_told_so():
    code, out, err = run_bench("not_a_digit_items.py", "--model", "lenet", "--renders", "1")
    assert code == 2
    assert "has no 'not a digit' output" in err
