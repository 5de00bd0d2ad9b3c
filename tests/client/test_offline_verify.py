"""verify.decode / verify.verify: what the server would say, without a server, checked
against a real server on the same tokens."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from pg_session_jwt import b64url, verify
from pg_session_jwt.errors import JWTError
from pg_session_jwt.signing import Minter, ed25519_keypair, sign


def test_decode_shows_without_trusting(keypair):
    token = sign(ed25519_keypair()[0], {"sub": "anyone", "jti": 1})
    assert verify.decode(token) == ({"alg": "EdDSA", "typ": "JWT"}, {"sub": "anyone", "jti": 1})
    with pytest.raises(JWTError) as info:
        verify.decode(token.split(".")[0] + "." + b64url.encode(b"{oops") + ".x")
    assert (info.value.sqlstate, info.value.message) == ("42804", "could not parse JWT component")


def test_verify_applies_the_settings(keypair):
    private, public = keypair
    minter = Minter(private, audience="api", issuer="https://id.example/")
    token = minter.token("alice")
    assert verify.verify(token, json.dumps(public), audience="api", issuer="https://id.example/")["sub"] == "alice"
    with pytest.raises(JWTError, match="Audience"):
        verify.verify(token, public, audience="other")
    with pytest.raises(JWTError, match="Issuer"):
        verify.verify(token, public, issuer="https://evil.example/")
    no_exp = sign(private, {"sub": "x", "jti": 1})
    assert verify.verify(no_exp, public)["sub"] == "x"
    with pytest.raises(JWTError, match="must contain 'exp'"):
        verify.verify(no_exp, public, replay="once")


def cases(private, other_private):
    minter = Minter(private)
    now = int(time.time())
    return {
        "valid": minter.token("alice"),
        "forged": Minter(other_private).token("alice"),
        "expired": minter.token("alice", exp=now - 3600),
        "not yet": minter.token("alice", nbf=now + 3600),
        "no jti": sign(private, {"sub": "alice"}),
        "float jti": sign(private, {"sub": "alice", "jti": 1.5}),
        "alg none": sign(private, {"sub": "alice", "jti": 5}, header={"alg": "none"}),
        "two parts": "abc.def",
        "bad base64": "a*b.c.d",
    }


def test_same_verdicts_as_a_real_server(connect, keypair):
    private, public = keypair
    verdicts = {}
    for name, token in cases(private, ed25519_keypair()[0]).items():
        try:
            verify.verify(token, public)
            offline = None
        except JWTError as e:
            offline = (e.sqlstate, e.message, e.detail)
        conn = connect()  # a fresh connection, as verify() assumes
        try:
            conn.execute("SELECT auth.jwt_session_init(%s)", [token])
            server = None
        except psycopg.Error as e:
            server = (e.sqlstate, e.diag.message_primary, e.diag.message_detail)
        assert offline == server, name
        verdicts[name] = offline
        conn.close()
    assert [name for name, v in verdicts.items() if v is None] == ["valid"]
