"""Collection names: what a new name may be, and when two names look alike.

A name is 1 to NAME_MAX letters, digits, spaces or . + - _, in its plain Unicode form (NFKC: no full-width or
styled letters), not only dots (`.` and `..` are a folder and its parent in an export), and of one script:
Latin mixed with Cyrillic or Greek letters is how a look-alike of another name is made. A new name whose
look-alike skeleton (`skeleton`: Cyrillic and Greek letters that look Latin read as Latin, case ignored,
i/I/l/1, 0/o, rn/m taken for one another) equals an existing collection's is refused too.

Messages never repeat a refused name (it may hold Markdown, a link, anything): they say what is wrong.
"""

from __future__ import annotations

import re
import unicodedata

from .dbfile import StoreError

NAME_MAX = 64
RULE = f"a collection name is 1 to {NAME_MAX} letters, digits, spaces or . + - _"
_NAME_CHAR = re.compile(r"[\w .+-]")
_SCRIPT_GROUP = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK"}  # one writing system mixes these
# letters of other scripts that look like Latin ones (a hand-made subset of Unicode's confusables, the
# letters a look-alike of a Latin name is made of)
_LOOKALIKE = str.maketrans(
    # Cyrillic
    "аеорсухіјѕԁһӏԛԝвмнткАВЕКМНОРСТХІЈЅԌ"
    # Greek
    "αοριτυνκχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhlqwbmhtkABEKMHOPCTXIJSGaopitvvkxABEZHIKMNOPTYX",
)
_SKELETON_AFTER = (("rn", "m"), ("vv", "w"), ("1", "l"), ("i", "l"), ("ı", "l"), ("0", "o"))


def _chars(chars) -> str:
    """Characters described by their Unicode names (never the characters themselves)."""
    named = [unicodedata.name(c, f"U+{ord(c):04X}").lower() for c in sorted(set(chars))]
    return ", ".join(named[:3]) + (" ..." if len(named) > 3 else "")


def scripts(text: str) -> set[str]:
    """The scripts of a name's letters (and of digits other than 0-9): LATIN, CYRILLIC, GREEK, CJK, ..."""
    out = set()
    for c in text:
        if c.isalpha() or (c.isdigit() and not c.isascii()):
            word = unicodedata.name(c, "UNKNOWN").split()[0].split("-")[0]
            out.add(_SCRIPT_GROUP.get(word, word))
    return out


def check_name(name) -> str:
    """A new collection name as given, trimmed; StoreError saying what is wrong with it (never repeating it)."""
    text = str(name if name is not None else "").strip()
    if not text:
        raise StoreError(f"{RULE}; this one is empty")
    if len(text) > NAME_MAX:
        raise StoreError(f"{RULE}; this one has {len(text)} characters")
    if bad := [c for c in text if not _NAME_CHAR.fullmatch(c)]:
        raise StoreError(f"{RULE}; this one holds {_chars(bad)}")
    if unicodedata.normalize("NFKC", text) != text:
        raise StoreError(f"{RULE}; this one holds styled or full-width forms of letters: type them plainly")
    if not text.strip("."):
        raise StoreError(f"{RULE}, not only dots ('.' and '..' name a folder and its parent)")
    if len(found := scripts(text)) > 1:
        raise StoreError(
            f"{RULE}, from one alphabet; this one mixes {' and '.join(sorted(s.title() for s in found))} "
            "letters, which can make it look like another name"
        )
    return text


def skeleton(name: str) -> str:
    """What a name looks like: two names with one skeleton are told apart by nobody."""
    text = unicodedata.normalize("NFKC", name).translate(_LOOKALIKE).casefold()
    for a, b in _SKELETON_AFTER:
        text = text.replace(a, b)
    return text


def lookalike(name: str, existing) -> str | None:
    """The existing name (not `name` itself, case ignored) that `name` looks like, or None."""
    mine = skeleton(name)
    return next((e for e in existing if e.casefold() != name.casefold() and skeleton(e) == mine), None)


def folder_name(name: str) -> str:
    """A collection's folder name in an export: letters, digits and . + - _ only, never only dots."""
    folder = re.sub(r"[^\w.+-]", "_", name).lstrip(".")
    return folder or "collection"
