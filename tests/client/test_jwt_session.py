"""jwt_session(): a block runs as the token's user, and the connection comes back clean."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from helpers import scalar
from psycopg import pq
from psycopg.rows import dict_row

from pg_session_jwt import client
from pg_session_jwt.client import is_token_refusal, jwt_session
from pg_session_jwt.options import startup_options
from pg_session_jwt.signing import Minter, ed25519_keypair

IDLE, INTRANS = pq.TransactionStatus.IDLE, pq.TransactionStatus.INTRANS
WHO = "SELECT auth.user_id()"


def jwt_setting(conn) -> str:
    return scalar(conn, "SELECT current_setting('pg_session_jwt.jwt', true)")


def assert_clean(conn):
    assert scalar(conn, WHO) is None
    assert jwt_setting(conn) in ("", None)


@pytest.fixture
def app_dsn(cluster, keypair):
    return cluster.dsn("app", "app", options=startup_options(jwk=keypair[1]))


def test_autocommit_session_then_clean(connect, minter):
    conn = connect()
    with jwt_session(conn, minter.token("alice")) as same:
        assert same is conn
        assert scalar(conn, WHO) == "alice"
    assert_clean(conn)
    with jwt_session(conn, minter.token("bob")):
        assert scalar(conn, WHO) == "bob"
    assert_clean(conn)


def test_clean_after_an_error_in_the_block(connect, minter):
    conn = connect()
    with pytest.raises(psycopg.errors.DivisionByZero):
        with jwt_session(conn, minter.token("alice")):
            conn.execute("SELECT 1/0")
    assert_clean(conn)


def test_refused_token_raises_and_block_does_not_run(connect, minter):
    conn = connect()
    forged = Minter(ed25519_keypair()[0]).token("mallory")
    ran = []
    with pytest.raises(psycopg.Error) as info:
        with jwt_session(conn, forged):
            ran.append(True)
    assert not ran
    assert (info.value.sqlstate, info.value.diag.message_primary) == ("23514", "invalid JWT signature")
    assert is_token_refusal(info.value)
    assert_clean(conn)


def test_works_whatever_the_row_factory(connect, minter):
    conn = connect()
    conn.row_factory = dict_row
    with jwt_session(conn, minter.token("alice")):
        assert conn.execute("SELECT auth.user_id() AS who").fetchone() == {"who": "alice"}
    assert conn.execute("SELECT auth.user_id() AS who").fetchone() == {"who": None}


def test_without_autocommit_joins_the_transaction(app_dsn, minter):
    with psycopg.connect(app_dsn) as conn:
        with jwt_session(conn, minter.token("alice")):
            assert scalar(conn, WHO) == "alice"
            assert conn.info.transaction_status == INTRANS
        # still in the caller's transaction: committing it keeps the cleared state
        assert conn.info.transaction_status == INTRANS
        conn.commit()
        assert_clean(conn)
        conn.rollback()


def test_without_autocommit_rolls_back_an_aborted_transaction(app_dsn, minter):
    with psycopg.connect(app_dsn) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            with jwt_session(conn, minter.token("alice")):
                conn.commit()  # the session is now committed...
                conn.execute("SELECT 1/0")  # ...and the next transaction fails
        assert conn.info.transaction_status == IDLE
        assert_clean(conn)
        conn.rollback()


def test_inside_a_transaction_block_the_owner_rolls_back(connect, minter):
    conn = connect()
    with pytest.raises(psycopg.errors.DivisionByZero):
        with conn.transaction():
            with jwt_session(conn, minter.token("alice")):
                conn.execute("SELECT 1/0")
    assert conn.info.transaction_status == IDLE
    assert_clean(conn)


def test_is_token_refusal_tells_tokens_from_configuration(connect, minter):
    def error_of(conn, sql, params=None):
        with pytest.raises(psycopg.Error) as info:
            conn.execute(sql, params)
        return info.value

    good = connect()
    assert is_token_refusal(error_of(good, "SELECT auth.jwt_session_init('not a token')"))  # 42804
    assert not is_token_refusal(error_of(good, "SELECT 1/0"))
    bad_key = connect(jwk={"kty": "OKP", "crv": "Ed25519", "x": "short"})
    assert not is_token_refusal(error_of(bad_key, "SELECT auth.init()"))  # 42804, but the key's fault
    assert not is_token_refusal(error_of(connect(jwk=None), "SELECT auth.init()"))  # 02000
    assert not is_token_refusal(ValueError("42804"))


def test_with_on_async_connection_and_async_with_on_sync_are_refused(connect, minter, app_dsn):
    with pytest.raises(TypeError, match="async with"):
        with jwt_session(object(), "t"):  # type: ignore[arg-type]
            pass

    async def misuse():
        async with jwt_session(connect(), minter.token("a")):
            pass

    with pytest.raises(TypeError, match="'with'"):
        asyncio.run(misuse())


def test_async_session(app_dsn, minter):
    async def main():
        async with await psycopg.AsyncConnection.connect(app_dsn, autocommit=True) as conn:
            async with jwt_session(conn, minter.token("alice")) as same:
                assert same is conn
                assert await (await conn.execute(WHO)).fetchone() == ("alice",)
            assert await (await conn.execute(WHO)).fetchone() == (None,)
            with pytest.raises(psycopg.errors.DivisionByZero):
                async with jwt_session(conn, minter.token("bob")):
                    await conn.execute("SELECT 1/0")
            assert await (await conn.execute(WHO)).fetchone() == (None,)
            forged = Minter(ed25519_keypair()[0]).token("mallory")
            with pytest.raises(psycopg.Error) as info:
                async with jwt_session(conn, forged):
                    pass
            assert info.value.sqlstate == "23514"

    asyncio.run(main())


def test_async_without_autocommit(app_dsn, minter):
    async def main():
        async with await psycopg.AsyncConnection.connect(app_dsn) as conn:
            with pytest.raises(psycopg.errors.DivisionByZero):
                async with jwt_session(conn, minter.token("alice")):
                    await conn.commit()
                    await conn.execute("SELECT 1/0")
            assert conn.info.transaction_status == IDLE
            assert await (await conn.execute(WHO)).fetchone() == (None,)
            await conn.rollback()

    asyncio.run(main())


# -- local=True ---------------------------------------------------------------


def test_local_on_a_server_without_the_overload(old_server_dsn, minter):
    with psycopg.connect(old_server_dsn, autocommit=True) as conn:
        for _ in range(2):
            with pytest.raises(psycopg.NotSupportedError, match="too old"):
                with jwt_session(conn, minter.token("alice"), local=True):
                    pytest.fail("the block must not run")
            assert conn.info.transaction_status == IDLE  # the transaction it opened is gone
        assert client._has_local[conn] is False  # checked once, remembered for the connection
        with jwt_session(conn, "plain-session"):  # local=False still works there
            assert scalar(conn, WHO) == "plain-session"


def test_local_async_on_a_server_without_the_overload(old_server_dsn, minter):
    async def main():
        async with await psycopg.AsyncConnection.connect(old_server_dsn, autocommit=True) as conn:
            with pytest.raises(psycopg.NotSupportedError, match="too old"):
                async with jwt_session(conn, minter.token("alice"), local=True):
                    pass
            assert conn.info.transaction_status == IDLE

    asyncio.run(main())


@pytest.fixture
def local_supported(server_has_local):
    if not server_has_local:
        pytest.skip("the installed extension has no auth.jwt_session_init(jwt text, local boolean) yet")


def test_local_session_lives_in_its_transaction(local_supported, connect, minter):
    conn = connect()
    with jwt_session(conn, minter.token("alice"), local=True):
        assert conn.info.transaction_status == INTRANS
        assert scalar(conn, WHO) == "alice"
    assert conn.info.transaction_status == IDLE
    assert scalar(conn, WHO) is None
    assert client._has_local[conn] is True


def test_local_session_rolls_back_on_error(local_supported, connect, minter):
    conn = connect()
    conn.execute("CREATE TEMP TABLE local_marks (n int)")
    with pytest.raises(psycopg.errors.DivisionByZero):
        with jwt_session(conn, minter.token("alice"), local=True):
            conn.execute("INSERT INTO local_marks VALUES (1)")
            conn.execute("SELECT 1/0")
    assert scalar(conn, "SELECT count(*) FROM local_marks") == 0
    assert scalar(conn, WHO) is None


def test_local_session_async(local_supported, app_dsn, minter):
    async def main():
        async with await psycopg.AsyncConnection.connect(app_dsn, autocommit=True) as conn:
            async with jwt_session(conn, minter.token("alice"), local=True):
                assert await (await conn.execute(WHO)).fetchone() == ("alice",)
            assert await (await conn.execute(WHO)).fetchone() == (None,)

    asyncio.run(main())
