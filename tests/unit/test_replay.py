"""Replay rules: the default integer-jti order and the `once` rule for provider tokens."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pg_session_jwt import b64url, errors, replay, strictjson
from pg_session_jwt.session import Session
from pg_session_jwt.signing import sign

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.fixture
def once(public_text):
    return Session(public_text, replay="once")


def provider_token(private_jwk, sub="alice", ttl=300, **claims):
    """Like Auth0's or Firebase's: no integer jti, an exp."""
    return sign(private_jwk, {"sub": sub, "exp": int(time.time()) + ttl, **claims})


def test_tokens_without_integer_jti_are_accepted(once, keypair):
    assert once.validate(provider_token(keypair[0], jti="a5f0-uuid-like")).user_id() == "alice"


def test_a_superseded_token_never_comes_back(once, keypair, refused):
    first = provider_token(keypair[0], "alice")
    once.validate(first)
    assert once.validate(first).user_id() == "alice"  # the current token: served from the cache
    once.validate(provider_token(keypair[0], "bob"))
    with refused(errors.token_reused()):
        once.validate(first)
    assert once.token is not first and once.claims.user_id() == "bob"


def test_exp_is_required(once, keypair, refused):
    with refused(errors.exp_required()):
        once.validate(sign(keypair[0], {"sub": "alice"}))


def es256_parts(key, sub: str):
    """(signed part, r, s) of an ES256 token for ``sub``."""
    body = strictjson.dumps({"sub": sub, "exp": int(time.time()) + 300}).encode()
    signed = b64url.encode(b'{"alg":"ES256"}') + "." + b64url.encode(body)
    r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
    return signed, r, s


def es256_token(signed: str, r: int, s: int) -> str:
    return signed + "." + b64url.encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_reencoded_ecdsa_signature_is_the_same_token(refused):
    """ECDSA (r, s) and (r, n - s) both verify: the rule must see one token."""
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url.encode(numbers.x.to_bytes(32, "big")),
           "y": b64url.encode(numbers.y.to_bytes(32, "big"))}
    session = Session(strictjson.dumps(jwk), replay="once")
    signed, r, s = es256_parts(key, "alice")
    session.validate(es256_token(signed, r, s))
    session.validate(es256_token(*es256_parts(key, "bob")))
    with refused(errors.token_reused()):
        session.validate(es256_token(signed, r, P256_ORDER - s))


def test_expired_tokens_are_forgotten():
    rule = replay.AcceptOnce({"old": int(time.time()) - 3600, "live": int(time.time()) + 3600})
    rule.check({"exp": int(time.time()) + 60}, "a.b")
    assert set(rule.seen) == {"live"}


def test_memory_is_bounded():
    future = int(time.time()) + 3600
    rule = replay.AcceptOnce({f"t{i}": future for i in range(replay.AcceptOnce.MAX_REMEMBERED)})
    with pytest.raises(errors.JWTError) as info:
        rule.check({"exp": future}, "a.b")
    assert info.value.sqlstate == errors.PROGRAM_LIMIT_EXCEEDED


def test_unknown_mode_is_refused(public_text, keypair, refused):
    s = Session(public_text, replay="sometimes")
    with refused(errors.bad_replay_mode("sometimes")):
        s.validate(provider_token(keypair[0]))


def test_state_survives_snapshot(once, keypair, refused):
    first = provider_token(keypair[0], "alice")
    once.validate(first)
    once.validate(provider_token(keypair[0], "bob"))
    restored = Session.restore(once.snapshot())
    with refused(errors.token_reused()):
        restored.validate(first)


def test_local_sessions_leave_the_session_state_alone(session, minter):
    session.validate(minter.token("bob"))
    before = (session.token, session.replay_rule().state())
    assert session.validate_local(minter.token("alice")).user_id() == "alice"
    assert (session.token, session.replay_rule().state()) == before


def jti_of(token: str) -> int:
    return strictjson.loads(b64url.decode(token.split(".")[1]))["jti"]


def test_a_subjects_older_local_token_is_refused_even_from_the_cache(session, minter, refused):
    older, newer = minter.token("alice"), minter.token("alice")
    session.validate_local(older)
    session.validate_local(newer)
    with refused(errors.older_token("jti", jti_of(older), jti_of(newer))):
        session.validate_local(older)


def test_subject_memory_is_bounded_and_forgets_expired_subjects():
    future, past = int(time.time()) + 3600, int(time.time()) - 3600
    full = {f"s{i}": [1, future] for i in range(replay.SubjectOrder.MAX_SUBJECTS)}
    with pytest.raises(errors.JWTError) as info:
        replay.SubjectOrder("jti", full).check({"jti": 1, "sub": "new"})
    assert info.value.sqlstate == errors.PROGRAM_LIMIT_EXCEEDED
    stale = {f"s{i}": [1, past] for i in range(replay.SubjectOrder.MAX_SUBJECTS)}
    rule = replay.SubjectOrder("jti", stale)
    rule.check({"jti": 1, "sub": "new"})
    assert rule.newest == {}
