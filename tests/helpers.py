"""Assertion helpers for server tests."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import List, Optional

import psycopg
import pytest


@contextlib.contextmanager
def sql_error(sqlstate: str, message: str, detail: Optional[str] = None):
    """Expect a PostgreSQL error with exactly this SQLSTATE and message."""
    with pytest.raises(psycopg.Error) as info:
        yield info
    err = info.value
    assert (err.sqlstate, err.diag.message_primary) == (sqlstate, message), str(err)
    if detail is not None:
        assert err.diag.message_detail == detail


def scalar(conn: psycopg.Connection, sql: str, params=None):
    return conn.execute(sql, params).fetchone()[0]


def loader_body(conn: psycopg.Connection) -> str:
    return scalar(conn, "SELECT prosrc FROM pg_proc WHERE oid = 'auth._load'::regproc")


def code_file(conn: psycopg.Connection) -> Path:
    """The code file auth._load() reads, as its generated body names it."""
    return Path(re.search(r"^CODE_FILE = '([^']+)'$", loader_body(conn), re.M).group(1))


def log_lines(cluster, marker: str, wait: bool = True):
    """Lines of a Cluster's server log that mention ``marker`` (polls briefly for them)."""
    for _ in range(40 if wait else 1):
        lines = [line for line in cluster.log.read_text().splitlines() if marker in line]
        if lines:
            return lines
        time.sleep(0.05)
    return []


def warnings_of(conn: psycopg.Connection) -> List[str]:
    """A list that collects the WARNING messages the server sends this connection from now on."""
    seen: List[str] = []
    conn.add_notice_handler(lambda d: seen.append(d.message_primary) if d.severity_nonlocalized == "WARNING" else None)
    return seen
