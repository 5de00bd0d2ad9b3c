"""Hostile tokens and transaction tricks against an established session.

Each test starts from a connection where alice's token was validated, throws
something at it (a forged or tampered token, ``alg`` confusion, a replay, a
rolled-back switch of identity, abusive input) and checks that it is refused
with a clean SQL error, that the backend survived (same pid, ``SELECT 1``
works) and that alice's session is exactly as it was, or, after a rollback,
that no identity at all is served rather than a wrong one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import psycopg
import pytest
from craft import HEADER, REFUSED, part, replace_part, signed
from helpers import scalar, sql_error
from psycopg import sql

from pg_session_jwt import b64url
from pg_session_jwt.signing import ed25519_keypair, sign

BAD_SIG = ("23514", "invalid JWT signature")
PARSE = ("42804", "could not parse JWT component")
REPLAY = ("23514", "Token ID must be strictly monotonically increasing.")
READERS = ["auth.session()", "auth.user_id()", "auth.uid()", "auth.organization()", "auth.organization_id()"]


# --- local helpers ------------------------------------------------------------


@pytest.fixture
def alice(connect, minter):
    """(connection, token): alice's session, already validated."""
    conn, token = connect(), minter.token("alice")
    conn.execute("SELECT auth.jwt_session_init(%s)", [token])
    return conn, token


def state(conn):
    """Everything that must survive a refused token, backend pid included."""
    return conn.execute(
        "SELECT 1, pg_backend_pid(), auth.user_id(), current_setting('pg_session_jwt.jwt')"
    ).fetchone()


def via_init(conn, token):
    conn.execute("SELECT auth.jwt_session_init(%s)", [token])


def via_set_config(conn, token):
    """Put the token in the setting and read it; the refusal rolls the setting back."""
    with conn.transaction():
        conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [token])
        conn.execute("SELECT auth.user_id()")


def assert_refused(conn, token, error=None):
    """Both ways in refuse the token cleanly and leave the session untouched."""
    before = state(conn)
    for submit in (via_init, via_set_config):
        with pytest.raises(psycopg.Error) as info:
            submit(conn, token)
        got = (info.value.sqlstate, info.value.diag.message_primary)
        if error is None:
            assert got[0] in REFUSED, got
        else:
            assert got == error
        assert state(conn) == before


def payload_of(token):
    return json.loads(b64url.decode(token.split(".")[1]))


# --- forgery ------------------------------------------------------------------


def test_signed_by_another_key(alice, minter):
    other = ed25519_keypair()[0]
    assert_refused(alice[0], sign(other, {"jti": minter.next_jti(), "sub": "mallory"}), BAD_SIG)


def test_tampered_payload(alice, minter):
    token = minter.token("bob")
    forged = replace_part(token, 1, part(dict(payload_of(token), sub="mallory")))
    assert_refused(alice[0], forged, BAD_SIG)


def test_tampered_header(alice, minter):
    forged = replace_part(minter.token("bob"), 0, part({"alg": "EdDSA", "typ": "JWT", "kid": "mallory"}))
    assert_refused(alice[0], forged, BAD_SIG)


@pytest.mark.parametrize("signature", ["", "garbage", b64url.encode(bytes(64))], ids=["empty", "garbage", "64_zeros"])
@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none(alice, minter, alg, signature):
    body = part({"jti": minter.next_jti(), "sub": "mallory"})
    assert_refused(alice[0], f"{part({'alg': alg, 'typ': 'JWT'})}.{body}.{signature}")


def _hmac_token(alg, secret: bytes, claims):
    header = part({"alg": alg, "typ": "JWT"} if alg else {"typ": "JWT"})
    signing_input = f"{header}.{part(claims)}"
    digest = hashlib.sha512 if alg in (None, "HS512") else hashlib.sha256
    return f"{signing_input}.{b64url.encode(hmac.new(secret, signing_input.encode(), digest).digest())}"


SECRETS = {
    "public_key_bytes": lambda jwk: b64url.decode(jwk["x"]),
    "jwk_text": lambda jwk: json.dumps(jwk, separators=(",", ":")).encode(),
    "x_text": lambda jwk: jwk["x"].encode(),
}


