"""Drawn shapes, doodles and scribbles as pen strokes: lists of float32 (K, 2) arrays, y down (image
rows), in any units (the pen renderer scales a drawing by its own box). Each maker takes a seeded
generator and draws one instance as a person might: a random start on closed curves, uneven
proportions, a single stroke or several.

SHAPES (a training kind): star, heart, triangle, square, cross, arrow, circled (a circle with a
cross, a ring or a triangle in it), hash, dash (a line lying near level, straight or bowed: a minus, an
underline). POLYGONS (a training kind): an uneven triangle or
pentagon (no four corners: the held-out diamond stays held out; no more than five: a polygon of
many corners is a rough 0). DOODLES (held out of training): spiral, smiley, house, moon, flower,
sun, wave, zigzag, diamond, cloud, check mark. Left out as digit-like: a circle alone or with a dot
or a bar in it (0, a slashed or barred 0), the infinity sign (a lying 8), a lone line standing up (a 1).
"""

from __future__ import annotations

import numpy as np

Strokes = list[np.ndarray]


def _arr(points) -> np.ndarray:
    return np.asarray(points, np.float32).reshape(-1, 2)


def _circle(rng, cx=0.0, cy=0.0, r=1.0, turns=1.0, n=48, aspect=1.0) -> np.ndarray:
    """A hand-drawn ellipse from a random start, closing with a small overshoot (or gap)."""
    start = rng.uniform(0, 2 * np.pi)
    t = start + np.linspace(0, 2 * np.pi * turns * rng.uniform(1.0, 1.08), n)
    return _arr(np.stack([cx + r * aspect * np.cos(t), cy + r * np.sin(t)], 1))


def _polygon(rng, points, closed=True, one_stroke=None) -> Strokes:
    """A polygon through points: one stroke (from a random vertex) or one stroke per side."""
    pts = _arr(points)
    k = int(rng.integers(len(pts)))
    pts = np.roll(pts, -k, 0)
    if closed:
        pts = np.concatenate([pts, pts[:1]])
    if one_stroke is None:
        one_stroke = rng.random() < 0.6
    if one_stroke:
        return [pts]
    return [pts[i : i + 2] for i in range(len(pts) - 1)]


def _line(a, b, n=2) -> np.ndarray:
    return _arr(np.linspace(np.asarray(a, np.float32), np.asarray(b, np.float32), n))


# --- shapes (training) ---------------------------------------------------------------------------


def star(rng) -> Strokes:
    points = int(rng.choice([5, 5, 5, 6]))
    turn = rng.uniform(0, 2 * np.pi)
    if points == 5 and rng.random() < 0.5:  # a pentagram in one stroke
        t = turn + np.arange(6) * 4 * np.pi / 5
        return [_arr(np.stack([np.cos(t), np.sin(t)], 1))]
    inner = rng.uniform(0.35, 0.55)
    t = turn + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return _polygon(rng, np.stack([r * np.cos(t), r * np.sin(t)], 1), one_stroke=True)


def heart(rng) -> Strokes:
    t = np.linspace(0, 2 * np.pi, 64)
    x = 16 * np.sin(t) ** 3 * rng.uniform(0.8, 1.2)
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = _arr(np.stack([x, y], 1))
    if rng.random() < 0.5:  # two strokes, from the dip down each side
        return [pts[:33], pts[32:][::-1]]
    return [np.roll(pts[:-1], -int(rng.integers(63)), 0)]


def triangle(rng) -> Strokes:
    t = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3]) + rng.normal(0, 0.15, 3)
    return _polygon(rng, np.stack([np.cos(t), np.sin(t) * rng.uniform(0.7, 1.3)], 1))


def square(rng) -> Strokes:
    w, h = rng.uniform(0.6, 1.6), 1.0
    return _polygon(rng, [(0, 0), (w, 0), (w, h), (0, h)] + rng.normal(0, 0.04, (4, 2)))


def cross(rng) -> Strokes:
    a = rng.uniform(0.6, 1.0)
    if rng.random() < 0.5:  # an X
        return [_line((-a, -1), (a, 1)), _line((a, -1), (-a, 1))]
    bar = rng.uniform(-0.3, 0.3)  # a plus, its bar at any height near the middle
    return [_line((0, -1), (0, 1)), _line((-a, bar), (a, bar))]


def arrow(rng) -> Strokes:
    angle = rng.choice(8) * np.pi / 4 + rng.normal(0, 0.1)
    d = np.array([np.cos(angle), np.sin(angle)])
    tip, tail = d, -d
    head, spread = rng.uniform(0.3, 0.6), np.radians(rng.uniform(25, 45))
    wings = []
    for s in (spread, -spread):
        c, si = np.cos(s), np.sin(s)
        back = -np.array([c * d[0] - si * d[1], si * d[0] + c * d[1]])
        wings.append(tip + head * back)
    if rng.random() < 0.5:  # the head as one stroke
        return [_line(tail, tip), _arr([wings[0], tip, wings[1]])]
    return [_line(tail, tip), _line(tip, wings[0]), _line(tip, wings[1])]


