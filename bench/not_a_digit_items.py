"""Which non-digits a model takes for digits: each glyph and doodle of the held-out kinds drawn several
times, as `bench/not_a_digit.py` draws them (the hand's jitter, then the canvas's brush, size and place),
and read as the app reads a drawing (the model's views and its own threshold).

    python bench/not_a_digit_items.py [--model cnn] [--renders 12] [--at-least 0.25] [--kind signs ...]
                                      [--seed 0]

Prints, per kind, its items (a font's glyph, or a doodle), how many there are and the share of all their
drawings let through, then every item let through in at least `--at-least` of its drawings, with the
digit it is read as. Where `bench/not_a_digit.py` gives one figure per kind, this says what the figure is
made of: an item let through in every drawing is one the model reads as a digit, whatever the threshold.
Off-the-edge drawings have no items (each is a different piece of a letter, shape or scribble): use
`bench/not_a_digit.py` for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import mnist_core  # noqa: E402
from mnist_core import negatives, pen, pen_styles  # noqa: E402
from mnist_core import negatives_glyphs as glyphs  # noqa: E402
from mnist_core import negatives_shapes as shapes  # noqa: E402
from mnist_core.preprocess import preprocess  # noqa: E402

GLYPH_KINDS = ("unseen_letters", "unseen_fonts", "scripts", "signs")
KINDS = (*GLYPH_KINDS, "doodles")


def items(kind: str) -> list[tuple[str, object]]:
    """(name, strokes maker taking a generator) for each item of a held-out kind."""
    if kind == "doodles":
        return list(shapes.DOODLES.items())
    return [(f"{font} {char!r}", lambda rng, f=font, c=char: glyphs.glyph(f, c)) for font, char in glyphs.pool(kind)]


def drawings(make, renders: int, seed: int) -> np.ndarray:
    """`renders` drawings of one item as the model reads them (28x28), each jittered and placed anew."""
    out = []
    for r in range(renders):
        rng = np.random.default_rng([seed, r])
        strokes = pen_styles.jitter(make(rng), rng)
        x = preprocess(pen.render(negatives.drawing(strokes), rng))
        if x is not None:
            out.append(x)
    return np.stack(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cnn", help="model name or checkpoint (default: the shipped cnn)")
    ap.add_argument("--renders", type=int, default=12, help="drawings of each item")
    ap.add_argument("--at-least", type=float, default=0.25, help="list the items let through this often")
    ap.add_argument("--kind", action="append", choices=KINDS, help="only these kinds (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    predictor = mnist_core.load_model(args.model)
    if not predictor.has_detector:
        print(f"error: {args.model} has no 'not a digit' output", file=sys.stderr)
        return 2
    threshold = predictor.reading["threshold"]
    print(f"model {args.model}: threshold {threshold:.3f}, {args.renders} drawings of each item")
    for kind in args.kind or KINDS:
        rows = []
        for name, make in items(kind):
            probs, score = predictor.scores_batch(drawings(make, args.renders, args.seed))
            through = score >= threshold
            read_as = np.bincount(probs.argmax(1)[through], minlength=10).argmax() if through.any() else -1
            rows.append((float(through.mean()), name, int(read_as)))
        share = np.mean([r[0] for r in rows])
        print(f"\n{kind}: {len(rows)} items, {100 * share:.1f}% of their drawings let through")
        for frac, name, digit in sorted(rows, reverse=True):
            if frac >= args.at_least:
                print(f"  {name:<22} {100 * frac:5.0f}%  read as {digit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
