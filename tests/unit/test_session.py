"""Session: key handling, validation with cache and replay protection, fallback mode, audit lines."""

import json
import sys
import time

import pytest

from pg_session_jwt import b64url, errors, strictjson
from pg_session_jwt.errors import JWTError
from pg_session_jwt.session import Session
from pg_session_jwt.signing import sign


@pytest.fixture
def tok(keypair):
    """tok(jti, **claims) -> a token with exactly these claims, signed by the trusted key."""
    return lambda jti, header=None, **claims: sign(keypair[0], {"jti": jti, **claims}, header=header)


def state(s: Session):
    return s.token, s.claims, s.replay_rule().state()


@pytest.mark.parametrize("jwk_text", [None, ""])
def test_no_key_means_fallback(refused, minter, jwk_text):
    s = Session(jwk_text)
    assert s.fallback and s.jwk_text is None
    with refused(errors.missing_jwk()):
        s.keys()
    with refused(errors.missing_jwk()):
        s.validate(minter.token("alice"))


def test_key_is_parsed_once(session, keypair):
    assert not session.fallback
    assert session.keys() is session.keys()
    assert session.keys().keys[0].public == b64url.decode(keypair[1]["x"])


def test_bad_key_refused_on_every_use(refused, minter):
    s = Session('{"kty":"OKP","crv":"Ed25519","x":"AAAA"}')
    for _ in range(2):
        with refused(errors.bad_jwk()):
            s.validate(minter.token("alice"))


def test_valid_token(session, minter):
    token = minter.token("alice", aud="app")
    c = session.validate(token)
    assert (c.user_id(), json.loads(c.json)["aud"]) == ("alice", "app")
    assert state(session) == (token, c, json.loads(c.json)["jti"])


def test_reference_style_header_without_alg(session, tok):
    assert session.validate(tok(1, header={"kid": 1}, sub="bob")).user_id() == "bob"


def test_same_token_is_served_from_cache(session, minter):
    token = minter.token("alice")
    first = session.validate(token)
    assert session.validate(token) is first
    assert session.current(token, None) is first


def test_different_text_is_fully_validated(session, tok, refused):
    session.validate(tok(7, sub="alice"))
    same_claims_other_text = tok(7, header={"kid": 1}, sub="alice")
    with refused(errors.replayed_jti(7, 7)):
        session.validate(same_claims_other_text)


def test_jti_must_strictly_increase(session, tok, refused):
    session.validate(tok(10))
    assert session.validate(tok(11)).payload["jti"] == 11
    with refused(errors.replayed_jti(11, 11)):
        session.validate(tok(11, sub="other"))
    with refused(errors.replayed_jti(5, 11)):
        session.validate(tok(5))
    assert session.validate(tok(2**63 - 1)).payload["jti"] == 2**63 - 1


@pytest.mark.parametrize("jti", [0, -1, -(2**63)])
def test_first_jti_must_be_positive(session, tok, refused, jti):
    with refused(errors.replayed_jti(jti, 0)):
        session.validate(tok(jti))


@pytest.mark.parametrize("payload", [{"sub": "no jti"}, {"jti": None}, {"jti": "5"}, {"jti": 5.0}, {"jti": True}, {"jti": 2**63}])
def test_jti_must_be_an_integer(session, keypair, refused, payload):
    with refused(errors.bad_jti()):
        session.validate(sign(keypair[0], payload))


def test_time_claims_with_real_clock(session, tok, refused):
    now = int(time.time())
    session.validate(tok(1, exp=now - 30))
    session.validate(tok(2, nbf=now + 30))
    with refused(errors.expired(now - 120)):
        session.validate(tok(3, exp=now - 120))
    with refused(errors.not_yet_valid(now + 120)):
        session.validate(tok(4, nbf=now + 120))
    with refused(errors.bad_exp()):
        session.validate(tok(5, exp=str(now + 100)))
    with refused(errors.bad_nbf()):
        session.validate(tok(6, nbf=float(now)))


@pytest.mark.parametrize("payload", [b"[1]", b"null", b"\xff", b'{"jti":NaN}', b'{"jti":1,"s":"\\u0000"}', b""])
def test_signed_payload_that_is_not_a_json_object(session, keypair, refused, payload):
    with refused(errors.unparsable()):
        session.validate(sign(keypair[0], payload))


