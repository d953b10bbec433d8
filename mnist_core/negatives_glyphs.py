"""Letters and signs from the Hershey stroke fonts (PyPI `hershey-fonts`, MIT), as pen strokes.

A Hershey glyph is a list of pen strokes in font units with y pointing down (image rows), exactly
what `pen.draw` draws. Only glyphs that do not look like a digit are used; what is left out and why:

- the digits themselves, in every font;
- Latin letters that are digits to a reader or to a network that reads 28x28 ink: O o Q (0; a
  script Q is a 2), I l i j (1: one upright stroke), S s (5; 8 in script), Z z (2; 3 in script),
  B (8, or 13), G b (6), g q a (9: a single-storey a is a 9 with a short stem in half the fonts);
  in the script fonts also F T (a bar on a curled stem: a crossed or curled 7) and J (a looped 9);
- keyboard signs that are one upright or slanted stroke or a dot ( ) [ ] { } | / \\ ! , . ' " ` :
  ; _ - (a 1, a 3-like brace, or a blob once scaled to the digit box);
- in the other scripts and the sign fonts each font keeps only the glyphs listed below: left out
  are Latin look-alikes (Greek A, Cyrillic O...), circles with something in them that read as 0 or
  a slashed 0 (theta, phi, the sun sign...), Greek beta delta sigma zeta xi rho tau iota, Cyrillic
  Ze (3), Be and soft signs (6, b), Che (4), Japanese numerals, hiragana that read as 3, 5, 7, 2 or
  11 (ru ro ra chi u te tsu so i...), the box-8 kanji (day), partial derivative (6), infinity (8),
  the Jupiter sign (4), Cancer (69), notes and flats (b, d), and the shapes of the drawn-shapes
  kinds (crosses, stars, hearts, arrows, circled crosses) so that held-out kinds stay held out.

Turned glyphs (the training kind "turned"): the training letters and keyboard signs in the training
fonts mirrored, flipped upside down or turned a quarter or half turn, as a way to draw many more glyphs
than the fonts hold. Left out are the turns that give a digit or a digit-like letter (`TURN_LEFT_OUT`):
a mirrored or flipped d, p, P (b, q: 6, 9), turned L, J and r (a 7, a hooked 1), an upside-down f, t,
y, Y (a crossed 7, a lambda-like 1), a turned e and half-turned c, C (6, 9, a reversed C), a
quarter-turned N (Z: 2), w (3), ~ (S) and = (11).

Every kept glyph still passes `negatives`' check that a drawing is not a single stroke (a 1).
"""

from __future__ import annotations

import string
from functools import cache

import numpy as np

# Latin fonts: the simplex ones (one pen line) and some with doubled or tripled lines (serifs,
# bold), on both sides of the split so that the line count is no tell of a held-out font.
TRAIN_FONTS = ("futural", "rowmans", "scripts", "timesr", "timesi", "rowmand")
HELD_OUT_FONTS = ("scriptc", "futuram", "timesib", "rowmant", "gothitt")
SCRIPT_FONTS = ("scripts", "scriptc")  # cursive is the same letters as scripts: not used

DIGIT_LIKE = "OoQIlijSsZzBGbgqa"  # left out of every Latin font (see the docstring)
SCRIPT_DIGIT_LIKE = "FTJ"  # also left out of the script fonts
LATIN_KEPT = "".join(c for c in string.ascii_letters if c not in DIGIT_LIKE)
HELD_OUT_LETTERS = "EKRWhmx"  # never in training, in any font
TRAIN_LETTERS = "".join(c for c in LATIN_KEPT if c not in HELD_OUT_LETTERS)
KEYBOARD_SIGNS = "#$%&@?*+=<>~^"

