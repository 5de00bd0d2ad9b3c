"""auth.jwt_session_init(jwt, true): a session for one transaction.

After COMMIT or ROLLBACK every reading function returns what it returned
before the transaction; tokens of many users may arrive in any order; a
subject's older token is refused once a newer one was used here.
"""

from __future__ import annotations

import time

import pytest
from helpers import scalar, sql_error

from pg_session_jwt.signing import sign

READ = "SELECT auth.user_id(), auth.session() = 'null'::jsonb"
OLDER = ("23514", "a newer token of this subject was already used on this connection")


def local_login(conn, token):
    conn.execute("SELECT auth.jwt_session_init(%s, true)", [token])


@pytest.mark.parametrize("end", ["COMMIT", "ROLLBACK"])
def test_a_local_session_ends_with_its_transaction(connect, minter, end):
    conn = connect()
    conn.execute("BEGIN")
    local_login(conn, minter.token("alice"))
    assert conn.execute(READ).fetchone() == ("alice", False)
    conn.execute(end)
    assert conn.execute(READ).fetchone() == (None, True)


def test_the_session_level_identity_comes_back(connect, minter):
    conn = connect()
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("bob")])
    with conn.transaction():
        local_login(conn, minter.token("alice"))
        assert scalar(conn, "SELECT auth.user_id()") == "alice"
    assert scalar(conn, "SELECT auth.user_id()") == "bob"
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("carol")])  # session jti order unaffected
    assert scalar(conn, "SELECT auth.user_id()") == "carol"


def test_outside_a_transaction_block_it_lasts_one_statement(connect, minter):
    conn = connect()
    local_login(conn, minter.token("alice"))
    assert scalar(conn, "SELECT auth.user_id()") is None


def test_users_in_any_order_and_tokens_reused(connect, minter):
    """What a transaction pooler does: many users' tokens, old and new, interleaved."""
    tokens = {sub: minter.token(sub) for sub in ["alice", "bob", "carol"]}
    conn = connect()
    for sub in ["carol", "alice", "bob", "alice", "carol", "carol"]:
        with conn.transaction():
            local_login(conn, tokens[sub])
            assert scalar(conn, "SELECT auth.user_id()") == sub


def test_a_subjects_older_token_is_refused_after_a_newer_one(connect, minter):
    conn = connect()
    older, newer = minter.token("alice"), minter.token("alice")
    with conn.transaction():
        local_login(conn, newer)
    with sql_error(*OLDER):
        with conn.transaction():
            local_login(conn, older)


def test_once_mode_orders_a_subjects_tokens_by_iat(connect, keypair):
    conn = connect(replay="once")
    now = int(time.time())
    older = sign(keypair[0], {"sub": "alice", "iat": now - 10, "exp": now + 300})
    newer = sign(keypair[0], {"sub": "alice", "iat": now, "exp": now + 300})
    for token in [older, newer, newer]:
        with conn.transaction():
            local_login(conn, token)
    with sql_error(*OLDER):
        with conn.transaction():
            local_login(conn, older)


def test_local_refusals_leave_the_transaction_state_alone(connect, minter):
    conn = connect()
    with conn.transaction():
        local_login(conn, minter.token("alice"))
        with pytest.raises(Exception):
            with conn.transaction():  # a savepoint
                local_login(conn, minter.token("mallory")[:-4] + "AAAA")
        assert scalar(conn, "SELECT auth.user_id()") == "alice"
