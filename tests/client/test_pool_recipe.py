"""The psycopg_pool recipe of docs/client.md: one pooled backend serves user after user,
each checkout runs as its own user, and the connection goes back with no identity."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from helpers import scalar
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from pg_session_jwt.client import jwt_session, with_settings

USERS = ["alice", "bob", "carol", "dave"]
WHO = "SELECT auth.user_id(), pg_backend_pid()"


@pytest.fixture
def pool_dsn(cluster, keypair):
    return with_settings(cluster.dsn("app", "app"), jwk=keypair[1])


@pytest.mark.parametrize("autocommit", [True, False], ids=["autocommit", "transactions"])
def test_each_checkout_is_its_own_user_on_one_backend(pool_dsn, minter, autocommit):
    seen = []
    # max_size=1: every checkout gets the same connection, the hardest case for leaks.
    with ConnectionPool(pool_dsn, min_size=1, max_size=1, open=True, kwargs={"autocommit": autocommit}) as pool:
        for user in USERS:
            with pool.connection() as conn:
                assert conn.execute(WHO).fetchone()[0] is None, "a previous user's identity leaked"
                with jwt_session(conn, minter.token(user)):
                    who, pid = conn.execute(WHO).fetchone()
                    seen.append((who, pid))
        with pool.connection() as conn:
            assert scalar(conn, "SELECT auth.user_id()") is None
    assert [who for who, _ in seen] == USERS
    assert len({pid for _, pid in seen}) == 1


def test_a_failing_request_returns_a_clean_connection(pool_dsn, minter):
    with ConnectionPool(pool_dsn, min_size=1, max_size=1, open=True) as pool:
        with pytest.raises(psycopg.errors.DivisionByZero):
            with pool.connection() as conn, jwt_session(conn, minter.token("alice")):
                conn.execute("SELECT 1/0")
        with pool.connection() as conn:
            assert scalar(conn, "SELECT auth.user_id()") is None
            with jwt_session(conn, minter.token("bob")):
                assert scalar(conn, "SELECT auth.user_id()") == "bob"


def test_async_pool(pool_dsn, minter):
    async def main():
        async with AsyncConnectionPool(pool_dsn, min_size=1, max_size=1, open=False,
                                       kwargs={"autocommit": True}) as pool:
            for user in USERS:
                async with pool.connection() as conn:
                    assert await (await conn.execute("SELECT auth.user_id()")).fetchone() == (None,)
                    async with jwt_session(conn, minter.token(user)):
                        assert await (await conn.execute("SELECT auth.user_id()")).fetchone() == (user,)

    asyncio.run(main())


def test_local_sessions_in_a_pool(pool_dsn, minter, server_has_local):
    """The recipe for a transaction pooler (or a pool shared by users whose tokens come
    in any order): each checkout is one transaction with a transaction-local session."""
    if not server_has_local:
        pytest.skip("the installed extension has no auth.jwt_session_init(jwt text, local boolean) yet")
    tokens = {user: minter.token(user) for user in USERS}  # minted up front, used in reverse order
    with ConnectionPool(pool_dsn, min_size=1, max_size=1, open=True, kwargs={"autocommit": True}) as pool:
        for user in reversed(USERS):
            with pool.connection() as conn, jwt_session(conn, tokens[user], local=True):
                assert scalar(conn, "SELECT auth.user_id()") == user
            with pool.connection() as conn:
                assert scalar(conn, "SELECT auth.user_id()") is None
