"""PostgREST-compatible fallback: no JWK at connection start.

The readers then interpret ``request.jwt.claims`` (unset, empty or invalid
JSON is JSON null / SQL NULL, never an error), follow ``SET LOCAL`` changes
within a transaction, and ignore ``pg_session_jwt.jwt`` entirely.
"""

from __future__ import annotations

import json

import pytest
from helpers import scalar

UUID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
READ = (
    "SELECT auth.session(), auth.jwt(), auth.user_id(), auth.uid()::text,"
    " auth.organization(), auth.organization_id()::text"
)


@pytest.fixture
def conn(connect):
    return connect(jwk=None)


def set_claims(conn, claims):
    text = claims if isinstance(claims, str) else json.dumps(claims)
    conn.execute("SELECT set_config('request.jwt.claims', %s, false)", [text])


def read(conn):
    """(session, jwt, user_id, uid, organization, organization_id)."""
    return conn.execute(READ).fetchone()


NOTHING = (None, None, None, None, None, None)  # session/jwt here are JSON null


@pytest.mark.parametrize(
    "claims", [None, "", "{not json", '{"sub": "alice"', "NaN"], ids=["unset", "empty", "garbage", "truncated", "NaN"]
)
def test_no_claims(conn, claims):
    if claims is not None:
        set_claims(conn, claims)
    assert conn.execute("SELECT auth.session() IS NULL, auth.session() = 'null'::jsonb").fetchone() == (False, True)
    assert read(conn) == NOTHING


def test_valid_claims(conn):
    claims = {"sub": UUID.upper(), "role": "authenticated", "o": {"id": UUID, "slug": "acme"}, "aud": "x"}
    set_claims(conn, claims)
    assert read(conn) == (claims, claims, UUID.upper(), UUID, claims["o"], UUID)


@pytest.mark.parametrize(
    "claims, user_id, uid",
    [
        ({"sub": "alice"}, "alice", None),
        ({"sub": "{" + UUID.replace("-", "") + "}"}, "{" + UUID.replace("-", "") + "}", UUID),
        ({"sub": 42}, None, None),
        ({"sub": None}, None, None),
        ({"sub": ["alice"]}, None, None),
        ({}, None, None),
    ],
    ids=["text", "uuid_braces", "int", "null", "array", "missing"],
)
def test_subject(conn, claims, user_id, uid):
    set_claims(conn, claims)
    assert conn.execute("SELECT auth.user_id(), auth.uid()::text").fetchone() == (user_id, uid)


@pytest.mark.parametrize(
    "o, organization, org_id",
    [
        ({"id": UUID.upper()}, {"id": UUID.upper()}, UUID),
        ({"id": "acme"}, {"id": "acme"}, None),
        ("acme", None, None),
        ([UUID], None, None),
    ],
    ids=["uuid_id", "text_id", "string", "array"],
)
def test_organization(conn, o, organization, org_id):
    set_claims(conn, {"sub": "alice", "o": o})
    assert conn.execute("SELECT auth.organization(), auth.organization_id()::text").fetchone() == (organization, org_id)


def test_non_object_claims(conn):
    set_claims(conn, "[1, 2]")
    assert read(conn) == ([1, 2], [1, 2], None, None, None, None)


def test_set_local_in_transaction(conn):
    set_claims(conn, {"sub": "alice"})
    with conn.transaction():
        conn.execute("""SET LOCAL request.jwt.claims = '{"sub": "bob"}'""")
        assert scalar(conn, "SELECT auth.user_id()") == "bob"
        conn.execute("""SET LOCAL request.jwt.claims = '{"sub": "carol"}'""")
        assert scalar(conn, "SELECT auth.user_id()") == "carol"
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


def test_jwt_setting_ignored(conn, minter):
    set_claims(conn, {"sub": "alice"})
    conn.execute("SELECT set_config('pg_session_jwt.jwt', 'garbage', false)")
    assert read(conn)[:3] == ({"sub": "alice"}, {"sub": "alice"}, "alice")
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [minter.token("mallory")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


BIG_NUMBERS = {"1e400": '{"sub": "alice", "n": 1e400}', "5000_digits": '{"sub": "alice", "n": %s}' % ("9" * 5000)}


@pytest.mark.parametrize("claims", BIG_NUMBERS.values(), ids=BIG_NUMBERS.keys())
def test_numbers_python_cannot_hold(conn, claims):
    """Valid JSON that Python's json would turn into inf or refuse: never an error.

    Like the reference (serde_json refuses such numbers), the claims then
    count as unreadable: JSON null and NULL readers.
    """
    set_claims(conn, claims)
    assert read(conn) == NOTHING
