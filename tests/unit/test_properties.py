"""Property tests: base64url canonicity, tamper resistance, and exception discipline on any input.

Tamper resistance covers Ed25519, RS256 and ES256 tokens; exception discipline
covers token text, single JWKs and key sets.
"""

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jose_keys import issuer, uint

from pg_session_jwt import b64url, jwa, jwk, jws, strictjson
from pg_session_jwt.errors import JWTError
from pg_session_jwt.session import Session
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


def mutate(token: str, kind: str, pos: int, ch: str) -> str:
    """The token with one character changed, inserted or deleted at ``pos`` (wrapped)."""
    i = pos % (len(token) + (kind == "insert"))
    if kind == "change":
        return token[:i] + ch + token[i + 1 :]
    if kind == "insert":
        return token[:i] + ch + token[i:]
    return token[:i] + token[i + 1 :]


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
    mutated = mutate(valid_token, kind, pos, ch)
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


# --- RSA and EC keys, key sets ---------------------------------------------------------

JOSE_PROPS = settings(max_examples=150, deadline=None)
REAL_KEYS = [issuer(alg).jwk for alg in ("RS256", "ES256", "ES512", "EdDSA")]
B64 = st.binary(max_size=70).map(b64url.encode)
BIG_UINT = st.integers(min_value=2**2047, max_value=2**4100).map(uint)  # reaches the RSA math
MEMBER = st.one_of(B64, BIG_UINT, JSON_VALUES)
NAMES = ["kty", "crv", "x", "y", "n", "e", "alg", "kid", "use", "key_ops", "d", "p", "k"]
CHOSEN = {
    "kty": st.sampled_from(["OKP", "RSA", "EC", "oct", "RSA-PSS"]),
    "crv": st.sampled_from(["Ed25519", "P-256", "P-384", "P-521", "secp256k1"]),
    "alg": st.sampled_from(sorted(jwa.ALGORITHMS) + ["HS256", "none"]),
    "use": st.sampled_from(["sig", "enc"]),
    "key_ops": st.sampled_from([["verify"], ["sign"], [], "verify"]),
}
ANY_JWK = st.one_of(
    # a real public key with a few members replaced or added
    st.builds(
        lambda base, changes: {**base, **changes},
        st.sampled_from(REAL_KEYS),
        st.dictionaries(st.sampled_from(NAMES), MEMBER, max_size=2),
    ),
    # a key made from scratch, member by member
    st.fixed_dictionaries({}, optional={name: CHOSEN.get(name, MEMBER) | MEMBER for name in NAMES}),
    JSON_VALUES,
)
ANY_KEY_SET = st.one_of(ANY_JWK, st.fixed_dictionaries({"keys": st.lists(ANY_JWK, max_size=4) | JSON_VALUES}))


@JOSE_PROPS
@given(ANY_KEY_SET)
@example({"kty": "EC", "crv": ["P-256"], "x": "AAAA", "y": "AAAA"})  # unhashable crv
@example(dict(REAL_KEYS[0], alg=["RS256"]))  # unhashable alg member on an RSA key
def test_any_key_set_raises_only_jwt_errors(value):
    only_jwt_errors(jwk.parse, json.dumps(value))


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def jose_token(request):
    """(token, public JWK text): a valid token of an RSA or EC issuer."""
    signer = issuer(request.param)
    token = signer.token("alice")
    assert Session(signer.jwk_text).validate(token).user_id() == "alice"
    return token, signer.jwk_text


@JOSE_PROPS
@given(kind=st.sampled_from(["change", "insert", "delete"]), pos=st.integers(min_value=0), ch=TOKEN_CHAR)
@example(kind="change", pos=-1, ch="A")  # the signature's last character
@example(kind="delete", pos=-1, ch="A")
def test_any_single_mutation_of_rsa_and_ec_tokens_is_refused(jose_token, kind, pos, ch):
    token, jwk_text = jose_token
    mutated = mutate(token, kind, pos, ch)
    if mutated == token:
        return
    with pytest.raises(JWTError):
        Session(jwk_text).validate(mutated)
