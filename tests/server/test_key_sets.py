"""Key sets with keys this server cannot use, on a real server.

A provider's set may carry keys of other curves, encryption keys or members
one byte short (Authlib's P-521).  Such a key is skipped: one WARNING per
key when the connection parses the set (``auth.init()`` or the first use),
an audit line when auditing is on, and its ``kid`` picks no key.  The set
fails only when no usable key remains; a secret still refuses it.
"""

from __future__ import annotations

import uuid
import psycopg
import pytest
from helpers import log_lines, scalar, sql_error, warnings_of
from jose_keys import issuer, p521_short_coordinate, unusable_keys

from pg_session_jwt import errors

UNUSABLE = unusable_keys()


@pytest.fixture(scope="module")
def signers():
    return issuer("EdDSA", "set-a", kid="ed"), issuer("RS256", "set-b", kid="rsa")


@pytest.fixture(scope="module")
def provider_set(signers):
    """Two usable keys among every kind of unusable one."""
    return {"keys": [UNUSABLE[name][0] for name in UNUSABLE] + [s.jwk for s in signers]}


def test_init_warns_once_per_skipped_key_and_the_usable_keys_serve(connect, signers, provider_set):
    conn = connect(jwk=provider_set)
    seen = warnings_of(conn)
    conn.execute("SELECT auth.init()")
    assert len(seen) == len(UNUSABLE), seen
    for message, (name, (bad, reason)) in zip(seen, UNUSABLE.items()):
        label = f"kid {bad['kid']!r}" if isinstance(bad, dict) else f"#{list(UNUSABLE).index(name)} (no kid)"
        assert message.startswith(f"pg_session_jwt.jwk: skipped key {label}: "), message
        assert reason in message, message
    for signer in signers:
        conn.execute("SELECT auth.jwt_session_init(%s)", [signer.token(signer.kid)])
        assert scalar(conn, "SELECT auth.user_id()") == signer.kid
    conn.execute("SELECT auth.init()")
    assert len(seen) == len(UNUSABLE), "warned again on the same connection"


def test_first_read_without_init_warns_too(connect, signers, provider_set):
    ed = signers[0]
    conn = connect(jwk=provider_set)
    seen = warnings_of(conn)
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [ed.token("reader")])
    assert scalar(conn, "SELECT auth.user_id()") == "reader"
    assert len(seen) == len(UNUSABLE)


def test_token_naming_a_skipped_kid_refused_and_session_kept(connect, signers):
    ed = signers[0]
    short = p521_short_coordinate(kid="authlib")
    conn = connect(jwk={"keys": [ed.jwk, short.jwk]})
    conn.execute("SELECT auth.jwt_session_init(%s)", [ed.token("alice")])
    reason = "'x' and 'y' must hold 66 bytes each for P-521"
    with sql_error("23514", "no key in pg_session_jwt.jwk has the JWT's kid 'authlib'",
                   f"kid='authlib'; that key was skipped: {reason}"):
        conn.execute("SELECT auth.jwt_session_init(%s)", [short.token("mallory")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"


def test_set_of_only_unusable_keys_refused(connect):
    conn = connect(jwk={"keys": [UNUSABLE["x25519"][0], UNUSABLE["rsa-oaep"][0]]})
    with sql_error("42804", "pg_session_jwt.jwk holds no key this server can verify with") as info:
        conn.execute("SELECT auth.init()")
    assert info.value.diag.message_detail.startswith("skipped: kid 'x25519': unsupported 'crv' 'X25519'")


@pytest.mark.parametrize("secret, error", [({"kty": "oct", "k": "c2VjcmV0", "kid": "hs"}, errors.symmetric_jwk()),
                                           (dict(UNUSABLE["secp256k1"][0], d="AQAB"), errors.private_jwk())],
                         ids=["oct", "private-in-unusable-key"])
def test_a_secret_in_the_set_still_refuses_it(connect, signers, secret, error):
    conn = connect(jwk={"keys": [signers[0].jwk, secret]})
    with sql_error(error.sqlstate, error.message):
        conn.execute("SELECT auth.jwt_session_init(%s)", [signers[0].token()])


def test_audit_log_records_the_skipped_keys(cluster, connect, signers):
    kid = f"skipped-{uuid.uuid4()}"
    conn = connect(jwk={"keys": [signers[0].jwk, dict(UNUSABLE["x25519"][0], kid=kid)]}, audit_log=True)
    conn.execute("SELECT auth.init()")
    warning, audit = log_lines(cluster, kid + "':")
    assert "WARNING:  pg_session_jwt.jwk: skipped key kid" in warning, warning
    assert "LOG:  pg_session_jwt: key set: 1 key(s) in use, 1 skipped: " in audit, audit
