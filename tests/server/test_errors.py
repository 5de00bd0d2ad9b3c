"""The error table of SPEC part A, row by row: exact SQLSTATE and message
(and the ``nbf=`` / ``exp=`` detail of the time checks).

A token error must come out the same whether the token arrives through
``auth.jwt_session_init()`` or is put in ``pg_session_jwt.jwt`` with
``set_config()`` and then read by ``auth.session()`` / ``auth.user_id()``,
since a reading function validates whatever the setting holds.
"""

from __future__ import annotations

import json

import pytest
from craft import HEADER, now, part, replace_part, signed, with_signature
from helpers import scalar, sql_error

from pg_session_jwt import b64url
from pg_session_jwt.signing import ed25519_keypair, sign

MISSING_JWK = ("02000", "Missing runtime parameter: pg_session_jwt.jwk")
BAD_JWK = ("42804", "pg_session_jwt.jwk requires an Ed25519 JWK")
ENCODING = ("42804", "invalid JWT encoding")
DECODE = ("42804", "could not decode JWT component")
PARSE = ("42804", "could not parse JWT component")
SIG_ENCODING = ("42804", "invalid JWT signature encoding")
BAD_SIG = ("23514", "invalid JWT signature")
BAD_JTI = ("42804", "JWT payload must contain a valid 'jti' (JWT ID)")
REPLAY = ("23514", "Token ID must be strictly monotonically increasing.")
BAD_NBF = ("42804", "'nbf' (Not Before) must be an integer representing seconds since unix epoch")
BAD_EXP = ("42804", "'exp' (Expiration) must be an integer representing seconds since unix epoch")
TOO_EARLY = ("23514", "Token used before it is ready")
EXPIRED = ("23514", "Token used after it has expired")
BAD_SUB = ("42804", "invalid subject claim in the JWT")


# --- how a token reaches the extension ----------------------------------------


def via_init(conn, token):
    conn.execute("SELECT auth.jwt_session_init(%s)", [token])


def via_reader(reader):
    def submit(conn, token):
        conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [token])
        conn.execute(f"SELECT {reader}")

    return submit


SUBMIT = [
    pytest.param(via_init, id="jwt_session_init"),
    pytest.param(via_reader("auth.session()"), id="session"),
    pytest.param(via_reader("auth.user_id()"), id="user_id"),
]


# --- the JWK ----------------------------------------------------------------


def test_no_jwk_init(connect):
    with sql_error(*MISSING_JWK):
        connect(jwk=None).execute("SELECT auth.init()")


def test_no_jwk_jwt_session_init(connect, minter):
    with sql_error(*MISSING_JWK):
        via_init(connect(jwk=None), minter.token("alice"))


def _x(data: bytes) -> dict:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url.encode(data)}


GOOD_X = b64url.decode(ed25519_keypair()[1]["x"])
BAD_JWKS = {
    "not_json": "not a key",
    "json_array": "[]",
    "wrong_kty": json.dumps(dict(_x(GOOD_X), kty="XYZ")),
    "wrong_crv": json.dumps(dict(_x(GOOD_X), crv="X25519")),
    "x_missing": json.dumps({"kty": "OKP", "crv": "Ed25519"}),
    "x_31_bytes": json.dumps(_x(GOOD_X[:31])),
    "x_33_bytes": json.dumps(_x(GOOD_X + b"\0")),
    "x_not_base64url": json.dumps(dict(_x(GOOD_X), x="*" * 43)),
    "x_padded": json.dumps(dict(_x(GOOD_X), x=b64url.encode(GOOD_X) + "=")),
    "x_small_order": json.dumps(_x(b"\x01" + bytes(31))),  # the identity point
}


@pytest.mark.parametrize("jwk", BAD_JWKS.values(), ids=BAD_JWKS.keys())
def test_invalid_jwk_at_init(connect, jwk):
    with sql_error(*BAD_JWK):
        connect(jwk=jwk).execute("SELECT auth.init()")


@pytest.mark.parametrize("submit", SUBMIT)
@pytest.mark.parametrize("jwk", [BAD_JWKS["not_json"], BAD_JWKS["wrong_crv"], BAD_JWKS["x_31_bytes"]])
def test_invalid_jwk_when_validating(connect, minter, jwk, submit):
    with sql_error(*BAD_JWK):
        submit(connect(jwk=jwk), minter.token("alice"))


# --- the token ----------------------------------------------------------------


def _payload(m, **claims):
    return {"jti": m.next_jti(), "sub": "alice", **claims}


def _good(k, m):
    return sign(k, _payload(m))


def _flip_a_signature_bit(token):
    signature = bytearray(b64url.decode(token.split(".")[2]))
    signature[0] ^= 1
    return with_signature(token, bytes(signature))