def circled(rng) -> Strokes:
    ring = _circle(rng, aspect=rng.uniform(0.85, 1.15))
    inside = rng.choice(3)
    if inside == 0:  # a cross in it (plus or X)
        a = rng.uniform(0.5, 1.0)
        if rng.random() < 0.5:
            return [ring, _line((-a, 0), (a, 0)), _line((0, -a), (0, a))]
        a *= 0.7
        return [ring, _line((-a, -a), (a, a)), _line((a, -a), (-a, a))]
    if inside == 1:  # a ring in it
        return [ring, _circle(rng, r=rng.uniform(0.4, 0.65))]
    t = rng.uniform(0, 2 * np.pi) + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
    return [ring, *_polygon(rng, 0.75 * np.stack([np.cos(t), np.sin(t)], 1))]


def hash_sign(rng) -> Strokes:
    slant, gap = rng.uniform(-0.3, 0.3), rng.uniform(0.25, 0.45)
    lines = []
    for y in (-gap, gap):
        lines.append(_line((-1, y), (1, y + rng.normal(0, 0.05))))
    for x in (-gap, gap):
        lines.append(_line((x + slant, -1), (x - slant, 1)))
    return lines


# --- doodles (held out) --------------------------------------------------------------------------


def spiral(rng) -> Strokes:
    turns = rng.uniform(1.5, 4)
    t = np.linspace(0, 2 * np.pi * turns, int(40 * turns))
    r = (t + 0.5) * rng.uniform(0.9, 1.1)
    pts = _arr(np.stack([r * np.cos(t), r * np.sin(t)], 1))
    return [pts[::-1] if rng.random() < 0.5 else pts]


def smiley(rng) -> Strokes:
    face = _circle(rng)
    eyes = [_circle(rng, x, -0.35, rng.uniform(0.04, 0.12), n=10) for x in (-0.35, 0.35)]
    t = np.linspace(np.radians(200), np.radians(340), 16)
    r = rng.uniform(0.45, 0.65)
    mouth = _arr(np.stack([r * np.cos(t), -r * np.sin(t) - 0.1], 1))
    return [face, *eyes, mouth]


def house(rng) -> Strokes:
    w, h, roof = rng.uniform(0.8, 1.3), 1.0, rng.uniform(0.4, 0.8)
    walls = _polygon(rng, [(0, 0), (w, 0), (w, h), (0, h)], one_stroke=True)
    out = [*walls, _arr([(0, 0), (w / 2, -roof), (w, 0)])]
    if rng.random() < 0.6:
        d = w * rng.uniform(0.3, 0.6)
        out.append(_arr([(d, h), (d, 0.5 * h), (d + 0.2 * w, 0.5 * h), (d + 0.2 * w, h)]))
    return out


def moon(rng) -> Strokes:
    """A crescent: the outer arc of the unit circle and an inner arc of a circle centred right of it
    through the same two tips, turned any way."""
    tip = np.radians(rng.uniform(30, 60))
    outer = np.linspace(tip, 2 * np.pi - tip, 32)
    tx, ty = np.cos(tip), np.sin(tip)
    cx = rng.uniform(0.25, 0.55)
    r2, e = np.hypot(tx - cx, ty), np.arctan2(ty, tx - cx)
    inner = np.linspace(2 * np.pi - e, e, 32)
    pts = np.concatenate(
        [np.stack([np.cos(outer), np.sin(outer)], 1), np.stack([cx + r2 * np.cos(inner), r2 * np.sin(inner)], 1)]
    )
    return [_arr(pts @ _rotation(rng.uniform(0, 2 * np.pi)))]


def flower(rng) -> Strokes:
    petals = int(rng.integers(5, 9))
    t = np.linspace(0, 2 * np.pi, 24 * petals)
    r = 0.35 + np.abs(np.cos(petals * t / 2))
    out = [_arr(np.stack([r * np.cos(t), r * np.sin(t)], 1))]
    out.append(_circle(rng, r=rng.uniform(0.2, 0.3), n=20))
    if rng.random() < 0.5:  # a stem
        out.append(_arr([(0, 1.3), (0.1, 2.2), (0, 3.0)]))
    return out


def sun(rng) -> Strokes:
    r = rng.uniform(0.45, 0.6)
    rays = int(rng.integers(6, 11))
    out = [_circle(rng, r=r)]
    for a in np.arange(rays) * 2 * np.pi / rays + rng.uniform(0, np.pi):
        d = np.array([np.cos(a), np.sin(a)])
        out.append(_line(d * (r + 0.12), d * rng.uniform(0.85, 1.1)))
    return out


def wave(rng) -> Strokes:
    periods = rng.uniform(2, 4)
    x = np.linspace(0, 2 * np.pi * periods, int(30 * periods))
    return [_arr(np.stack([x, np.sin(x) * rng.uniform(0.8, 2.0)], 1))]


