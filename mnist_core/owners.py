"""Who may change what on a shared server: every run and collection records who made it, and only they (or
the lab's operator) rename, delete or stop it.

A visitor is known by a token (lab_ui.visitor_token: their browser, else their browser session); the files
keep only `key(token)`, a hash, so nothing stored or shown can act as the visitor. Visitors see one another
as `tag(token)`, the first characters of the key. `ANYONE` stands for whoever may change anything: the
command line, tests, the runner's own holder, and a visitor who gave the operator's key
(settings.operator_key). Something made by no visitor (the command line, a bare checkpoint, a collection
from before owners were recorded) has the key "": only `ANYONE` changes it.
"""

from __future__ import annotations

import hashlib
import hmac

ANYONE = object()  # the operator, the command line, the runner's holder: may change anything
TAG_LEN = 6  # hex characters of the key shown to others ("session 3fa2c1")


def key(token: str | None) -> str:
    """The stored form of a visitor's token ("" for none): a 128-bit hash, so that a visitor cannot pick a
    token whose key matches another's, and the files never hold the token itself."""
    return hashlib.blake2b(token.encode(), digest_size=16).hexdigest() if token else ""


def tag(token: str | None) -> str:
    """A visitor's short public name ("" for none)."""
    return key(token)[:TAG_LEN]


def may_change(by, owner_key: str | None) -> bool:
    """Whether `by` (a visitor's token, or ANYONE) may rename, delete or stop what `owner_key` made."""
    if by is ANYONE:
        return True
    if not by or not owner_key or not isinstance(by, str):
        return False
    return hmac.compare_digest(key(by), owner_key)
