"""Property tests: base64url canonicity, tamper resistance, and exception discipline on any input."""

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pg_session_jwt import b64url, jwk, jws, strictjson
from pg_session_jwt.errors import JWTError
from pg_session_jwt.signing import sign

PROPS = settings(max_examples=300, deadline=None)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ANY_CHAR = st.characters(exclude_categories=())  # includes lone surrogates
TOKEN_CHAR = st.one_of(st.sampled_from(ALPHABET + ".=+/ "), ANY_CHAR)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
TOKENISH = st.lists(st.text(alphabet=ALPHABET + "=+/", max_size=90), min_size=1, max_size=5).map(".".join)
NUMBER = st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)


@pytest.fixture(scope="module")
def valid_token(keypair, new_session):
    token = sign(keypair[0], {"jti": 1, "sub": "alice"})
    assert new_session().validate(token).user_id() == "alice"
    return token


def only_jwt_errors(call, *args):
    try:
        return call(*args)
    except JWTError:
        return None


@PROPS
@given(st.binary(max_size=200))
def test_b64url_round_trip(data):
    text = b64url.encode(data)
    assert set(text) <= set(ALPHABET)
    assert b64url.decode(text) == data


@PROPS
@given(st.one_of(st.text(alphabet=ALPHABET + "=+/. ", max_size=40), st.text(max_size=20)))
def test_b64url_accepted_text_is_canonical(text):
    try:
        data = b64url.decode(text)
    except ValueError:
        return
    assert b64url.encode(data) == text


@PROPS
@given(kind=st.sampled_from(["change", "insert", "delete"]), pos=st.integers(min_value=0), ch=TOKEN_CHAR)
@example(kind="change", pos=40, ch="é")  # a non-ASCII character inside the payload part
def test_any_single_mutation_is_refused(valid_token, new_session, kind, pos, ch):
    i = pos % (len(valid_token) + (kind == "insert"))
    if kind == "change":
        mutated = valid_token[:i] + ch + valid_token[i + 1 :]
    elif kind == "insert":
        mutated = valid_token[:i] + ch + valid_token[i:]
    else:
        mutated = valid_token[:i] + valid_token[i + 1 :]
    if mutated == valid_token:
        return
    with pytest.raises(JWTError):
        new_session().validate(mutated)


@PROPS
@given(st.one_of(st.text(alphabet=ANY_CHAR), TOKENISH))
def test_arbitrary_text_raises_only_jwt_errors(key, new_session, text):
    only_jwt_errors(jws.verify, text, key)
    only_jwt_errors(new_session().validate, text)
    only_jwt_errors(jwk.parse, text)


@PROPS
@given(st.dictionaries(st.sampled_from(["alg", "crit", "kid", "typ"]) | st.text(max_size=4), JSON_VALUES, max_size=4))
@example({"alg": ["EdDSA"]})
def test_signed_tokens_with_any_header_raise_only_jwt_errors(keypair, key, header):
    token = sign(keypair[0], {"jti": 1}, header=header)
    assert only_jwt_errors(jws.verify, token, key) in (None, b'{"jti":1}')


@PROPS
@given(st.fixed_dictionaries({"kty": st.just("OKP") | JSON_VALUES, "crv": st.just("Ed25519") | JSON_VALUES, "x": JSON_VALUES}))
@example({"kty": [], "crv": "Ed25519", "x": "AAAA"})
def test_any_jwk_object_raises_only_jwt_errors(members):
    only_jwt_errors(jwk.parse, json.dumps(members))


@PROPS
@given(st.one_of(st.text(alphabet=ANY_CHAR), st.binary(), st.text(alphabet='[]{}",:0123456789.eE-+ \\utrfalsnNI')))
def test_strictjson_raises_only_value_errors(data):
    try:
        strictjson.loads(data)
    except ValueError:
        pass


@PROPS
@given(st.one_of(NUMBER, JSON_VALUES.map(json.dumps)))
@example("1e999")
def test_strictjson_accepted_values_dump_to_json(text):
    try:
        value = strictjson.loads(text)
    except ValueError:
        return
    assert strictjson.loads(strictjson.dumps(value)) == value
