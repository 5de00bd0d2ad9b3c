"""The JWK is trusted only from configuration or the startup packet.

Whatever a session does later with SET, SET LOCAL, set_config() or a
function's SET clause, the key that verifies tokens stays the one the
connection started with, and it is fixed once first used.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from helpers import scalar, sql_error

from pg_session_jwt.signing import Minter, ed25519_keypair

BAD_SIGNATURE = ("23514", "invalid JWT signature")
MISSING_KEY = ("02000", "Missing runtime parameter: pg_session_jwt.jwk")


@pytest.fixture(scope="module")
def attacker():
    """A key pair the server was never told about."""
    private, public = ed25519_keypair()
    return Minter(private), json.dumps(public)


def override_statements(jwk: str):
    """Every way a session can try to change the key after connecting."""
    quoted = "'" + jwk.replace("'", "''") + "'"
    return {
        "SET": [f"SET pg_session_jwt.jwk = {quoted}"],
        "SET LOCAL": ["BEGIN", f"SET LOCAL pg_session_jwt.jwk = {quoted}"],
        "set_config session": [f"SELECT set_config('pg_session_jwt.jwk', {quoted}, false)"],
        "set_config local": ["BEGIN", f"SELECT set_config('pg_session_jwt.jwk', {quoted}, true)"],
    }


METHODS = list(override_statements("x"))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("first_use", ["before", "after"])
def test_override_never_verifies(connect, minter, attacker, method, first_use):
    evil_minter, evil_jwk = attacker
    conn = connect()
    if first_use == "before":
        conn.execute("SELECT auth.init()")
    for stmt in override_statements(evil_jwk)[method]:
        conn.execute(stmt)
    with sql_error(*BAD_SIGNATURE):
        conn.execute("SELECT auth.jwt_session_init(%s)", [evil_minter.token("mallory")])
    _end_transaction(conn)
    for stmt in override_statements(evil_jwk)[method]:
        conn.execute(stmt)
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


@pytest.mark.parametrize("method", METHODS)
def test_override_without_startup_key_is_no_key(connect, attacker, method):
    evil_minter, evil_jwk = attacker
    conn = connect(jwk=None)
    for stmt in override_statements(evil_jwk)[method]:
        conn.execute(stmt)
    with sql_error(*MISSING_KEY):
        conn.execute("SELECT auth.init()")
    _end_transaction(conn)
    for stmt in override_statements(evil_jwk)[method]:
        conn.execute(stmt)
    with sql_error(*MISSING_KEY):
        conn.execute("SELECT auth.jwt_session_init(%s)", [evil_minter.token("mallory")])


def test_override_without_startup_key_reads_stay_in_fallback(connect, attacker):
    evil_minter, evil_jwk = attacker
    conn = connect(jwk=None)
    conn.execute("SELECT set_config('pg_session_jwt.jwk', %s, false)", [evil_jwk])
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [evil_minter.token("mallory")])
    conn.execute("""SET request.jwt.claims = '{"sub": "postgrest-user"}'""")
    assert scalar(conn, "SELECT auth.user_id()") == "postgrest-user"


def test_function_set_clause_is_ignored(cluster, connect, minter, attacker):
    """PostgreSQL 15 already refuses such a clause from a non-superuser;
    even one a superuser wrote does not change the verifying key."""
    evil_minter, evil_jwk = attacker
    with cluster.connect(dbname="app") as su:
        su.execute(
            f"""CREATE OR REPLACE FUNCTION public.login_as(tok text) RETURNS text
                LANGUAGE sql SET pg_session_jwt.jwk = {_literal(evil_jwk)}
                AS $$ SELECT auth.jwt_session_init(tok); SELECT auth.user_id() $$"""
        )
    conn = connect()
    with sql_error(*BAD_SIGNATURE):
        conn.execute("SELECT public.login_as(%s)", [evil_minter.token("mallory")])
    assert scalar(conn, "SELECT public.login_as(%s)", [minter.token("alice")]) == "alice"


def test_reading_the_key_leaves_the_session_settings_alone(connect, attacker):
    _, evil_jwk = attacker
    conn = connect()
    conn.execute("SELECT set_config('pg_session_jwt.jwk', %s, false)", [evil_jwk])
    conn.execute("SELECT auth.init()")
    assert scalar(conn, "SHOW pg_session_jwt.jwk") == evil_jwk


@pytest.mark.parametrize("scope", ["ROLE app", "DATABASE app"])
def test_key_from_alter_role_or_database(cluster, connect, minter, keypair, scope):
    with cluster.connect() as su:
        su.execute(f"ALTER {scope} SET pg_session_jwt.jwk = %s" % _literal(json.dumps(keypair[1])))
        try:
            conn = connect(jwk=None)
            conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
            assert scalar(conn, "SELECT auth.user_id()") == "alice"
        finally:
            su.execute(f"ALTER {scope} RESET pg_session_jwt.jwk")


def test_key_is_fixed_once_used(cluster, connect, keypair, minter, attacker):
    """A configuration change and reload does not swap the key under a live connection."""
    evil_minter, evil_jwk = attacker
    with cluster.connect() as su:
        su.execute("SET pg_session_jwt.jwk TO DEFAULT")  # ALTER SYSTEM needs the placeholder to exist
        su.execute("ALTER SYSTEM SET pg_session_jwt.jwk = %s" % _literal(json.dumps(keypair[1])))
        su.execute("SELECT pg_reload_conf()")
        try:
            conn = connect(jwk=None)
            conn.execute("SELECT auth.init()")
            su.execute("ALTER SYSTEM SET pg_session_jwt.jwk = %s" % _literal(evil_jwk))
            su.execute("SELECT pg_reload_conf()")
            _wait_for_reload(conn, evil_jwk)
            with sql_error(*BAD_SIGNATURE):
                conn.execute("SELECT auth.jwt_session_init(%s)", [evil_minter.token("mallory")])
            conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
            assert scalar(conn, "SELECT auth.user_id()") == "alice"
        finally:
            su.execute("ALTER SYSTEM RESET pg_session_jwt.jwk")
            su.execute("SELECT pg_reload_conf()")


def _end_transaction(conn) -> None:
    """Leave the transaction a failed statement left open, if any."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _wait_for_reload(conn, expected: str) -> None:
    """The backend applies a reload between statements; poll until it has."""
    for _ in range(100):
        if scalar(conn, "SELECT current_setting('pg_session_jwt.jwk', true)") == expected:
            return
        time.sleep(0.05)
    raise AssertionError("configuration reload did not reach the backend")
