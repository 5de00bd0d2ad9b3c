"""pg_session_jwt.audit_log: LOG lines naming sub and aud, and who may turn it off.

An administrator's `on` (postgresql.conf, ALTER SYSTEM, ALTER DATABASE/ROLE
SET) cannot be undone by a non-superuser, neither with SET nor through the
startup packet.  The proof is read from the server log.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from helpers import log_lines, scalar

from pg_session_jwt.client import startup_options
from pg_session_jwt.cluster import Cluster


@pytest.fixture(scope="module")
def audited():
    """A cluster whose postgresql.conf turns auditing on."""
    with Cluster(settings={"pg_session_jwt.audit_log": "on"}) as c:
        c.create_app_database("app", "app")
        yield c


def app_connection(cluster: Cluster, **settings) -> psycopg.Connection:
    params = {"options": startup_options(**settings)} if settings else {}
    return psycopg.connect(cluster.dsn("app", "app", **params), autocommit=True)


def test_validation_and_reads_are_logged(audited, keypair, minter):
    sub = f"user-{uuid.uuid4()}"
    with app_connection(audited, jwk=keypair[1]) as conn:
        conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(sub, aud="my-api")])
        conn.execute("SELECT auth.user_id()")
    lines = log_lines(audited, sub)
    assert len(lines) == 2, lines
    assert all(f'sub="{sub}" aud="my-api"' in line and "LOG:" in line for line in lines)


@pytest.mark.parametrize("how", ["SET", "startup packet", "both"])
def test_non_superuser_cannot_turn_it_off(audited, keypair, minter, how):
    sub = f"user-{uuid.uuid4()}"
    settings = {"jwk": keypair[1]}
    if how in ("startup packet", "both"):
        settings["audit_log"] = "off"
    with app_connection(audited, **settings) as conn:
        if how in ("SET", "both"):
            conn.execute("SET pg_session_jwt.audit_log = off")
        assert scalar(conn, "SHOW pg_session_jwt.audit_log") == "off"
        conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(sub)])
    assert log_lines(audited, sub)


def test_refusals_are_logged(audited, keypair, minter):
    with app_connection(audited, jwk=keypair[1]) as conn:
        conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("first")])
        stale = minter.token("stale")
        conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("second")])
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("SELECT auth.jwt_session_init(%s)", [stale])
    assert log_lines(audited, "JWT refused: Token ID must be strictly monotonically increasing.")


def test_fallback_mode_logs_claims_or_their_absence(audited):
    sub = f"user-{uuid.uuid4()}"
    with app_connection(audited) as conn:
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)", [f'{{"sub": "{sub}", "aud": "x"}}'])
        conn.execute("SELECT auth.user_id()")
        conn.execute("RESET request.jwt.claims")
        before = len(log_lines(audited, "no JWT claims in request.jwt.claims", wait=False))
        conn.execute("SELECT auth.session()")
    assert any(f'sub="{sub}" aud="x"' in line for line in log_lines(audited, sub))
    assert len(log_lines(audited, "no JWT claims in request.jwt.claims")) == before + 1


def test_off_by_default_and_a_session_may_turn_it_on(cluster, connect, minter):
    quiet, loud = f"user-{uuid.uuid4()}", f"user-{uuid.uuid4()}"
    conn = connect()
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(quiet)])
    conn.execute("SET pg_session_jwt.audit_log = on")
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(loud)])
    assert log_lines(cluster, loud)
    assert not log_lines(cluster, quiet, wait=False)


@pytest.mark.parametrize("scope", ["DATABASE app", "ROLE app"])
def test_database_or_role_setting_cannot_be_undone_by_the_user(cluster, connect, minter, scope):
    sub = f"user-{uuid.uuid4()}"
    with cluster.connect() as su:
        su.execute(f"ALTER {scope} SET pg_session_jwt.audit_log = on")
        try:
            conn = connect(audit_log="off")
            conn.execute("SET pg_session_jwt.audit_log = off")
            conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(sub)])
        finally:
            su.execute(f"ALTER {scope} RESET pg_session_jwt.audit_log")
    assert log_lines(cluster, sub)