def test_refused_token_leaves_state_unchanged(session, tok, keypair, other_keypair, refused):
    good = tok(10, sub="alice")
    claims = session.validate(good)
    before = state(session)
    now = int(time.time())
    bad = [
        (tok(20, exp=now - 120), errors.expired(now - 120)),
        (tok(21, nbf=now + 120), errors.not_yet_valid(now + 120)),
        (tok(9, sub="old"), errors.replayed_jti(9, 10)),
        (sign(other_keypair[0], {"jti": 22}), errors.bad_signature()),
        (sign(keypair[0], {"jti": "23"}), errors.bad_jti()),
        (good + "A", errors.bad_signature_encoding()),
        ("x.y", errors.bad_encoding()),
    ]
    for token, error in bad:
        with refused(error):
            session.validate(token)
        assert state(session) == before and session.claims is claims
    assert session.validate(tok(11)).payload == {"jti": 11}


def test_non_string_subject_fails_on_read(session, tok, refused):
    c = session.validate(tok(1, sub=42))
    with refused(errors.bad_subject()):
        c.user_id()


def test_snapshot_restore_round_trip(session, tok, refused, public_text):
    token = tok(100, sub="alice")
    session.validate(token)
    restored = Session.restore(json.loads(json.dumps(session.snapshot())))
    assert (restored.jwk_text, restored.audit_forced, restored.replay_rule().state(), restored.token) == (public_text, False, 100, token)
    assert restored.validate(token).user_id() == "alice"
    with refused(errors.replayed_jti(99, 100)):
        restored.validate(tok(99, sub="mallory"))
    assert restored.validate(tok(101, sub="bob")).user_id() == "bob"


def test_snapshot_restore_of_fresh_and_fallback_sessions():
    for s in [Session("{}", audit_forced=True), Session(None)]:
        r = Session.restore(s.snapshot())
        assert (r.jwk_text, r.audit_forced, r.replay_rule().state(), r.token, r.claims) == (s.jwk_text, s.audit_forced, 0, None, None)


@pytest.mark.parametrize("jwt", [None, ""])
def test_current_without_token_is_none(session, jwt):
    assert session.current(jwt, '{"sub":"ignored"}') is None


def test_current_ignores_claims_setting_with_a_key(session, minter):
    assert session.current(minter.token("alice"), '{"sub":"mallory"}').user_id() == "alice"


def test_current_validates_a_new_token(session, tok, refused):
    session.current(tok(5), None)
    with refused(errors.replayed_jti(4, 5)):
        session.current(tok(4), None)


def test_fallback_reads_claims_setting_and_caches_by_text(minter):
    s = Session(None)
    text = '{"sub":"bob","aud":"web"}'
    c = s.current(minter.token("ignored"), text)
    assert c.user_id() == "bob" and s.current(None, text) is c
    other = s.current(None, '{"sub":"carol"}')
    assert other.user_id() == "carol"
    again = s.current(None, text)
    assert again is not c and again.user_id() == "bob"


@pytest.mark.parametrize("text", [None, "", "not json", "NaN"])
def test_fallback_without_usable_claims_is_none(text):
    assert Session(None).current(None, text) is None


def test_fallback_non_string_subject_is_null():
    assert Session(None).current(None, '{"sub":5}').user_id() is None


def test_audit_lines(session, minter):
    c = session.validate(minter.token("alice", aud="app"))
    assert session.audit_line(c) == 'pg_session_jwt: JWT accepted, sub="alice" aud="app"'
    fb = Session(None)
    assert fb.audit_line(None) == "pg_session_jwt: no JWT claims in request.jwt.claims"
    found = fb.current(None, '{"sub":"bob"}')
    assert fb.audit_line(found) == 'pg_session_jwt: JWT claims from request.jwt.claims, sub="bob" aud=null'


def test_audit_line_cannot_be_forged_by_a_newline(session, minter):
    c = session.validate(minter.token("alice\nLOG:  sub=admin\r", aud="x\ny"))
    line = session.audit_line(c)
    assert "\n" not in line and "\r" not in line
    assert line == 'pg_session_jwt: JWT accepted, sub="alice\\nLOG:  sub=admin\\r" aud="x\\ny"'


def test_overflowing_number_in_signed_payload_never_yields_non_json(session, keypair):
    """auth.session() returns claims.json as jsonb: it must be JSON (not 'Infinity')."""
    try:
        c = session.validate(sign(keypair[0], b'{"jti":1,"n":1e999}'))
    except JWTError:
        return
    strictjson.loads(c.json)


def test_deeply_nested_signed_payload_raises_only_jwterror(keypair, new_session):
    """Around the recursion limit, json.loads may accept what json.dumps cannot encode."""
    limit = sys.getrecursionlimit()
    for depth in range(limit - 200, limit + 20):
        nested = b"[" * depth + b"]" * depth
        try:
            new_session().validate(sign(keypair[0], b'{"jti":1,"x":' + nested + b"}"))
        except JWTError:
            pass
        except Exception as e:
            pytest.fail(f"depth {depth}: {type(e).__name__}: {e}")