# Other scripts (held out): font -> the ASCII slots of the glyphs kept (the font's own letters).
OTHER_SCRIPTS = {
    # Delta Gamma Lambda Pi Sigma Upsilon Omega Psi; chi epsilon gamma eta kappa lambda mu nu pi
    # upsilon divide omega psi
    "greek": "DGLPSUWYceghklmnpuvwy",
    # Ge De Zhe I Short-I El Pe Tse Sha Shcha, upper and lower case
    "cyrilc_1": "DEGIJLPWYZdegijlpwyz",
    "cyrillic": "$&U^u}",  # Yery, yery, Yu, Ya, yu, ya
    # kanji (yen, year, big, country, person, east, middle, book, capital, exit, time, up, person,
    # enter) and the hiragana that read as no digit
    "japanese": "$%&'()*+,-./09ADEFGIMNPTUVWXZ[\\^_`abcdfhlnoqrsxy{}",
}
# Signs (held out): maths, pictograms, astrology, music.
SIGNS = {
    # plus-minus, minus-plus, <=, >=, product, sum, not equal, identical, proportional, root, subset,
    # union, superset, intersection, element, nabla, exists, aleph, divide, perpendicular, angle,
    # therefore
    "mathupp": "!\"&':;?@^bdefghnvwxz|~",
    # flag, boat, anchor, hammers, tent, copyright, bell, palm, fir, leaf, burst, hollow square,
    # shamrock, double dagger, spade, diamond, club
    "symbolic": "VWXZ[_abcdfghkmop",
    # sextile, Saturn, Neptune, Pluto, moon, comet, star, nodes, Aries, Gemini, Virgo, Scorpio,
    # Sagittarius, Capricorn, Aquarius
    "astrology": "!+/:;<=>?@]`{|}~",
    "music": "(;>",  # natural, treble clef, repeat
}

# Turns: a glyph's strokes (x, y), y down, times the matrix
TURNS = {
    "mirror": ((-1, 0), (0, 1)),
    "flip": ((1, 0), (0, -1)),
    "half": ((-1, 0), (0, -1)),
    "left": ((0, 1), (-1, 0)),
    "right": ((0, -1), (1, 0)),
}
_EVERY = frozenset(TURNS)
TURN_LEFT_OUT = {
    **dict.fromkeys("dpP", frozenset({"mirror", "flip"})),
    **dict.fromkeys("LJre", _EVERY),
    **dict.fromkeys("ftyY", frozenset({"flip", "half"})),
    **dict.fromkeys("cC", frozenset({"mirror", "half"})),
    **dict.fromkeys("N~=w", frozenset({"left", "right"})),
}


@cache
def _font(name: str) -> dict[str, tuple[np.ndarray, ...]]:
    """Every printable glyph of a bundled Hershey font: char -> strokes (float32 (K, 2), y down)."""
    from HersheyFonts import HersheyFonts

    font = HersheyFonts()
    font.load_default_font(name)
    out = {}
    for code in range(33, 127):
        strokes = tuple(np.asarray(s, np.float32).reshape(-1, 2) for s in font.strokes_for_text(chr(code)))
        strokes = tuple(s for s in strokes if len(s))
        if strokes:
            out[chr(code)] = strokes
    return out


def glyph(font: str, char: str) -> list[np.ndarray]:
    """One glyph's pen strokes (copies: callers may change them)."""
    return [s.copy() for s in _font(font)[char]]


def turned(font: str, char: str, turn: str) -> list[np.ndarray]:
    """A glyph's pen strokes turned (TURNS)."""
    m = np.asarray(TURNS[turn], np.float32)
    return [(s @ m.T).astype(np.float32) for s in _font(font)[char]]


@cache
def turned_pool() -> list[tuple[str, str, str]]:
    """The (font, char, turn) triples of the kind "turned" (listed once: each drawing picks one)."""
    pairs = pool("letters") + pool("symbols")
    return [(f, c, t) for f, c in pairs for t in TURNS if t not in TURN_LEFT_OUT.get(c, ())]


def _latin(fonts, letters) -> list[tuple[str, str]]:
    return [
        (f, c) for f in fonts for c in letters if not (f in SCRIPT_FONTS and c in SCRIPT_DIGIT_LIKE) and c in _font(f)
    ]


def pool(name: str) -> list[tuple[str, str]]:
    """The (font, char) pairs of a glyph kind:
    - "letters": the training letters in the training fonts;
    - "symbols": the keyboard signs in the training fonts;
    - "unseen_letters": the held-out letters in the training fonts;
    - "unseen_fonts": the training letters in the held-out fonts;
    - "scripts": Greek, Cyrillic and Japanese; "signs": maths, pictograms, astrology, music."""
    if name == "letters":
        return _latin(TRAIN_FONTS, TRAIN_LETTERS)
    if name == "symbols":
        return [(f, c) for f in TRAIN_FONTS for c in KEYBOARD_SIGNS if c in _font(f)]
    if name == "unseen_letters":
        return _latin(TRAIN_FONTS, HELD_OUT_LETTERS)
    if name == "unseen_fonts":
        return _latin(HELD_OUT_FONTS, TRAIN_LETTERS)
    if name in ("scripts", "signs"):
        table = OTHER_SCRIPTS if name == "scripts" else SIGNS
        return [(f, c) for f, chars in table.items() for c in chars if c in _font(f)]
    raise ValueError(f"no glyph kind {name!r}")
