"""The README and docs/ stay user documentation: short, free of session history, their links alive, and
their settings table and commands the ones the code and CI use. Pure text checks: no model, no data."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from mnist_core.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_BYTES = 12 * 1024
APP_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && .venv/bin/streamlit run app.py"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt && .venv/bin/python -m pytest"
SETTINGS_HEADER = "| Variable | Default | Accepts | Meaning |"

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.M | re.S)
HEX = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose(text: str) -> str:
    """The text outside fenced code blocks (a `# heading` inside a bash block is a comment)."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()).splitlines():
        if m := re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line):
            base = slug(m[1])
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path.read_text()))


def test_the_readme_is_at_most_12_kb():
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; at most {README_MAX_BYTES}: move detail to docs/"


def test_there_are_docs_pages():
    names = {p.name for p in DOCS}
    assert {"architecture.md", "benchmarks.md", "guarantees.md", "handwriting.md", "models.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_no_session_history(page):
    text = page.read_text()
    assert not re.search(r"\bissues?\s+#?\d+", text, re.I), f"{rel(page)} names an issue by number"
    assert not re.search(r"\blast but one\b", text, re.I), f"{rel(page)} says 'last but one'"
    hashes = [h for span in re.findall(r"`[^`\n]+`", text) for h in HEX.findall(span)]
    hashes += HEX.findall(prose(text))
    assert not hashes, f"{rel(page)} holds commit hashes: {sorted(set(hashes))}"


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such heading in {dest.name})")
    assert not broken, f"{rel(page)}: broken links: {broken}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README)}
    orphans = [rel(p) for p in DOCS if p.resolve() not in linked]
    assert not orphans, f"docs pages no README link reaches: {orphans}"


def settings_rows(text: str) -> list[list[str]]:
    lines = text.splitlines()
    start = lines.index(SETTINGS_HEADER)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_the_readme_settings_table_is_the_settings_module():
    """Every environment variable settings.py defines, in its order, with its default, range and meaning."""
    text = README.read_text()
    assert SETTINGS_HEADER in text.splitlines(), "README.md has no settings table"
    expected = [[f"`{s.name}`", s.default, s.accepts, s.meaning] for s in SETTINGS]
    assert settings_rows(text) == expected


def test_the_readme_gives_the_two_commands_and_ci_runs_the_test_command_word_for_word():
    blocks = [b.strip("`").partition("\n")[2].strip() for b in FENCE.findall(README.read_text())]
    assert APP_COMMAND in blocks, "the README's first command installs and runs the app"
    assert TEST_COMMAND in blocks, "the README's second command installs and runs the tests"
    assert blocks.index(APP_COMMAND) < blocks.index(TEST_COMMAND)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TEST_COMMAND in [line.strip() for line in ci], ".ci/run must run the README's test command as it is"
