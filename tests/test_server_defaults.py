"""Issue 14, item 6: safe defaults for a server. The repository's .streamlit/config.toml makes the
app listen on localhost only and show visitors no traceback, exception text or server path; the
full traceback goes to the server's log. Checked on the real server (`streamlit run`, started in
the repository so that its config applies) with a page that fails on purpose."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from helpers import APP_IDLE, ROOT, wait_healthy, wait_until

SECRET = "/srv/secret-folder/runs/hidden-name.pt"
BOOM = f"""import streamlit as st
st.title("A page that fails")
raise RuntimeError("could not open {SECRET}")
"""


def config_values() -> dict[str, str]:
    """ "section.key" -> raw value of the repository's config.toml (flat, as Streamlit's is)."""
    values, section = {}, ""
    for line in (ROOT / ".streamlit" / "config.toml").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if m := re.fullmatch(r"\[(\w+)\]", line):
            section = m[1]
        elif m := re.fullmatch(r"(\w+)\s*=\s*(.+)", line):
            values[f"{section}.{m[1]}"] = m[2].strip().strip('"')
    return values


def test_the_config_listens_on_localhost_and_hides_error_details():
    config = config_values()
    assert config["server.address"] == "localhost"
    assert config["client.showErrorDetails"] == "none"
    assert int(config["server.maxUploadSize"]) <= 20


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on `port` (Linux /proc/net/tcp and tcp6, hex as the kernel writes)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


@pytest.fixture
def boom_server(tmp_path):
    """`streamlit run boom.py` from the repository root with no --server.address: its config decides."""
    script = tmp_path / "boom.py"
    script.write_text(BOOM)
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://localhost:{port}"
    try:
        wait_healthy(url, proc, timeout=60, log=tmp_path / "server.log")
        yield url, port, tmp_path / "server.log"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
def test_the_server_listens_only_on_loopback(boom_server):
    _, port, _ = boom_server
    addresses = listening_addresses(port)
    loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1, as /proc writes them
    assert addresses and addresses <= loopback, addresses


@pytest.mark.browser
def test_a_visitor_sees_no_traceback_and_the_log_has_it(boom_server, browser):
    url, _, log = boom_server
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.locator(APP_IDLE).wait_for(timeout=90_000)
        page.get_by_text("A page that fails").wait_for(timeout=30_000)
        page.locator("[data-testid='stException']").first.wait_for(timeout=30_000)
        shown = page.locator("body").inner_text()
        for private in ("secret-folder", "hidden-name", "Traceback", "RuntimeError", str(ROOT)):
            assert private not in shown, (private, shown[-1000:])
    finally:
        context.close()
    wait_until(lambda: "hidden-name.pt" in log.read_text(), 30, "the traceback in the server's log", interval=0.2)
    text = log.read_text()
    assert "Traceback" in text and SECRET in text  # the operator's log has it all


def test_the_server_gives_torch_half_the_cores_or_what_the_operator_says(monkeypatch):
    """One thread on a 2-core laptop: a core busy with anything else stalls every torch operation
    of a full pool (settings.torch_threads, which lab_ui applies)."""
    from mnist_core import settings

    monkeypatch.delenv("MNIST_LAB_THREADS", raising=False)
    assert [settings.torch_threads(n) for n in (1, 2, 3, 8)] == [1, 1, 1, 4]
    for value, cores, expected in [("3", 2, 3), ("0", 8, 4), ("many", 8, 4), ("", 2, 1)]:
        monkeypatch.setenv("MNIST_LAB_THREADS", value)
        assert settings.torch_threads(cores) == expected, value
