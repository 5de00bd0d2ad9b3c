"""The documentation stays whole: its links resolve, and the reference tables
name every function, setting and error the extension has.

* Every relative link and ``#anchor`` in README.md, docs/*.md and
  bench/README.md points at a file that exists and, for an anchor, at a
  heading of that Markdown file (GitHub's anchor rules).
* Every function of schema ``auth`` in the installed catalog, but the
  internal ``_`` ones, is a row of README.md's function table, with its
  arguments as ``pg_get_function_identity_arguments`` spells them.
* Every setting the extension reads is a row of README.md's settings table:
  those the installed SQL functions name, and those the server adapter
  reads from the connection start (``server.STARTUP_SETTINGS``).
* Every error constructor of ``pg_session_jwt.errors`` makes a message that
  is a row of docs/errors.md's tables, with its SQLSTATE; an interpolated
  value may read anything there (``…`` in the docs).
"""

from __future__ import annotations

import ast
import inspect
import re
import unicodedata
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from pg_session_jwt import errors

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ERRORS_PAGE = ROOT / "docs" / "errors.md"
PAGES = sorted([README, ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks (links and headings there are not ones)."""
    return FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lower case, only letters,
    digits, spaces, hyphens and underscores kept, each space a hyphen."""
    text = CODE_SPAN.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    kept = "".join(ch for ch in text.lower()
                   if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    """Every anchor the headings of a Markdown file make (repeats get -1, -2, …)."""
    seen: Dict[str, int] = {}
    found = set()
    for _, heading in HEADING.findall(prose(path.read_text())):
        base = anchor(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(path: Path) -> List[str]:
    """The link targets of a Markdown file, outside code."""
    text = CODE_SPAN.sub("", prose(path.read_text()))
    return LINK.findall(text)


def broken(path: Path, target: str) -> str:
    """Why a relative link from ``path`` does not resolve ('' when it does)."""
    file_part, _, fragment = target.partition("#")
    dest = (path.parent / file_part).resolve() if file_part else path
    if not dest.exists():
        return f"{target}: no such file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}"
    if fragment:
        if dest.suffix != ".md":
            return f"{target}: an anchor into a file that is not Markdown"
        if fragment not in anchors(dest):
            return f"{target}: no heading makes #{fragment} in {dest.relative_to(ROOT)}"
    return ""


def relative_links() -> List[Tuple[Path, str]]:
    return [(page, target) for page in PAGES for target in links(page)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # https:, mailto:


def test_the_pages_exist_and_link_somewhere():
    assert README in PAGES and ERRORS_PAGE in PAGES and len(PAGES) >= 8, PAGES
    assert len(relative_links()) >= 20


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(page):
    problems = [why for src, target in relative_links() if src == page for why in [broken(src, target)] if why]
    assert problems == []


def test_every_docs_page_is_listed_in_the_readme():
    listed = {target.partition("#")[0] for target in links(README)}
    missing = [str(p.relative_to(ROOT)) for p in PAGES if p != README and str(p.relative_to(ROOT)) not in listed]
    assert missing == []


@pytest.mark.parametrize("heading, expected", [
    ("The `pg-session-jwt` command", "the-pg-session-jwt-command"),
    ("Sessions: `jwt_session`", "sessions-jwt_session"),
    ("1. RLS filter", "1-rls-filter"),
    ("0.5.0 — unreleased", "050--unreleased"),
    ("Row-Level Security: patterns and performance", "row-level-security-patterns-and-performance"),
])
def test_anchor_follows_github(heading, expected):
    assert anchor(heading) == expected


def table_rows(path: Path) -> List[str]:
    return [line for line in prose(path.read_text()).splitlines() if line.startswith("|")]


def first_cells(path: Path) -> Set[str]:
    """The first cell of every table row of a page."""
    return {row.split("|")[1].strip() for row in table_rows(path)}


def test_every_sql_function_is_in_the_function_table(connect):
    conn = connect()
    found = conn.execute(
        "SELECT format('`auth.%s(%s)`', p.proname, pg_get_function_identity_arguments(p.oid))"
        "  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'auth' AND p.proname NOT LIKE '\\_%' ORDER BY 1").fetchall()
    functions = [f for (f,) in found]
    assert "`auth.user_id()`" in functions and "`auth.jwt_session_init(jwt text, local boolean)`" in functions
    assert [f for f in functions if f not in first_cells(README)] == []


def settings_the_sql_reads(conn) -> Set[str]:
    """The settings the installed functions name, in their deparsed definitions."""
    found = set()
    for (definition,) in conn.execute(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'auth'"):
        found.update(re.findall(r"'(pg_session_jwt\.[a-z_]+|request\.jwt\.claims)'", definition))
    return found


def startup_settings() -> Set[str]:
    """``server.STARTUP_SETTINGS``, read from the source (the module imports plpy,
    which only a backend has): what the adapter reads from the connection start."""
    tree = ast.parse((ROOT / "src" / "pg_session_jwt" / "server.py").read_text())
    (value,) = [node.value for node in tree.body if isinstance(node, ast.Assign)
                and any(getattr(t, "id", None) == "STARTUP_SETTINGS" for t in node.targets)]
    return {"pg_session_jwt." + name for name in ast.literal_eval(value)}


def test_every_setting_is_in_the_settings_table(connect):
    from_sql = settings_the_sql_reads(connect())
    from_start = startup_settings()
    assert {"pg_session_jwt.jwt", "request.jwt.claims"} <= from_sql and "pg_session_jwt.jwk" in from_start
    documented = first_cells(README)
    assert sorted(s for s in from_sql | from_start if f"`{s}`" not in documented) == []


MARK = "MarkedValue"  # stands for every argument; the docs show such a value as …


def error_registry() -> List[errors.JWTError]:
    """An error from every constructor of ``errors``, with a marker for each argument
    it needs; a function that returns a constructor (``bad_key_of``) is called twice."""
    made = []
    for name, fn in inspect.getmembers(errors, inspect.isfunction):
        if fn.__module__ != errors.__name__ or name.startswith("_"):
            continue
        result = fn
        while callable(result) and not isinstance(result, errors.JWTError):
            params = inspect.signature(result).parameters.values()
            result = result(*[MARK for p in params if p.default is inspect.Parameter.empty])
        assert isinstance(result, errors.JWTError), name
        made.append(result)
    return made


def message_pattern(message: str) -> "re.Pattern[str]":
    """The message as the docs show it, in backticks: each marked value may read anything."""
    parts = re.split(r"'?" + re.escape(MARK) + r"'?", message)
    return re.compile("`" + "'?[^`]+?'?".join(re.escape(p) for p in parts) + "`")


def test_the_registry_is_found():
    messages = [e.message for e in error_registry()]
    assert len(messages) >= 30 and "invalid JWT signature" in messages
    assert any(MARK in m for m in messages)  # interpolated ones are among them


@pytest.mark.parametrize("error", error_registry(), ids=lambda e: e.message.replace(MARK, "…")[:60])
def test_every_error_is_in_the_error_tables(error):
    pattern = message_pattern(error.message)
    rows = [row for row in table_rows(ERRORS_PAGE) if pattern.search(row)]
    assert rows, f"docs/errors.md has no row for {error.sqlstate} {error.message.replace(MARK, '…')!r}"
    assert any(f"| {error.sqlstate} |" in row for row in rows), rows


def test_the_error_table_lives_in_one_place():
    """No other page repeats a message as a table row (they link to docs/errors.md)."""
    patterns = [message_pattern(e.message) for e in error_registry()]
    for page in PAGES:
        if page != ERRORS_PAGE:
            assert [row for row in table_rows(page) if any(p.search(row) for p in patterns)] == [], page
