"""The project's own non-digits: letters, signs, shapes, scribbles and spoiled digits, drawn as the
Draw page's canvas holds a drawing, for teaching and measuring a model to answer "not a digit".

Every drawing is a list of pen strokes drawn by the same renderer as UNIPEN's digits (`pen.render`:
a round brush of the page's widths, any size and place, a transparent or a black background) after
the same hand's jitter (`pen_styles.jitter`), so a detector cannot tell a non-digit by how it is
drawn, only by what it is. Each kind is deterministic given a seed (item i of `make(kind, n, seed)`
is the same for any n).

The split. TRAIN_KINDS may be trained on; HELD_OUT_KINDS never are (`make` refuses to make them
for training), so a bench measures how refusing generalises, not what was learned:

- train: letters (28 Latin letters in 6 fonts), symbols (keyboard signs), shapes (star, heart,
  triangle, square, cross, arrow, circled, hash, dash), scribbles, crossed_out (a digit under hatching),
  two_digits (side by side), half_digit (the top or bottom of a digit, where that leaves no digit),
  turned (the letters and signs mirrored, upside down or turned), polygons (uneven triangles and pentagons),
  words (two or three training letters side by side), overlaid (two training letters, signs or shapes
  drawn over each other);
- held out: unseen_letters (7 letters in the training fonts), unseen_fonts (the training letters
  in 5 other fonts), scripts (Greek, Cyrillic, Japanese), signs (maths, pictograms, astrology,
  music), doodles (spiral, smiley, house, moon, flower, sun, wave, zigzag, diamond, cloud, check),
  off_edge (big letters, shapes and scribbles running off the canvas).

Which glyphs and shapes are left out as digit-like, and why: negatives_glyphs and negatives_shapes.
Whatever a kind draws, a drawing that is one thin stroke standing up or slanted (`is_stroke`: it reads
as a 1) is drawn again; one lying flat (`lies_flat`: a dash, a flat wave) is a non-digit. Digits in the
spoiled-digit kinds are UNIPEN's training writers' for split="train" and its benchmark writers' for
split="bench" (never trained on, as in `pen`).
"""

from __future__ import annotations

import zlib

import numpy as np

from . import negatives_glyphs as glyphs
from . import negatives_shapes as shapes
from . import pen, pen_styles
from .preprocess import preprocess

TRAIN_KINDS = (
    "letters",
    "symbols",
    "shapes",
    "scribbles",
    "crossed_out",
    "two_digits",
    "half_digit",
    "turned",
    "polygons",
    "words",
    "overlaid",
)
HELD_OUT_KINDS = ("unseen_letters", "unseen_fonts", "scripts", "signs", "doodles", "off_edge")
SPLITS = ("train", "bench")
DIGIT_KINDS = ("crossed_out", "two_digits", "half_digit")  # made from UNIPEN's digits
STROKE_LIKE = 0.25  # below this elongation a drawing is one thin stroke: a 1 standing, a dash lying
LYING = 30.0  # degrees from level: a thin stroke lying flatter is a dash, not a 1
TRIES = 50


def kinds(split: str | None = None) -> tuple[str, ...]:
    """The kinds' names: all (train kinds first), or those of "train" or "held_out"."""
    if split is None:
        return TRAIN_KINDS + HELD_OUT_KINDS
    if split not in ("train", "held_out"):
        raise ValueError(f"split is 'train' or 'held_out', not {split!r}")
    return TRAIN_KINDS if split == "train" else HELD_OUT_KINDS


def make(kind: str, n: int, seed: int = 0, split: str = "bench", root=None, canvas: bool = False) -> list[np.ndarray]:
    """n drawings of one kind: 28x28 float32 arrays in [0, 1] as the app's `preprocess` gives the
    model, or with canvas=True the (280, 280, 4) uint8 RGBA canvas images themselves.

    split="train" makes drawings for training (train kinds only: a held-out kind raises ValueError;
    digits from UNIPEN's training writers); "bench" makes them for measuring, from another random
    stream (and the benchmark writers' digits). `root`: the data folder holding UNIPEN (as `pen`)."""
    if kind not in kinds():
        raise ValueError(f"no kind {kind!r}; kinds: {', '.join(kinds())}")
    if split not in SPLITS:
        raise ValueError(f"split is 'train' or 'bench', not {split!r}")
    if split == "train" and kind in HELD_OUT_KINDS:
        raise ValueError(f"{kind} is held out of training: make it with split='bench'")
    code = zlib.crc32(kind.encode())
    return [
        _one(kind, np.random.default_rng([code, SPLITS.index(split), seed, i]), split, root, canvas) for i in range(n)
    ]