@pytest.mark.parametrize("alg", ["HS256", "HS512", None], ids=["HS256", "HS512", "no_alg_HS512"])
@pytest.mark.parametrize("secret", SECRETS.values(), ids=SECRETS.keys())
def test_hmac_with_public_key_as_secret(alice, keypair, minter, secret, alg):
    token = _hmac_token(alg, secret(keypair[1]), {"jti": minter.next_jti(), "sub": "mallory"})
    # Without alg the 64-byte HMAC-SHA512 reaches Ed25519 verification, and fails it.
    assert_refused(alice[0], token, BAD_SIG if alg is None else None)


# --- replay and rollback --------------------------------------------------------


@pytest.fixture
def bob_after_alice(alice, minter):
    """(connection, alice's older token, bob's current token)."""
    conn, older = alice
    newer = minter.token("bob")
    via_init(conn, newer)
    return conn, older, newer


def test_replay_via_jwt_session_init(bob_after_alice):
    conn, older, newer = bob_after_alice
    with sql_error(*REPLAY):
        via_init(conn, older)
    assert state(conn)[2:] == ("bob", newer)


def assert_no_identity(conn):
    """Every reader refuses (replay check) rather than serve any identity."""
    for reader in READERS:
        with sql_error(*REPLAY):
            conn.execute(f"SELECT {reader}")


@pytest.mark.parametrize(
    "statement",
    [sql.SQL("SET pg_session_jwt.jwt = {}"), sql.SQL("SELECT set_config('pg_session_jwt.jwt', {}, false)")],
    ids=["SET", "set_config"],
)
def test_replay_via_setting(bob_after_alice, statement):
    conn, older, _ = bob_after_alice
    conn.execute(statement.format(older))
    assert_no_identity(conn)


def _rollback_transaction(conn, token):
    with pytest.raises(psycopg.errors.RaiseException):
        with conn.transaction():
            via_init(conn, token)
            assert scalar(conn, "SELECT auth.user_id()") == "bob"
            conn.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back'; END $$")


def _rollback_to_savepoint(conn, token):
    with conn.transaction():
        with pytest.raises(psycopg.errors.RaiseException):
            with conn.transaction():  # a savepoint
                via_init(conn, token)
                conn.execute("DO $$ BEGIN RAISE EXCEPTION 'roll back'; END $$")


def _rollback_plpgsql_block(conn, token):
    conn.execute(
        sql.SQL(
            "DO $$ BEGIN"
            " BEGIN PERFORM auth.jwt_session_init({}); RAISE EXCEPTION 'roll back';"
            " EXCEPTION WHEN raise_exception THEN NULL; END;"
            " END $$"
        ).format(token)
    )


@pytest.mark.parametrize("roll_back", [_rollback_transaction, _rollback_to_savepoint, _rollback_plpgsql_block])
def test_rolled_back_identity_never_survives(alice, minter, roll_back):
    conn, older = alice
    roll_back(conn, minter.token("bob"))
    assert scalar(conn, "SELECT current_setting('pg_session_jwt.jwt')") == older
    assert_no_identity(conn)
    via_init(conn, minter.token("carol"))  # a newer token recovers the connection
    assert scalar(conn, "SELECT auth.user_id()") == "carol"


# --- a failed jwt_session_init changes nothing -------------------------------------

BAD_TOKENS = {
    "forged": lambda m: sign(ed25519_keypair()[0], {"jti": m.next_jti(), "sub": "mallory"}),
    "expired": lambda m: m.token("mallory", exp=0),
    "replayed": lambda m: sign(m.private_jwk, {"jti": 1, "sub": "mallory"}),
    "garbage": lambda m: "not.a.token",
}


