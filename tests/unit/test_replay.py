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


def test_a_full_memory_forgets_expired_tokens():
    future, past = int(time.time()) + 3600, int(time.time()) - 3600
    rule = replay.AcceptOnce({f"t{i}": past if i % 2 else future for i in range(replay.AcceptOnce.MAX_REMEMBERED)})
    rule.check({"exp": future}, "a.b.c")
    assert len(rule.seen) == replay.AcceptOnce.MAX_REMEMBERED // 2
    assert set(rule.seen.values()) == {future}


def test_memory_is_bounded():
    future = int(time.time()) + 3600
    rule = replay.AcceptOnce({f"t{i}": future for i in range(replay.AcceptOnce.MAX_REMEMBERED)})
    with pytest.raises(errors.JWTError) as info:
        rule.check({"exp": future}, "a.b.c")
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


def login(rule: replay.SubjectOrder, sub: str, jti: int = 1) -> None:
    rule.accept(rule.check({"jti": jti, "sub": sub, "exp": int(time.time()) + 3600}))


def key(sub: str) -> str:
    return replay.SubjectOrder.subject({"sub": sub})


def test_a_full_subject_memory_forgets_expired_subjects_first():
    future, past = int(time.time()) + 3600, int(time.time()) - 3600
    remembered = {key(f"s{i}"): [1, past if i % 2 else future] for i in range(replay.SubjectOrder.MAX_SUBJECTS)}
    rule = replay.SubjectOrder("jti", remembered)
    login(rule, "new")
    assert len(rule.newest) == replay.SubjectOrder.MAX_SUBJECTS // 2 + 1
    assert {v[1] for k, v in rule.newest.items() if k != key("new")} == {future}  # the expired half went


def test_a_full_subject_memory_forgets_the_least_recently_active(refused):
    future = int(time.time()) + 3600
    rule = replay.SubjectOrder("jti", {key(f"s{i}"): [5, future] for i in range(replay.SubjectOrder.MAX_SUBJECTS)})
    login(rule, "s0", jti=6)  # s0 is active again: s1 is now the least recent
    login(rule, "new")
    assert len(rule.newest) == replay.SubjectOrder.MAX_SUBJECTS
    assert key("s1") not in rule.newest and key("s0") in rule.newest
    with refused(errors.older_token("jti", 5, 6)):
        rule.check({"jti": 5, "sub": "s0"})