def _one(kind: str, rng: np.random.Generator, split: str, root, canvas: bool) -> np.ndarray:
    for _ in range(TRIES):
        if kind == "off_edge":
            rgba, visible = _off_edge(rng, split)
        else:
            visible = strokes(kind, rng, split, root)
            rgba = None if is_stroke(visible) else pen.render(drawing(visible), rng)
        if rgba is None or (kind == "off_edge" and is_stroke(visible)):  # nothing to see, or a 1
            continue
        if canvas:
            return rgba
        x = preprocess(rgba)
        if x is not None:
            return x
    raise RuntimeError(f"could not draw a {kind} in {TRIES} tries")


def drawing(strokes_) -> pen.PenDigit:
    """Strokes in the shape `pen.render` draws (it reads only the strokes)."""
    return pen.PenDigit(-1, "neg", "", tuple(np.asarray(s, np.float32) for s in strokes_))


def strokes(kind: str, rng: np.random.Generator, split: str = "bench", root=None) -> list[np.ndarray]:
    """One drawing of a kind as pen strokes (y down), jittered as a hand would draw it."""
    if kind in ("letters", "symbols", "unseen_letters", "unseen_fonts", "scripts", "signs"):
        pairs = glyphs.pool(kind)
        font, char = pairs[int(rng.integers(len(pairs)))]
        return pen_styles.jitter(glyphs.glyph(font, char), rng)
    if kind in ("shapes", "doodles"):
        table = shapes.SHAPES if kind == "shapes" else shapes.DOODLES
        maker = list(table.values())[int(rng.integers(len(table)))]
        return pen_styles.jitter(maker(rng), rng)
    if kind == "turned":
        triples = glyphs.turned_pool()
        font, char, turn = triples[int(rng.integers(len(triples)))]
        return pen_styles.jitter(glyphs.turned(font, char, turn), rng)
    if kind == "polygons":
        return pen_styles.jitter(shapes.polygon(rng), rng)
    if kind == "words":
        return _word(rng)
    if kind == "overlaid":
        return _overlaid(rng)
    if kind == "scribbles":
        return pen_styles.jitter(shapes.scribble(rng), rng)
    if kind in DIGIT_KINDS:
        return _spoiled(kind, rng, split, root)
    raise ValueError(f"no kind {kind!r}")


def _glyph_or_shape(rng, shapes_too: bool) -> list[np.ndarray]:
    """A training letter (or, with shapes_too, a keyboard sign or a shape), jittered, 1 unit tall."""
    pick = int(rng.integers(3 if shapes_too else 1))
    if pick == 2:
        maker = list(shapes.SHAPES.values())[int(rng.integers(len(shapes.SHAPES)))]
        return _unit(pen_styles.jitter(maker(rng), rng))
    pairs = glyphs.pool("letters" if pick == 0 else "symbols")
    font, char = pairs[int(rng.integers(len(pairs)))]
    return _unit(pen_styles.jitter(glyphs.glyph(font, char), rng))


def _word(rng) -> list[np.ndarray]:
    """2-3 letters side by side."""
    out: list[np.ndarray] = []
    for _ in range(int(rng.integers(2, 4))):
        g = _glyph_or_shape(rng, False)
        right = float(np.concatenate(out)[:, 0].max()) + rng.uniform(0.05, 0.3) if out else 0.0
        out += [p * rng.uniform(0.8, 1.1) + np.float32([right, rng.uniform(-0.1, 0.1)]) for p in g]
    return pen_styles.jitter(out, rng, amount=0.5)