@pytest.mark.parametrize("bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_failed_init_keeps_session(alice, minter, bad):
    conn, token = alice
    before = state(conn)
    with pytest.raises(psycopg.Error):
        via_init(conn, bad(minter))
    assert state(conn) == before
    assert before[2:] == ("alice", token)


@pytest.mark.parametrize("bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_failed_init_in_savepoint_keeps_session(alice, minter, bad):
    conn, token = alice
    with conn.transaction():
        with pytest.raises(psycopg.Error):
            with conn.transaction():
                via_init(conn, bad(minter))
        assert state(conn)[2:] == ("alice", token)  # still inside the outer transaction
    assert state(conn)[2:] == ("alice", token)


@pytest.mark.parametrize("bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_failed_init_in_plpgsql_exception_block_keeps_session(alice, minter, bad):
    conn, token = alice
    conn.execute(
        sql.SQL(
            "DO $$ BEGIN"
            " BEGIN PERFORM auth.jwt_session_init({}); EXCEPTION WHEN OTHERS THEN NULL; END;"
            " IF auth.user_id() IS DISTINCT FROM 'alice' THEN"
            "   RAISE EXCEPTION 'identity after the caught failure: %', auth.user_id();"
            " END IF;"
            " END $$"
        ).format(bad(minter))
    )
    assert state(conn)[2:] == ("alice", token)


# --- abusive input: refused cleanly, backend alive, session untouched ---------------


def _noise(seed, size):
    """NUL-free binary garbage, as text (each byte a code point up to U+00FF)."""
    return random.Random(seed).randbytes(size).replace(b"\0", b"\1").decode("latin-1")


def _signed_raw(payload: bytes):
    return lambda k, m: signed(k, HEADER, part(payload.replace(b"JTI", str(m.next_jti()).encode())))


DEEP = 10_000  # deep enough to overflow any recursive parser, small enough to pass the size limit
TOO_LARGE = ("54000", "JWT exceeds the maximum size")
ABUSE = {
    "1MB_one_part": (lambda k, m: "a" * 2**20, TOO_LARGE),
    "1MB_three_parts": (lambda k, m: ".".join(["A" * 2**20, "A" * 4, "A" * 86]), TOO_LARGE),
    "random_text": (lambda k, m: _noise(1, 4096), None),
    "random_three_parts": (lambda k, m: ".".join(_noise(s, 300) for s in (2, 3, 4)), None),
    "random_base64url_parts": (lambda k, m: ".".join([HEADER, part(_noise(5, 200).encode()), part(bytes(64))]), BAD_SIG),
    "header_nested_deep": (lambda k, m: replace_part(m.token("x"), 0, part(b"[" * DEEP + b"]" * DEEP)), PARSE),
    "payload_nested_deep": (_signed_raw(b'{"jti":JTI,"sub":"x","n":' + b"[" * DEEP + b"]" * DEEP + b"}"), PARSE),
    "payload_nul_in_value": (_signed_raw(b'{"jti":JTI,"sub":"al\\u0000ice"}'), PARSE),
    "payload_nul_in_key": (_signed_raw(b'{"jti":JTI,"sub":"x","a\\u0000":1}'), PARSE),
    "payload_lone_surrogate": (_signed_raw(b'{"jti":JTI,"sub":"\\ud800"}'), PARSE),
    "payload_5000_digit_int": (_signed_raw(b'{"jti":JTI,"sub":"x","n":' + b"9" * 5000 + b"}"), PARSE),
    "payload_float_overflow": (_signed_raw(b'{"jti":JTI,"sub":"x","n":1e400}'), PARSE),
    "payload_nan": (_signed_raw(b'{"jti":JTI,"sub":"x","n":NaN}'), PARSE),
}


@pytest.mark.parametrize("make, error", ABUSE.values(), ids=ABUSE.keys())
def test_abusive_input(alice, keypair, minter, make, error):
    assert_refused(alice[0], make(keypair[0], minter), error)


def test_every_truncated_prefix(alice, minter):
    conn = alice[0]
    token = minter.token("bob", o={"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"})
    before = state(conn)
    for length in range(len(token)):
        with pytest.raises(psycopg.Error) as info:
            via_init(conn, token[:length])
        assert info.value.sqlstate in REFUSED, (length, info.value)
    for length in range(0, len(token), 7):
        if length:  # an empty setting means "no JWT", not a token
            with pytest.raises(psycopg.Error) as info:
                via_set_config(conn, token[:length])
            assert info.value.sqlstate in REFUSED, (length, info.value)
    assert state(conn) == before
