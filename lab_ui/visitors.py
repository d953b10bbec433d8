"""Who the visitor is: their browser (so a reload or a second tab is the same visitor, who may stop, rename
and delete what they made), and whether they gave the lab operator's key (then they may change anything).

A browser is known by the XSRF cookie Streamlit sets on its first visit (a random token, kept by the
browser for its whole session, sent with every connection, and never readable by another visitor); the
cookie's value is masked anew each time, so the token inside it is unmasked as the server that set it does
(tornado's version-2 format `2|mask|masked token|time`). Without that cookie (XSRF protection turned off,
or a test's AppTest session) the visitor is the browser session. Only a hash of the token is ever stored or
shown (mnist_core.owners).
"""

from __future__ import annotations

import binascii
import hmac
import uuid

import streamlit as st

from mnist_core import owners, settings

XSRF_COOKIE = "_streamlit_xsrf"


def browser_token(cookie: str | None) -> str | None:
    """The token inside Streamlit's XSRF cookie value, or None when there is none or it cannot be read."""
    parts = str(cookie or "").split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = binascii.a2b_hex(parts[1]), binascii.a2b_hex(parts[2])
            if len(mask) == 4 and len(masked) >= 16:
                return "browser:" + bytes(b ^ mask[i % 4] for i, b in enumerate(masked)).hex()
        elif len(parts) == 1 and len(parts[0]) >= 32:  # version 1: the token itself, in hex
            return "browser:" + binascii.a2b_hex(parts[0]).hex()
    except (binascii.Error, ValueError):
        pass
    return None


def visitor_token() -> str:
    """This visitor's token: their browser's, else this browser session's. Runs they start and
    collections they make are theirs (owners.key of it), and the per-visitor limits count by it."""
    token = st.session_state.get("_lab_visitor")
    if token is None:
        try:
            cookie = st.context.cookies.get(XSRF_COOKIE)
        except Exception:  # no request context (a bare script run): the session stands for the visitor
            cookie = None
        token = browser_token(cookie) or "session:" + uuid.uuid4().hex
        st.session_state["_lab_visitor"] = token
    return token


def is_operator() -> bool:
    """Whether this session gave the operator's key (settings.operator_key) on the Home page."""
    key = settings.operator_key()
    given = st.session_state.get("_lab_operator_key")
    return bool(key and given and hmac.compare_digest(str(given), key))


def acting_as():
    """Who this session acts as when it renames, deletes or stops: owners.ANYONE for the operator, else
    the visitor's own token."""
    return owners.ANYONE if is_operator() else visitor_token()


def may_change(owner_key: str | None) -> bool:
    """Whether this session may rename, delete or stop what `owner_key` made."""
    return owners.may_change(acting_as(), owner_key)


def owner_label(owner_key_or_tag: str | None) -> str:
    """Who made something, for tables: "you", "visitor 3fa2c1" (someone else, or you in another browser),
    or "server" (the command line, a shipped or bare checkpoint, or made before owners were recorded)."""
    tag = str(owner_key_or_tag or "")[: owners.TAG_LEN]
    if not tag:
        return "server"
    return "you" if tag == owners.tag(visitor_token()) else f"visitor {tag}"


def operator_ui() -> None:
    """The operator's sign-in (shown only when settings.operator_key is set): the key, once per session."""
    if not settings.operator_key():
        return
    with st.expander("Lab operator"):
        if is_operator():
            st.success("You are the lab's operator in this browser tab: you may rename, delete or stop anything.")
            if st.button("Sign out", key="op_sign_out"):
                st.session_state.pop("_lab_operator_key", None)
                st.rerun()
            return
        given = st.text_input("Operator key", type="password", key="op_key_input")
        if st.button("Sign in", key="op_sign_in"):
            st.session_state["_lab_operator_key"] = given
            if not is_operator():
                st.session_state.pop("_lab_operator_key", None)
                st.error("That is not the operator's key.")
            else:
                st.rerun()
