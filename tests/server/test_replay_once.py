"""pg_session_jwt.replay = once: provider tokens without an integer jti, end to end."""

from __future__ import annotations

import time

import psycopg
from helpers import scalar, sql_error

from pg_session_jwt.signing import sign

REUSED = ("23514", "JWT was already used on this connection")


def provider_token(private_jwk, sub: str) -> str:
    return sign(private_jwk, {"sub": sub, "exp": int(time.time()) + 300, "jti": f"{sub}-{time.time_ns()}"})


def test_provider_tokens_and_their_replay(connect, keypair):
    conn = connect(replay="once")
    alice = provider_token(keypair[0], "alice")
    conn.execute("SELECT auth.jwt_session_init(%s)", [alice])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"
    conn.execute("SELECT auth.jwt_session_init(%s)", [provider_token(keypair[0], "bob")])
    with sql_error(*REUSED):
        conn.execute("SELECT auth.jwt_session_init(%s)", [alice])
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [alice])
    with sql_error(*REUSED):
        conn.execute("SELECT auth.user_id()")


def test_rolled_back_login_does_not_survive(connect, keypair):
    conn = connect(replay="once")
    conn.execute("SELECT auth.jwt_session_init(%s)", [provider_token(keypair[0], "alice")])
    with conn.transaction(force_rollback=True):
        conn.execute("SELECT auth.jwt_session_init(%s)", [provider_token(keypair[0], "bob")])
    with sql_error(*REUSED):
        conn.execute("SELECT auth.user_id()")


def test_the_mode_is_trusted_only_from_connection_start(connect, keypair):
    conn = connect()
    conn.execute("SET pg_session_jwt.replay = once")
    with sql_error("42804", "JWT payload must contain a valid 'jti' (JWT ID)"):
        conn.execute("SELECT auth.jwt_session_init(%s)", [provider_token(keypair[0], "alice")])


def test_unknown_mode_fails_at_init(connect):
    conn = connect(replay="sometimes")
    with sql_error("42804", "pg_session_jwt.replay must be 'jti' or 'once'"):
        conn.execute("SELECT auth.init()")
