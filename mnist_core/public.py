"""What a visitor is told: messages without the server's paths, and disk faults said in words.

A message a page shows (a run's status, a failed fine-tune's error) never holds an absolute path of the
server, nor the runs folder's or the data folder's path: `without_paths` names those folders ("the runs
folder", "the data folder"), a file inside one by its path relative to it, and any other absolute path by
its last part. The full detail goes to the terminal through logging, where the operator reads it.

`disk_problem` says what is wrong when writing into a folder failed (read-only, full, not allowed), so that
no page blames a healthy database or file for a folder that cannot be written.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from pathlib import Path

# An absolute path inside a message: /a/b..., ~/a..., C:\a\b...; it ends at a space, a quote or a bracket.
_ABSOLUTE = re.compile(
    r"(?<![\w.~/\\:])(?:~|[A-Za-z]:)?[/\\](?:[^\s'\"`()\[\]{}<>,;|/\\]+[/\\])*[^\s'\"`()\[\]{}<>,;|/\\]*"
)

READ_ONLY = "is read-only"
FULL = "the disk is full"


def without_paths(text: str, folders: Mapping[str | os.PathLike | None, str] = ()) -> str:
    """`text` without absolute paths: each of `folders` (path -> its name in words, e.g. "the runs folder")
    as its name, a file inside one as its path relative to it, any other absolute path as its last part."""
    text = str(text)
    known: list[tuple[str, str]] = []
    for folder, label in dict(folders).items():
        if not folder:
            continue
        for form in {str(folder), str(Path(folder).expanduser().resolve())}:
            known.append((form.rstrip("/\\") or form, label))
    for form, label in sorted(known, key=lambda kv: -len(kv[0])):  # the longest (innermost) first
        text = re.sub(re.escape(form) + r"[/\\]([^\s'\"`()\[\]{}<>,;|]+)", r"\1", text)
        text = text.replace(form, label)

    def last_part(m: re.Match) -> str:
        part = re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1]
        return part or "a folder"

    return _ABSOLUTE.sub(last_part, text)


def disk_problem(exc: BaseException, where: str = "the runs folder", folder: str | os.PathLike | None = None) -> str:
    """What is wrong when writing in `where` failed, in words: "the runs folder is read-only", "the disk is
    full", "the runs folder may not be written by the server", else the system's short reason. `folder`
    (where it was written) is looked at when the error does not say (torch.save's RuntimeError on a full disk)."""
    code = getattr(exc, "errno", None)
    if code == errno.EROFS:
        return f"{where} {READ_ONLY}"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
        return FULL
    if code in (errno.EACCES, errno.EPERM):
        return f"{where} may not be written by the server (permission denied)"
    seen = folder_problem(folder, where) if folder is not None else None
    if seen is not None:
        return seen
    why = getattr(exc, "strerror", None) or type(exc).__name__
    return f"{where} could not be written ({without_paths(why)})"


def folder_problem(folder: str | os.PathLike, where: str = "the runs folder") -> str | None:
    """Why nothing can be written in `folder` now (read-only, a full disk, not allowed), or None when it
    looks writable."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # gone, or not a POSIX system: the write's own error says
        return None
    if st.f_flag & getattr(os, "ST_RDONLY", 1):
        return f"{where} {READ_ONLY}"
    if st.f_bavail == 0:
        return FULL
    if not os.access(folder, os.W_OK):
        return f"{where} may not be written by the server (permission denied)"
    return None