def zigzag(rng) -> Strokes:
    teeth = int(rng.integers(4, 9))
    x = np.arange(teeth + 1) * rng.uniform(0.6, 1.2)
    y = np.where(np.arange(teeth + 1) % 2 == 0, 0.0, 1.0) * rng.uniform(0.8, 1.6)
    return [_arr(np.stack([x, y + rng.normal(0, 0.06, teeth + 1)], 1))]


def diamond(rng) -> Strokes:
    w = rng.uniform(0.5, 0.9)
    return _polygon(rng, [(0, -1), (w, 0), (0, 1), (-w, 0)])


def cloud(rng) -> Strokes:
    bumps = int(rng.integers(5, 9))
    t = np.linspace(0, 2 * np.pi, 20 * bumps)
    r = 1 + 0.25 * np.abs(np.sin(bumps * t / 2))
    return [_arr(np.stack([1.6 * r * np.cos(t), r * np.sin(t)], 1))]


def check_mark(rng) -> Strokes:
    short = rng.uniform(0.3, 0.5)
    return [_arr([(-short, -short * rng.uniform(0.6, 1.2)), (0, 0), (1, -rng.uniform(0.9, 1.5))])]


def polygon(rng) -> Strokes:
    """An uneven polygon: 3 or 5 corners at uneven angles and distances from its centre."""
    k = int(rng.choice([3, 5]))
    a = np.sort(rng.uniform(0, 2 * np.pi, k)) if rng.random() < 0.5 else np.arange(k) * 2 * np.pi / k
    a = a + rng.normal(0, 0.15, k)
    r = rng.uniform(0.45, 1.0, k)
    return _polygon(rng, np.stack([r * np.cos(a), r * np.sin(a) * rng.uniform(0.7, 1.3)], 1))


def dash(rng) -> Strokes:
    """A line lying within 25 degrees of level, straight or bowed (a sag of up to a tenth of its length)."""
    t = np.linspace(-1, 1, 24)
    sag = rng.uniform(-0.1, 0.1) * (1 - t**2)
    line = np.stack([t, sag], 1) @ _rotation(np.radians(rng.uniform(-25, 25))).T
    return [_arr(line)]


def _rotation(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, s], [-s, c]], np.float32)


SHAPES = {
    "star": star,
    "heart": heart,
    "triangle": triangle,
    "square": square,
    "cross": cross,
    "arrow": arrow,
    "circled": circled,
    "hash": hash_sign,
    "dash": dash,
}
DOODLES = {
    "spiral": spiral,
    "smiley": smiley,
    "house": house,
    "moon": moon,
    "flower": flower,
    "sun": sun,
    "wave": wave,
    "zigzag": zigzag,
    "diamond": diamond,
    "cloud": cloud,
    "check": check_mark,
}


# --- scribbles (training) -------------------------------------------------------------------------


def scribble(rng) -> Strokes:
    """A pen wandering with no plan: 1-3 strokes, each a smooth curve through 8-20 random points
    (cubic interpolation of a random walk), so it turns back on itself many times."""
    out = []
    for _ in range(int(rng.choice([1, 1, 2, 3]))):
        knots = int(rng.integers(8, 21))
        p = np.cumsum(rng.normal(0, 1, (knots, 2)), 0)
        p += rng.normal(0, 2, 2)
        t = np.linspace(0, knots - 1, knots * 8)
        out.append(_arr(np.stack([_cubic(t, p[:, k]) for k in range(2)], 1)))
    return out


def _cubic(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Catmull-Rom through the values y at 0..n-1, read at t."""
    y = np.concatenate([y[:1], y, y[-1:]])
    i = np.clip(t.astype(int), 0, len(y) - 4)
    u = t - i
    p0, p1, p2, p3 = y[i], y[i + 1], y[i + 2], y[i + 3]
    return 0.5 * (
        2 * p1 + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3
    )


def hatching(rng, lo, hi) -> Strokes:
    """Strokes that cross out what lies in the box lo..hi: 3-7 parallel lines at one slant, a
    back-and-forth zigzag in one stroke, or a tight scribble over it."""
    lo, hi = np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    c, half = (lo + hi) / 2, (hi - lo) / 2 * rng.uniform(1.0, 1.25)
    style = rng.choice(3)
    a = rng.uniform(-np.pi / 3, np.pi / 3) + (np.pi / 2 if rng.random() < 0.3 else 0.0)
    d, nrm = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    reach = float(np.abs(half @ np.abs(np.array([d, nrm])).T).max())
    if style == 0:
        k = int(rng.integers(3, 8))
        offs = np.linspace(-0.8, 0.8, k) * reach
        return [_line(c + o * nrm - reach * d, c + o * nrm + reach * d) for o in offs]
    if style == 1:
        k = int(rng.integers(4, 9))
        offs = np.linspace(-0.85, 0.85, k) * reach
        ends = [c + o * nrm + (reach if i % 2 else -reach) * d for i, o in enumerate(offs)]
        return [_arr(ends)]
    s = scribble(rng)[0]
    s = (s - s.min(0)) / np.maximum(np.ptp(s, 0), 1e-6) * 2 - 1
    return [_arr(c + s * half)]
