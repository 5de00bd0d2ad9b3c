"""The reading functions with a JWK configured, and the SQL signatures.

Covers: no JWT (JSON null from ``auth.session()``, SQL NULL elsewhere),
``auth.jwt()`` as an alias, ``auth.uid()`` (canonical uuid, or NULL, exactly
as ``::uuid`` decides), ``auth.organization()`` / ``auth.organization_id()``,
``request.jwt.claims`` being ignored, the token cache, a newer token put
straight into ``pg_session_jwt.jwt``, a header without ``alg``,
``jwt_session_init(NULL)`` as STRICT would have it, the planner inlining
``jwt_session_init``, and volatility / types as in SPEC part A.
"""

from __future__ import annotations

import psycopg
import pytest
from helpers import scalar

from pg_session_jwt.signing import sign

UUID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
ROW = "SELECT auth.user_id(), auth.uid()::text, auth.organization(), auth.organization_id()::text"


def init(conn, token):
    conn.execute("SELECT auth.jwt_session_init(%s)", [token])


def session(conn):
    return scalar(conn, "SELECT auth.session()")


def pg_uuid(conn, text):
    """What PostgreSQL's own ``::uuid`` makes of the text (None when it refuses)."""
    try:
        return scalar(conn, "SELECT %s::uuid::text", [text])
    except psycopg.errors.InvalidTextRepresentation:
        return None


def test_no_jwt(connect):
    conn = connect()
    conn.execute("SELECT auth.init()")
    assert conn.execute("SELECT auth.session() IS NULL, auth.session() = 'null'::jsonb").fetchone() == (False, True)
    assert conn.execute("SELECT auth.jwt() IS NULL, auth.jwt() = 'null'::jsonb").fetchone() == (False, True)
    assert conn.execute(ROW).fetchone() == (None, None, None, None)


def test_jwt_is_session(connect, minter):
    conn = connect()
    init(conn, minter.token("alice", o={"id": UUID}, role="x"))
    assert conn.execute("SELECT auth.jwt() = auth.session(), auth.session() ->> 'role'").fetchone() == (True, "x")


def test_session_is_the_payload(connect, keypair, minter):
    claims = {"jti": minter.next_jti(), "sub": "alice", "aud": ["a", "b"], "n": 1.5, "s": "é \u2603", "x": None}
    conn = connect()
    init(conn, sign(keypair[0], claims))
    assert session(conn) == claims


SUBJECTS = [
    UUID,
    UUID.upper(),
    "{" + UUID + "}",
    UUID.replace("-", ""),
    "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",  # a hyphen after any group of four
    "not-a-uuid",
    UUID[:-1],
    UUID + "0",
    "{" + UUID,
    UUID + "}",
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
    "-" + UUID,
    "",
]


@pytest.mark.parametrize("sub", SUBJECTS)
def test_uid_matches_uuid_cast(connect, minter, sub):
    conn = connect()
    init(conn, minter.token(sub))
    assert conn.execute("SELECT auth.user_id(), auth.uid()::text").fetchone() == (sub, pg_uuid(conn, sub))


def test_uid_canonical_form(connect, minter):
    conn = connect()
    init(conn, minter.token("{" + UUID.upper().replace("-", "") + "}"))
    assert scalar(conn, "SELECT auth.uid()::text") == UUID


ORGANIZATIONS = {
    "object_with_uuid_id": ({"id": UUID.upper(), "role": "admin"}, UUID),
    "object_with_text_id": ({"id": "acme"}, None),
    "object_with_int_id": ({"id": 7}, None),
    "object_without_id": ({"name": "acme"}, None),
    "empty_object": ({}, None),
}


@pytest.mark.parametrize("o, org_id", ORGANIZATIONS.values(), ids=ORGANIZATIONS.keys())
def test_organization_object(connect, minter, o, org_id):
    conn = connect()
    init(conn, minter.token("alice", o=o))
    assert conn.execute("SELECT auth.organization(), auth.organization_id()::text").fetchone() == (o, org_id)


@pytest.mark.parametrize("o", [UUID, ["acme"], 7, None], ids=["string", "array", "number", "null"])
def test_organization_not_an_object(connect, minter, o):
    conn = connect()
    init(conn, minter.token("alice", o=o))
    assert conn.execute("SELECT auth.organization() IS NULL, auth.organization_id() IS NULL").fetchone() == (True, True)


def test_organization_missing(connect, minter):
    conn = connect()
    init(conn, minter.token("alice"))
    assert conn.execute("SELECT auth.organization() IS NULL, auth.organization_id() IS NULL").fetchone() == (True, True)


