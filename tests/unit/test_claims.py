"""claims: integer and uuid coercion, jti/nbf/exp checks, and the values readers return."""

import json
import time

import pytest

from pg_session_jwt import claims, errors
from pg_session_jwt.claims import Claims, as_i64, as_uuid, check_jti, check_time

U = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


@pytest.mark.parametrize("value", [0, 1, -1, 2**63 - 1, -(2**63)])
def test_as_i64_accepts_64_bit_integers(value):
    assert as_i64(value) == value


@pytest.mark.parametrize("value", [True, False, 1.0, 0.0, 2**63, -(2**63) - 1, "1", None, [1], {"a": 1}])
def test_as_i64_refuses_others(value):
    assert as_i64(value) is None


@pytest.mark.parametrize(
    "text",
    [
        U,
        U.upper(),
        "{" + U + "}",
        U.replace("-", ""),
        "{" + U.replace("-", "") + "}",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
        "a0eebc999c0b4ef8bb6d6bb9bd380a11".upper(),
        "a0eebc99-9c0b4ef8bb6d6bb9bd380a11",
        "A0EEBC99-9C0b-4EF8-bb6d-6bb9bd380a11",
    ],
)
def test_as_uuid_accepts_what_postgres_accepts(text):
    assert as_uuid(text) == U


@pytest.mark.parametrize(
    "text",
    [
        "{" + U,
        U + "}",
        "}" + U + "{",
        U[:-1],
        U + "1",
        U + "\n",
        " " + U,
        "urn:uuid:" + U,
        "-" + U,
        U + "-",
        U.replace("-", "--"),
        "a0eebc9-99c0b-4ef8-bb6d-6bb9bd380a11",
        "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\uff11",
        "",
        None,
        123,
    ],
)
def test_as_uuid_refuses_others(text):
    assert as_uuid(text) is None


def test_check_jti_returns_the_new_jti():
    assert check_jti({"jti": 5}, 4) == 5
    assert check_jti({"jti": 2**63 - 1}, 0) == 2**63 - 1


@pytest.mark.parametrize("payload", [{}, {"jti": None}, {"jti": "5"}, {"jti": 5.0}, {"jti": True}, {"jti": 2**63}, {"jti": [5]}])
def test_check_jti_refuses_missing_or_non_integer(refused, payload):
    with refused(errors.bad_jti()):
        check_jti(payload, 0)


@pytest.mark.parametrize("jti, last", [(4, 4), (3, 4), (0, 0), (-1, 0), (-(2**63), 0)])
def test_check_jti_refuses_replay(refused, jti, last):
    with refused(errors.replayed_jti(jti, last)):
        check_jti({"jti": jti}, last)


def test_check_time_without_claims_passes():
    check_time({})


def test_check_time_with_real_clock(refused):
    now = int(time.time())
    check_time({"nbf": now + 30, "exp": now - 30})
    check_time({"nbf": now - 1000, "exp": now + 1000})
    with refused(errors.not_yet_valid(now + 120)):
        check_time({"nbf": now + 120})
    with refused(errors.expired(now - 120)):
        check_time({"exp": now - 120})


def test_check_time_leeway_boundaries(refused):
    now = 1_700_000_000
    assert claims.LEEWAY == 60
    check_time({"nbf": now + 60, "exp": now - 60}, now=now)
    with refused(errors.not_yet_valid(now + 61)):
        check_time({"nbf": now + 61}, now=now)
    with refused(errors.expired(now - 61)):
        check_time({"exp": now - 61}, now=now)


def test_check_time_checks_nbf_before_exp(refused):
    with refused(errors.not_yet_valid(200)):
        check_time({"nbf": 200, "exp": 0}, now=100)


@pytest.mark.parametrize("bad", ["1", 1.0, 1.5, True, None, 2**63, [1]], ids=repr)
def test_check_time_refuses_non_integer_times(refused, bad):
    with refused(errors.bad_nbf()):
        check_time({"nbf": bad}, now=0)
    with refused(errors.bad_exp()):
        check_time({"exp": bad}, now=0)


def test_claims_values():
    payload = {"sub": U.upper(), "aud": "app", "o": {"id": "{" + U + "}", "role": "admin"}}
    c = Claims(payload, verified=True)
    assert (c.user_id(), c.user_uuid()) == (U.upper(), U)
    assert json.loads(c.json) == payload
    assert json.loads(c.organization) == payload["o"]
    assert c.organization_id == U


def test_claims_non_uuid_subject_has_no_uid():
    c = Claims({"sub": "alice"}, verified=True)
    assert (c.user_id(), c.user_uuid()) == ("alice", None)


@pytest.mark.parametrize("sub", [None, 1, True, ["a"], {"a": 1}, 1.5], ids=repr)
def test_verified_non_string_subject_is_an_error(refused, sub):
    c = Claims({"sub": sub}, verified=True)
    with refused(errors.bad_subject()):
        c.user_id()
    with refused(errors.bad_subject()):
        c.user_uuid()


@pytest.mark.parametrize("sub", [None, 1, True, ["a"], {"a": 1}], ids=repr)
def test_unverified_non_string_subject_is_null(sub):
    c = Claims({"sub": sub}, verified=False)
    assert (c.user_id(), c.user_uuid()) == (None, None)


@pytest.mark.parametrize("verified", [True, False])
def test_absent_subject_is_null(verified):
    c = Claims({"aud": "app"}, verified=verified)
    assert (c.user_id(), c.user_uuid()) == (None, None)


@pytest.mark.parametrize("o", ["org", 1, [U], None, [{"id": U}]], ids=repr)
def test_organization_only_for_an_object(o):
    c = Claims({"o": o}, verified=True)
    assert (c.organization, c.organization_id) == (None, None)


@pytest.mark.parametrize("org_id", [None, 1, "acme", [U], U + " "], ids=repr)
def test_organization_id_only_for_uuid_shaped_id(org_id):
    c = Claims({"o": {"id": org_id}}, verified=True)
    assert json.loads(c.organization) == {"id": org_id}
    assert c.organization_id is None


def test_organization_without_id():
    c = Claims({"o": {}}, verified=True)
    assert (c.organization, c.organization_id) == ("{}", None)


@pytest.mark.parametrize("payload", [None, [1, 2], "text", 5])
def test_non_object_payload_from_the_setting(payload):
    c = Claims(payload, verified=False)
    assert json.loads(c.json) == payload
    assert (c.user_id(), c.user_uuid(), c.organization, c.organization_id) == (None, None, None, None)


def test_audit_fields_json_encode_sub_and_aud():
    c = Claims({"sub": 'alice\nLOG:  forged "line"', "aud": ["a", "b"]}, verified=True)
    assert c.audit_fields() == 'sub="alice\\nLOG:  forged \\"line\\"" aud=["a","b"]'
    assert Claims({}, verified=False).audit_fields() == "sub=null aud=null"


@pytest.mark.parametrize("text", [None, "", "not json", "{", "NaN", '{"a":"\\u0000"}'])
def test_from_setting_unset_empty_or_invalid_is_none(text):
    assert claims.from_setting(text) is None


def test_from_setting_parses_claims():
    c = claims.from_setting('{"sub":"bob","o":{"id":"%s"}}' % U)
    assert (c.user_id(), c.organization_id, c.json) == ("bob", U, '{"sub":"bob","o":{"id":"%s"}}' % U)
