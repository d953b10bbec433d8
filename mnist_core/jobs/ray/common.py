"""What the app's side of the Ray backend, its pool and its workers share: names, and an error in one line."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from ... import public

NAMESPACE = "mnist_lab"
POOL_NAME = "mnist-lab-pool"  # the one pool of a cluster (a named, detached Ray actor)
LOST = "its Ray worker went away before the run ended ({why}); nothing was saved: start it again"
DIED = "its process died or was killed, or its machine left the cluster"
GONE = "the cluster no longer has it: its pool of workers was restarted"


def first_line(exc: BaseException) -> str:
    """An exception in one short line, for a run's message (without the server's paths: visitors read it)."""
    text = str(exc).strip().splitlines()
    return public.without_paths(f"{type(exc).__name__}: {text[0][:300]}") if text else type(exc).__name__


@functools.cache
def code_version() -> str:
    """A digest of this package's source: the pool and its workers run the code of the app that made them,
    and an app of another version says so in its log."""
    root = Path(__file__).resolve().parents[2]  # mnist_core
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]
