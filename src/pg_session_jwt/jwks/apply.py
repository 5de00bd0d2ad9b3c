"""Write a key set into ``pg_session_jwt.jwk``, where only an administrator can.

The server trusts the setting from its configuration (``ALTER SYSTEM``, then
``pg_reload_conf()``), from ``ALTER DATABASE``/``ALTER ROLE ... SET``, or from
the startup packet.  The first three are what this module writes; each
applies to connections opened afterwards, while open connections keep the
keys they fixed at first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import psycopg
from psycopg import sql

from .. import errors
from . import judge

# An ALTER DATABASE or ALTER ROLE value: {database} and {role} pick the row.
_PER_DATABASE_OR_ROLE = (
    "SELECT substr(cfg, length('pg_session_jwt.jwk=') + 1)"
    " FROM pg_catalog.pg_db_role_setting, unnest(setconfig) AS cfg"
    " WHERE setdatabase = {database} AND setrole = {role} AND cfg LIKE 'pg\\_session\\_jwt.jwk=%%'"
)
_CURRENT = {
    # What the configuration files say now: the last entry wins (superusers only).
    "system": "SELECT setting FROM pg_catalog.pg_file_settings WHERE name = 'pg_session_jwt.jwk'"
              " AND error IS NULL ORDER BY seqno DESC LIMIT 1",
    "database": _PER_DATABASE_OR_ROLE.format(
        database="(SELECT oid FROM pg_catalog.pg_database WHERE datname = %s)", role="0"),
    "role": _PER_DATABASE_OR_ROLE.format(
        database="0", role="(SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s)"),
}


@dataclass(frozen=True)
class Target:
    """Where the setting goes: ``system``, or a ``database`` or ``role`` by name."""

    scope: str
    name: Optional[str] = None

    def __str__(self) -> str:
        return "ALTER SYSTEM" if self.scope == "system" else f"ALTER {self.scope.upper()} {self.name}"

    def current(self, conn: psycopg.Connection) -> Optional[str]:
        """The value this target holds now (None: not set there)."""
        params = [] if self.scope == "system" else [self.name]
        row = conn.execute(_CURRENT[self.scope], params).fetchone()
        return row[0] if row else None

    def write(self, conn: psycopg.Connection, text: str) -> None:
        """Set it; with ALTER SYSTEM, reload so new connections read it."""
        if self.scope == "system":
            # ALTER SYSTEM accepts a placeholder only once this session knows it.
            conn.execute("SET pg_session_jwt.jwk TO DEFAULT")
            conn.execute(sql.SQL("ALTER SYSTEM SET pg_session_jwt.jwk = {}").format(sql.Literal(text)))
            conn.execute("SELECT pg_catalog.pg_reload_conf()")
            return
        verb = sql.SQL("DATABASE" if self.scope == "database" else "ROLE")
        conn.execute(sql.SQL("ALTER {} {} SET pg_session_jwt.jwk = {}").format(
            verb, sql.Identifier(self.name), sql.Literal(text)))


@dataclass
class Change:
    """What applying a set does to a target."""

    target: Target
    text: str
    previous: Optional[str]
    added: list
    removed: list

    @property
    def changed(self) -> bool:
        return self.previous is None or _json(self.previous) != _json(self.text)


def _json(text: str) -> Optional[Dict[str, Any]]:
    """The setting as the server reads it; None when it is not a JSON object."""
    try:
        return judge.load(text)
    except errors.JWTError:
        return None


def plan(conn: psycopg.Connection, target: Target, value: Dict[str, Any]) -> Change:
    """The change that writing ``value`` to ``target`` would make."""
    text = judge.dumps(value)
    previous = target.current(conn)
    old = judge.kids(_json(previous)) if previous else []
    new = judge.kids(value)
    return Change(target, text, previous, [k for k in new if k not in old], [k for k in old if k not in new])