def _overlaid(rng) -> list[np.ndarray]:
    """Two letters, signs or shapes over each other, the second moved by up to half a unit and scaled 0.6-1.2."""
    a, b = _glyph_or_shape(rng, True), _glyph_or_shape(rng, True)
    shift = rng.uniform(-0.5, 0.5, 2).astype(np.float32)
    return pen_styles.jitter(a + [p * rng.uniform(0.6, 1.2) + shift for p in b], rng, amount=0.5)


# --- spoiled digits ------------------------------------------------------------------------------


_split_of: dict[int, tuple] = {}  # id of pen.load's tuple -> (that tuple, training writers', benchmark writers')


def _digits(split: str, root) -> list[pen.PenDigit]:
    """UNIPEN's training writers' digits (split "train") or its benchmark writers' (pen.load's file,
    read once; split once per file read)."""
    every = pen.load(root)
    if id(every) not in _split_of:
        _split_of.clear()
        _split_of[id(every)] = (every, *pen.split(every))
    return _split_of[id(every)][1 if split == "train" else 2]


def _digit(rng, split, root) -> list[np.ndarray]:
    """A UNIPEN digit of the split's writers, jittered, 1 unit tall."""
    pool = _digits(split, root)
    d = pool[int(rng.integers(len(pool)))]
    return _unit(pen_styles.jitter(d.strokes, rng))


def _unit(strokes_) -> list[np.ndarray]:
    """Strokes moved and scaled to start at (0, 0) and be 1 unit tall."""
    pts = np.concatenate(strokes_)
    h = max(float(np.ptp(pts[:, 1])), 1e-6)
    return [(p - pts.min(0)) / h for p in strokes_]


def _spoiled(kind: str, rng, split, root) -> list[np.ndarray]:
    if kind == "two_digits":
        a, b = _digit(rng, split, root), _digit(rng, split, root)
        right = float(np.concatenate(a)[:, 0].max()) + rng.uniform(0.05, 0.35)
        b = [p * rng.uniform(0.85, 1.15) + np.float32([right, rng.uniform(-0.1, 0.1)]) for p in b]
        out = a + b
    elif kind == "crossed_out":
        d = _digit(rng, split, root)
        pts = np.concatenate(d)
        out = d + shapes.hatching(rng, pts.min(0), pts.max(0))
    else:
        out = _half(rng, split, root)
    return pen_styles.jitter(out, rng, amount=0.5)


# Half a digit: the top or the bottom part of a digit cut by a line within 25 degrees of the
# horizontal, keeping 40-65% of its height. Only the parts that leave no digit, judged on renders:
# the top of a 0 (an arch), 4, 5 or 6, the bottom of a 0 (a cup), 2 or 3. Cut upright, an 8 or a 3
# leaves a 3; the top of a 2 or a 3 is a 7 or a 2, of an 8 or a 9 a 0; the bottom of a 4 is a 4,
# of a 6 or an 8 a 0, of a 7 or a 9 a 1; any part of a 1 is a 1.
HALF_KEEPS = {"top": (0, 4, 5, 6), "bottom": (0, 2, 3)}


def _half(rng, split, root) -> list[np.ndarray]:
    side = ("top", "bottom")[int(rng.integers(2))]
    pool = _digits(split, root)
    while True:
        d = pool[int(rng.integers(len(pool)))]
        if d.label in HALF_KEEPS[side]:
            break
    s = resample(_unit(pen_styles.jitter(d.strokes, rng)))
    a = np.radians(90 + rng.uniform(-25, 25))  # the cut's normal: near the vertical (rows)
    normal = np.float32([np.cos(a), np.sin(a)])
    proj = np.concatenate(s) @ normal
    keep = rng.uniform(0.4, 0.65)
    if side == "top":  # y points down: the top has the small projections
        cut = proj.min() + keep * np.ptp(proj)
        return clip(s, lambda p: p @ normal <= cut)
    cut = proj.max() - keep * np.ptp(proj)
    return clip(s, lambda p: p @ normal >= cut)


# --- off the canvas's edge -----------------------------------------------------------------------


