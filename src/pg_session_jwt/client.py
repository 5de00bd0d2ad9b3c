"""psycopg 3 helpers: run a block of work as the user a JWT names.

``jwt_session`` sends the token to the server (which verifies it: key,
signature, ``jti``, time) and makes sure the connection does not keep that
identity after the block, so it can go back to a pool.  It works with
``with`` on a :class:`psycopg.Connection` and ``async with`` on a
:class:`psycopg.AsyncConnection`.  The ``options`` helpers that put the key
in the startup packet are re-exported from :mod:`pg_session_jwt.options`.
"""

from __future__ import annotations

import weakref
from typing import Any, Generator, Optional, Sequence, Tuple, Union, cast

import psycopg
from psycopg import pq
from psycopg.rows import tuple_row

from .options import StartupPacketTooLarge, merge_options, startup_options, with_settings

__all__ = ["jwt_session", "is_token_refusal", "startup_options", "merge_options", "with_settings",
           "StartupPacketTooLarge"]

INIT = "SELECT auth.init(), auth.jwt_session_init(%s)"
INIT_LOCAL = "SELECT auth.init(), auth.jwt_session_init(%s, true)"
HAS_LOCAL = "SELECT to_regprocedure('auth.jwt_session_init(text, boolean)') IS NOT NULL"
# '' is what the extension reads as "no token" (a reset placeholder holds it).
CLEAR = "SELECT set_config('pg_session_jwt.jwt', '', false)"
TOO_OLD = (
    "the server's pg_session_jwt extension is too old for transaction-local sessions:"
    " auth.jwt_session_init(jwt text, local boolean) does not exist;"
    " run ALTER EXTENSION pg_session_jwt UPDATE after installing a newer version, or use local=False"
)
# SQLSTATEs of the extension's token refusals (its configuration errors share
# 42804 but name a pg_session_jwt.* setting first).
REFUSAL_SQLSTATES = frozenset({"23514", "42804"})

Query = Tuple[str, Sequence[Any]]
AnyConnection = Union["psycopg.Connection[Any]", "psycopg.AsyncConnection[Any]"]

# Whether each connection's server has the two-argument jwt_session_init.
_has_local: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def is_token_refusal(error: BaseException) -> bool:
    """True when the server refused the token itself (an HTTP API answers 401),
    not when the server is misconfigured (no key, a bad key: answer 500)."""
    if not isinstance(error, psycopg.Error) or error.sqlstate not in REFUSAL_SQLSTATES:
        return False
    return not (error.diag.message_primary or "").startswith("pg_session_jwt.")


def _start(conn: AnyConnection, token: str, local: bool) -> Generator[Query, Any, None]:
    """The statements that start a session; each yields a query and receives its first row."""
    if not local:
        yield INIT, (token,)
        return
    if conn not in _has_local:
        row = yield HAS_LOCAL, ()
        _has_local[conn] = bool(row[0])
    if not _has_local[conn]:
        raise psycopg.NotSupportedError(TOO_OLD)
    yield INIT_LOCAL, (token,)


def _run(conn: "psycopg.Connection[Any]", steps: Generator[Query, Any, None]) -> None:
    """Drive ``steps`` (tuple rows, whatever row factory the connection has)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        row = None
        while True:
            try:
                query = steps.send(row)
            except StopIteration:
                return
            row = cur.execute(*query).fetchone()


async def _arun(conn: "psycopg.AsyncConnection[Any]", steps: Generator[Query, Any, None]) -> None:
    async with conn.cursor(row_factory=tuple_row) as cur:
        row = None
        while True:
            try:
                query = steps.send(row)
            except StopIteration:
                return
            await cur.execute(*query)
            row = await cur.fetchone()


def _usable(conn: AnyConnection) -> bool:
    return not (conn.closed or conn.broken)


class jwt_session:
    """Run the enclosed block as the user ``token`` names.

    ``local=False`` (default): the token becomes the connection's session
    (``auth.jwt_session_init(token)``); on exit it is cleared, so the next
    user of the connection starts with none.  Meant for autocommit
    connections; with autocommit off it joins (or opens) the current
    transaction like any statement, and an aborted transaction is rolled back
    on exit.

    ``local=True``: a transaction (``conn.transaction()``) wraps the block and
    the token lives only inside it (``auth.jwt_session_init(token, true)``),
    which is what a transaction-pooling proxy needs.  Requires a server whose
    extension has that overload; otherwise :class:`psycopg.NotSupportedError`.

    A refused token raises the server's error (see :func:`is_token_refusal`);
    the block does not run.  ``__enter__`` returns the connection.
    """

    def __init__(self, conn: AnyConnection, token: str, local: bool = False):
        self.conn = conn
        self.token = token
        self.local = local
        self._tx: Any = None

    # -- sync ---------------------------------------------------------------
    def __enter__(self) -> "psycopg.Connection[Any]":
        conn = self.conn
        if not isinstance(conn, psycopg.Connection):
            raise TypeError("jwt_session: use 'async with' on an AsyncConnection")
        if self.local:
            self._tx = conn.transaction()
            self._tx.__enter__()
        try:
            _run(conn, _start(conn, self.token, self.local))
            return conn
        except BaseException as exc:
            if self._tx is not None:
                self._tx.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def __exit__(self, exc_type, exc, tb) -> Optional[bool]:
        conn = cast("psycopg.Connection[Any]", self.conn)  # __enter__ checked it
        if self.local:
            return self._tx.__exit__(exc_type, exc, tb)
        if not _usable(conn):
            return None
        status = conn.info.transaction_status
        if status == pq.TransactionStatus.INERROR:
            try:
                conn.rollback()
            except psycopg.ProgrammingError:
                return None  # inside conn.transaction(): its rollback undoes the session
            status = conn.info.transaction_status
        if conn.autocommit or status != pq.TransactionStatus.IDLE:
            conn.execute(CLEAR)
        else:
            with conn.transaction():
                conn.execute(CLEAR)
        return None

    # -- async --------------------------------------------------------------
    async def __aenter__(self) -> "psycopg.AsyncConnection[Any]":
        conn = self.conn
        if not isinstance(conn, psycopg.AsyncConnection):
            raise TypeError("jwt_session: use 'with' on a (sync) Connection")
        if self.local:
            self._tx = conn.transaction()
            await self._tx.__aenter__()
        try:
            await _arun(conn, _start(conn, self.token, self.local))
            return conn
        except BaseException as exc:
            if self._tx is not None:
                await self._tx.__aexit__(type(exc), exc, exc.__traceback__)
            raise

    async def __aexit__(self, exc_type, exc, tb) -> Optional[bool]:
        conn = cast("psycopg.AsyncConnection[Any]", self.conn)  # __aenter__ checked it
        if self.local:
            return await self._tx.__aexit__(exc_type, exc, tb)
        if not _usable(conn):
            return None
        status = conn.info.transaction_status
        if status == pq.TransactionStatus.INERROR:
            try:
                await conn.rollback()
            except psycopg.ProgrammingError:
                return None
            status = conn.info.transaction_status
        if conn.autocommit or status != pq.TransactionStatus.IDLE:
            await conn.execute(CLEAR)
        else:
            async with conn.transaction():
                await conn.execute(CLEAR)
        return None
