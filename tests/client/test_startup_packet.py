"""The startup packet's 10,000-byte limit, measured before connecting.

The size the helpers compute is checked against the real server: a packet
of exactly the limit connects, one byte more is refused by the server (with
an opaque error) and by the helpers (with one that names the ways out).
"""

from __future__ import annotations

import json

import psycopg
import pytest
from helpers import scalar
from providers import microsoft
from psycopg import conninfo

from pg_session_jwt.client import StartupPacketTooLarge, merge_options, startup_options, with_settings
from pg_session_jwt.jwks import judge
from pg_session_jwt.options import STARTUP_PACKET_LIMIT, startup_packet_size, startup_parameters


@pytest.fixture(scope="module")
def entra():
    return microsoft()


def padded_dsn(cluster, size: int) -> str:
    """A DSN whose startup packet is exactly ``size`` bytes, padded with a harmless setting."""
    base = cluster.dsn("app", "app", options="-c pg_session_jwt.pad=")
    bare = startup_packet_size(startup_parameters(conninfo.conninfo_to_dict(base)))
    return cluster.dsn("app", "app", options="-c pg_session_jwt.pad=" + "x" * (size - bare))


def test_packet_at_the_limit_connects_and_one_byte_more_does_not(cluster):
    at_limit = padded_dsn(cluster, STARTUP_PACKET_LIMIT)
    with psycopg.connect(at_limit) as conn:
        assert len(scalar(conn, "SELECT current_setting('pg_session_jwt.pad')")) > 9000
    over = padded_dsn(cluster, STARTUP_PACKET_LIMIT + 1)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(over)
    assert "invalid length of startup packet" in cluster.log.read_text()
    with pytest.raises(StartupPacketTooLarge):
        with_settings(over)


def test_provider_set_too_large_is_refused_before_connecting_naming_the_ways_out(entra):
    for build in (lambda: startup_options(jwk=entra.jwks), lambda: merge_options("-c search_path=app", jwk=entra.jwks),
                  lambda: with_settings("dbname=app", jwk=entra.jwks)):
        with pytest.raises(StartupPacketTooLarge) as info:
            build()
        message = str(info.value)
        assert f"PostgreSQL refuses more than {STARTUP_PACKET_LIMIT:,}" in message
        assert "pg-session-jwt jwks compact" in message and "ALTER DATABASE/ROLE ... SET pg_session_jwt.jwk" in message


def test_the_same_set_compacted_fits_and_serves(cluster, entra):
    compacted = judge.compact(entra.jwks)
    assert len(json.dumps(entra.jwks, separators=(",", ":"))) > STARTUP_PACKET_LIMIT
    options = startup_options(jwk=compacted, replay="once", audience=entra.audience, issuer=entra.iss)
    with psycopg.connect(cluster.dsn("app", "app", options=options), autocommit=True) as conn:
        conn.execute("SELECT auth.jwt_session_init(%s)", [entra.token("entra-user")])
        assert scalar(conn, "SELECT auth.user_id()") == "entra-user"