def _off_edge(rng, split) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """A big letter, shape or scribble, bigger than the canvas and placed so that it runs off one
    or more edges: (the canvas image or None when too little shows, the strokes that show)."""
    source = ("letters", "shapes", "scribbles")[int(rng.integers(3))]
    s = resample(strokes(source, rng, "train"))
    size, canvas = rng.uniform(1.05, 1.6) * pen.CANVAS, pen.CANVAS
    brush = rng.uniform(*pen.BRUSH)
    pts = np.concatenate(s)
    lo, extent = pts.min(0), np.ptp(pts, 0)
    scale = size / max(float(extent.max()), 1e-6)
    wh = extent * scale + brush
    # over the canvas's middle fifth (a side thinner than that, a dash's height, lies within it)
    top_left = np.array([rng.uniform(*sorted((0.6 * canvas - w, 0.4 * canvas))) for w in wh], np.float32)
    ink = (pen.draw(s, size, brush, canvas, top_left) * 255).astype(np.uint8)
    to_canvas = lambda p: (p - lo) * scale + top_left + brush / 2
    visible = clip(s, lambda p: ((to_canvas(p) >= 0) & (to_canvas(p) <= canvas)).all(1))
    shown = sum(len(v) for v in visible) / sum(len(p) for p in s)  # points are evenly spaced
    if shown < 0.5 or (ink > 0).mean() > 0.6:
        return None, visible
    out = np.zeros((canvas, canvas, 4), np.uint8)
    if rng.random() < 0.5:  # as pen.render: transparent canvas or black background, white ink
        out[..., :3], out[..., 3] = 255, ink
    else:
        out[..., :3], out[..., 3] = ink[..., None], 255
    return out, visible


# --- geometry --------------------------------------------------------------------------------------


def resample(strokes_, step: float = 0.01) -> list[np.ndarray]:
    """Strokes with points every `step` of the drawing's size along each stroke (a dot stays a dot)."""
    pts = np.concatenate(strokes_)
    size = max(float(np.ptp(pts, 0).max()), 1e-6)
    out = []
    for s in strokes_:
        s = np.asarray(s, np.float32)
        d = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(s, axis=0), axis=1))] if len(s) > 1 else np.zeros(1)
        if d[-1] <= 0:
            out.append(s[:1])
            continue
        t = np.append(np.arange(0.0, d[-1], step * size), d[-1])
        out.append(np.stack([np.interp(t, d, s[:, 0]), np.interp(t, d, s[:, 1])], 1).astype(np.float32))
    return out


def clip(strokes_, keep) -> list[np.ndarray]:
    """The runs of consecutive points for which keep(points) (a boolean per point) holds."""
    out = []
    for s in strokes_:
        mask = np.asarray(keep(s), bool)
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
        out.extend(s[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= 2)
    return out


def _axes(strokes_) -> tuple[float, float]:
    """(elongation, tilt): sqrt(minor / major variance) of the ink along the strokes (0 for a straight line,
    1 for a round blob; UNIPEN's 1s: median 0.07, every other digit: 1st percentile 0.23 or more, the 4s
    written as a 1-like stroke aside) and the angle of its long axis from level, in degrees (0 lying, 90
    standing)."""
    if not strokes_:
        return 0.0, 90.0
    pts = np.concatenate(resample(strokes_))
    if len(pts) < 3:
        return 0.0, 90.0
    ev, vec = np.linalg.eigh(np.cov(pts.T.astype(np.float64)))
    if ev[1] <= 0:
        return 0.0, 90.0
    tilt = float(np.degrees(np.arctan2(abs(vec[1, 1]), abs(vec[0, 1]))))
    return float(np.sqrt(max(ev[0], 0.0) / ev[1])), tilt


def lies_flat(strokes_) -> bool:
    """True when a drawing is one thin stroke lying within LYING degrees of level: a dash, a minus, a flat
    wave. No digit is written so (UNIPEN's few are one lab's glitches: flat lines labelled 1, 4 or 0)."""
    thin, tilt = _axes(strokes_)
    return thin < STROKE_LIKE and tilt < LYING


def is_stroke(strokes_) -> bool:
    """True when a drawing is one thin stroke standing up or slanted (or nothing): it would read as a 1, so
    it is no non-digit to teach or to measure. A thin stroke that lies flat is a non-digit (`lies_flat`)."""
    thin, tilt = _axes(strokes_)
    return thin < STROKE_LIKE and tilt >= LYING