# id: (make(private_jwk, minter) -> token, expected error)
TOKENS = {
    "one_part": (lambda k, m: "garbage", ENCODING),
    "two_parts": (lambda k, m: _good(k, m).rsplit(".", 1)[0], ENCODING),
    "four_parts": (lambda k, m: _good(k, m) + "." + part({}), ENCODING),
    "header_not_base64url": (lambda k, m: replace_part(_good(k, m), 0, "e30*"), DECODE),
    "header_base64_padded": (lambda k, m: replace_part(_good(k, m), 0, part({"a": 1}) + "=="), DECODE),
    "payload_not_base64url": (lambda k, m: signed(k, HEADER, "eyJqdGkiOjF9!"), DECODE),
    "header_not_json": (lambda k, m: replace_part(_good(k, m), 0, part(b"not json")), PARSE),
    "header_array": (lambda k, m: replace_part(_good(k, m), 0, part(["EdDSA"])), PARSE),
    "payload_not_json": (lambda k, m: signed(k, HEADER, part(b"{jti: 1}")), PARSE),
    "payload_array": (lambda k, m: signed(k, HEADER, part([_payload(m)])), PARSE),
    "payload_not_utf8": (lambda k, m: signed(k, HEADER, part(b'{"jti":9,"sub":"\xff"}')), PARSE),
    "signature_not_base64url": (lambda k, m: replace_part(_good(k, m), 2, "*" * 86), SIG_ENCODING),
    "signature_63_bytes": (lambda k, m: with_signature(_good(k, m), bytes(63)), SIG_ENCODING),
    "signature_65_bytes": (lambda k, m: with_signature(_good(k, m), bytes(65)), SIG_ENCODING),
    "signature_empty": (lambda k, m: replace_part(_good(k, m), 2, ""), SIG_ENCODING),
    "signature_zeros": (lambda k, m: with_signature(_good(k, m), bytes(64)), BAD_SIG),
    "signature_one_bit_off": (lambda k, m: _flip_a_signature_bit(_good(k, m)), BAD_SIG),
    "other_key": (lambda k, m: _good(ed25519_keypair()[0], m), BAD_SIG),
    "jti_missing": (lambda k, m: sign(k, {"sub": "alice"}), BAD_JTI),
    "jti_float": (lambda k, m: sign(k, {"sub": "alice", "jti": 1.5}), BAD_JTI),
    "jti_string": (lambda k, m: sign(k, {"sub": "alice", "jti": "7"}), BAD_JTI),
    "jti_true": (lambda k, m: sign(k, {"sub": "alice", "jti": True}), BAD_JTI),
    "jti_null": (lambda k, m: sign(k, {"sub": "alice", "jti": None}), BAD_JTI),
    "jti_above_i64": (lambda k, m: sign(k, {"sub": "alice", "jti": 2**63}), BAD_JTI),
    "nbf_float": (lambda k, m: sign(k, _payload(m, nbf=1.5)), BAD_NBF),
    "nbf_string": (lambda k, m: sign(k, _payload(m, nbf="x")), BAD_NBF),
    "exp_float": (lambda k, m: sign(k, _payload(m, exp=1.5)), BAD_EXP),
    "exp_string": (lambda k, m: sign(k, _payload(m, exp="x")), BAD_EXP),
}


@pytest.mark.parametrize("submit", SUBMIT)
@pytest.mark.parametrize("make, error", TOKENS.values(), ids=TOKENS.keys())
def test_token_refused(connect, keypair, minter, make, error, submit):
    with sql_error(*error):
        submit(connect(), make(keypair[0], minter))


@pytest.mark.parametrize("submit", SUBMIT)
@pytest.mark.parametrize("jti_offset", [-1, 0], ids=["lower", "equal"])
def test_jti_not_above_the_last(connect, keypair, minter, jti_offset, submit):
    conn = connect()
    last = minter.next_jti()
    via_init(conn, sign(keypair[0], {"jti": last, "sub": "alice"}))
    with sql_error(*REPLAY):
        submit(conn, sign(keypair[0], {"jti": last + jti_offset, "sub": "mallory"}))


# nbf/exp more than the 60 s leeway away: refused, with the value as detail.
OUT_OF_TIME = {"nbf_future": ("nbf", +90, TOO_EARLY), "exp_past": ("exp", -90, EXPIRED)}


@pytest.mark.parametrize("submit", SUBMIT)
@pytest.mark.parametrize("claim, offset, error", OUT_OF_TIME.values(), ids=OUT_OF_TIME.keys())
def test_outside_time_window(connect, keypair, minter, claim, offset, error, submit):
    value = now() + offset
    with sql_error(*error, detail=f"{claim}={value}"):
        submit(connect(), sign(keypair[0], _payload(minter, **{claim: value})))


@pytest.mark.parametrize("submit", SUBMIT)
@pytest.mark.parametrize("claims", [{"nbf": 30}, {"exp": -30}, {"nbf": 30, "exp": -30}], ids=["nbf", "exp", "both"])
def test_inside_the_leeway_accepted(connect, keypair, minter, claims, submit):
    conn = connect()
    submit(conn, sign(keypair[0], _payload(minter, **{k: now() + v for k, v in claims.items()})))
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


# --- the subject ----------------------------------------------------------------

NOT_STRINGS = {"int": 42, "float": 1.5, "true": True, "object": {"id": "a"}, "array": ["alice"], "null": None}


@pytest.mark.parametrize("reader", ["auth.user_id()", "auth.uid()"])
@pytest.mark.parametrize("sub", NOT_STRINGS.values(), ids=NOT_STRINGS.keys())
def test_subject_not_a_string(connect, keypair, minter, sub, reader):
    conn = connect()
    via_init(conn, sign(keypair[0], {"jti": minter.next_jti(), "sub": sub}))  # validation accepts it
    assert scalar(conn, "SELECT auth.session() -> 'sub'") == sub
    with sql_error(*BAD_SUB):
        conn.execute(f"SELECT {reader}")