def test_request_jwt_claims_ignored(connect, minter):
    conn = connect()
    conn.execute("""SET request.jwt.claims = '{"sub": "mallory", "o": {"id": "%s"}}'""" % UUID)
    assert session(conn) is None  # JSON null
    assert conn.execute(ROW).fetchone() == (None, None, None, None)
    init(conn, minter.token("alice"))
    assert conn.execute(ROW).fetchone() == ("alice", None, None, None)


def test_same_token_served_again(connect, minter):
    conn = connect()
    init(conn, minter.token(UUID, o={"id": UUID}))
    first = conn.execute(f"{ROW}, auth.session()").fetchone()
    assert conn.execute(f"{ROW}, auth.session()").fetchone() == first
    assert first[:2] == (UUID, UUID)


def test_same_token_again_through_init(connect, minter):
    """Re-initialising with the current token is served from the cache, not a replay."""
    conn, token = connect(), minter.token("alice")
    init(conn, token)
    init(conn, token)
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


def test_newer_token_set_directly_is_served(connect, minter):
    conn = connect()
    init(conn, minter.token("alice"))
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [minter.token("bob", o={"id": UUID})])
    assert conn.execute(ROW).fetchone() == ("bob", None, {"id": UUID}, UUID)


def test_reader_without_init(connect, minter):
    """A reading function validates the setting without auth.init() (workers never call it)."""
    conn = connect()
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [minter.token("alice")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


@pytest.mark.parametrize("header", [{"kid": 1}, {"typ": "JWT"}, {"alg": "EdDSA"}], ids=["kid", "typ", "alg"])
def test_header_alg_optional(connect, keypair, minter, header):
    conn = connect()
    init(conn, sign(keypair[0], {"jti": minter.next_jti(), "sub": "alice"}, header=header))
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


def test_jwt_session_init_null_is_a_no_op(connect, minter):
    conn, token = connect(), minter.token("alice")
    init(conn, token)
    init(conn, None)
    assert conn.execute("SELECT auth.user_id(), current_setting('pg_session_jwt.jwt')").fetchone() == ("alice", token)


def test_jwt_session_init_null_without_jwk(connect):
    """STRICT: not even the missing-JWK error is raised."""
    init(connect(jwk=None), None)


SIGNATURES = {
    "init": ("", "v", "void"),
    "jwt_session_init": ("jwt text", "v", "void"),
    "session": ("", "s", "jsonb"),
    "jwt": ("", "s", "jsonb"),
    "user_id": ("", "s", "text"),
    "uid": ("", "s", "uuid"),
    "organization": ("", "s", "jsonb"),
    "organization_id": ("", "s", "uuid"),
}


def test_signatures(connect):
    rows = connect().execute(
        "SELECT proname, pg_get_function_identity_arguments(oid), provolatile, prorettype::regtype::text"
        " FROM pg_proc WHERE pronamespace = 'auth'::regnamespace AND proname = ANY(%s)",
        [list(SIGNATURES)],
    ).fetchall()
    reference = {(name, *rest) for name, *rest in rows if (name, *rest) != LOCAL_OVERLOAD}
    assert reference == {(name, *rest) for name, rest in SIGNATURES.items()}
    assert len(rows) == len(SIGNATURES) + 1  # the reference's API, plus the transaction-local overload


LOCAL_OVERLOAD = ("jwt_session_init", "jwt text, local boolean", "v", "void")


@pytest.mark.parametrize("call", ["auth.jwt_session_init(t)", "auth.jwt_session_init(t, true)"])
def test_jwt_session_init_is_inlined(connect, call):
    """The planner puts the body into the calling query (as with STRICT, a
    NULL argument is handled by the body, see the two tests above)."""
    plan = "\n".join(row[0] for row in connect().execute(
        f"EXPLAIN (VERBOSE, COSTS OFF) SELECT {call} FROM (VALUES ('x')) AS v(t)"))
    assert "auth._jwt_session_init(" in plan and "auth.jwt_session_init(" not in plan, plan


def test_accepted_tokens_never_load_plpgsql(connect, minter):
    """PL/pgSQL only raises refusals: a new connection whose session starts
    without one does not pay for loading it."""
    conn = connect(user="postgres")  # a superuser, to read the backend's own memory map
    conn.execute("SELECT auth.init()")
    init(conn, minter.token("alice"))
    conn.execute("SELECT auth.jwt_session_init(%s, true)", [minter.token("bob")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"
    maps = scalar(conn, "SELECT pg_read_file('/proc/self/maps')")
    assert "plpython3.so" in maps and "plpgsql.so" not in maps
    with pytest.raises(psycopg.errors.CheckViolation):
        init(conn, minter.token("carol")[:-4] + "AAAA")
    assert "plpgsql.so" in scalar(conn, "SELECT pg_read_file('/proc/self/maps')")
