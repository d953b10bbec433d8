"""Stored names and server paths as visitors see them.

A collection's or a run's name is the visitor's text: in Markdown it must stay text (no link made of
`www.example.org`, no bold made of `__name__`, no image). `name_md` puts it in a code span, which Markdown
shows as typed. A path on the server is the operator's business: visitors see it relative to the lab's
folder, and a folder elsewhere by what sets it; the terminal's log gets the full path.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from mnist_core import data, public, settings

log = logging.getLogger(__name__)


_MARKUP = re.compile(r"([\\`*_{}\[\]()#+\-!|<>~$&])")


def plain(text: object) -> str:
    """Any text (a message that may echo a visitor's name or file name) as Markdown that shows it as
    written: Markdown's and Streamlit's markup characters escaped, and a word joiner (U+2060, invisible)
    put before each "." and after each ":" and "@", which no autolink (www., http:, an e-mail address) or
    `:directive:` survives. Checked in a browser: no link, image, emphasis or formula is made."""
    escaped = _MARKUP.sub(r"\\\1", "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in str(text)))
    return re.sub(r"([@:])", "\\1\u2060", escaped).replace(".", "\u2060.")


def name_md(name: object) -> str:
    """A stored name as Markdown that shows it as typed: a code span (with a backtick in it replaced, and
    the longest run of spaces kept)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name)).replace("`", "'")
    return f"`{text}`" if text.strip() else "`?`"


def shown_path(path: str | os.PathLike, where: str, code: bool = True) -> str:
    """A server path for visitors, as Markdown: relative to the app's working folder when it is inside it
    (`data/MNIST/raw`, in a code span; code=False: as plain text, for a narrow column, where a code span
    breaks in the middle of a word), else `where` in words (say, "the folder MNIST_DATA_DIR names"); the
    full path is logged for the terminal."""
    full = Path(path).resolve()
    try:
        relative = full.relative_to(Path.cwd().resolve())
        return name_md(relative) if code else plain(relative.as_posix())
    except ValueError:
        log.info("%s: %s", where, full)
        return where


def problem(exc: BaseException) -> str:
    """What went wrong, for visitors, as Markdown that shows it as written (plain): a failed write by what is
    wrong (read-only, the disk is full: mnist_core.public.disk_problem), a missing data set in its public
    words, and any other message without the server's paths (public.without_paths). The full text goes to
    the server's log."""
    log.warning("shown to a visitor as a problem: %s: %s", type(exc).__name__, exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        return plain(public.disk_problem(exc, "the folder"))
    if isinstance(exc, data.DataUnavailable):
        return plain(exc.public)
    folders = {settings.runs_dir(): "the runs folder", settings.data_dir(): "the data folder"}
    return plain(public.without_paths(str(exc), folders) or type(exc).__name__)
