"""Key sets and kid selection, size limits, duplicate members, audience/issuer, lazy crypto imports.

Keys and tokens are real (``jose_keys``); each test states which key a token
was signed with and which ``kid`` it claims, and the expected refusal is
built with the constructor in ``errors`` that the server reports.
"""

import json
import subprocess
import sys

import pytest
from jose_keys import issuer, key_set, next_jti, p521_short_coordinate, part, unusable_keys

from pg_session_jwt import errors, jwk, jws
from pg_session_jwt.session import Session
from pg_session_jwt.signing import ed25519_keypair


def session(jwk_value, **config) -> Session:
    text = jwk_value if isinstance(jwk_value, str) else json.dumps(jwk_value)
    return Session(text, **config)


def user_of(jwk_value, token: str, **config):
    return session(jwk_value, **config).validate(token).user_id()


@pytest.fixture(scope="module", params=["EdDSA", "RS256"])
def rotation(request):
    """(old, new): two keys of one kind, published together under kids 'k1' and 'k2'."""
    alg = request.param
    return issuer(alg, "old", kid="k1"), issuer(alg, "new", kid="k2")


# --- kid selection and rotation -----------------------------------------------


def test_rotation_both_keys_accepted_by_kid(rotation):
    old, new = rotation
    s = session(key_set(old, new))
    assert s.validate(old.token("alice")).user_id() == "alice"
    assert s.validate(new.token("bob")).user_id() == "bob"


def test_rotation_token_of_new_key_claiming_old_kid_refused(refused, rotation):
    """The kid picks one key: the other key is never tried."""
    old, new = rotation
    forged = new.token(header=dict(new.default_header(), kid=old.kid))
    with refused(errors.bad_signature()):
        user_of(key_set(old, new), forged)


@pytest.mark.parametrize("kid", ["k3", "", "K1", 1, None, ["k1"]], ids=repr)
def test_rotation_unknown_kid_refused_naming_it(refused, rotation, kid):
    old, new = rotation
    token = new.token(header=dict(new.default_header(), kid=kid))
    with refused(errors.unknown_kid(kid)) as info:
        user_of(key_set(old, new), token)
    assert repr(kid) in info.value.message


@pytest.mark.parametrize(
    "key_kids, header_kid", [(("1", "2"), 1), ((1, 2), "1"), ((1, 0), True), ((1, 0), False)], ids=repr
)
def test_kid_compared_with_its_json_type(refused, key_kids, header_kid):
    """No coercion: header kid 1 is not the key's kid "1", and JSON true is not 1."""
    one, two = (issuer("RS256", label, kid=kid) for label, kid in zip(("old", "new"), key_kids))
    with refused(errors.unknown_kid(header_kid)):
        user_of(key_set(one, two), one.token(header={"alg": "RS256", "kid": header_kid}))


def test_retired_key_no_longer_accepted(refused, rotation):
    old, new = rotation
    with refused(errors.bad_signature()):
        user_of(key_set(new.with_kid(None)), old.token(header={"alg": old.alg}))


def test_single_key_with_kid_accepts_any_kid():
    """One usable key is used whatever the kid: the reference signs with {"kid":1}."""
    only = issuer("EdDSA", kid="a")
    for header in ({"kid": 1}, {"alg": "EdDSA", "kid": "b"}, {"alg": "EdDSA"}, {}):
        assert user_of(only.jwk, only.token(header=header)) == "alice"
        assert user_of(key_set(only), only.token(header=header)) == "alice"


def test_single_rsa_key_with_kid_accepts_another_kid():
    only = issuer("RS256", kid="a")
    assert user_of(key_set(only), only.token(header={"alg": "RS256", "kid": 1})) == "alice"


def test_single_usable_key_among_skipped_ones_is_the_one():
    """An encryption key beside it does not make it 'several keys'."""
    only = issuer("EdDSA", kid="a")
    enc = dict(issuer("RS256").jwk, use="enc", kid="e")
    assert user_of({"keys": [only.jwk, enc]}, only.token(header={"kid": 1})) == "alice"


# --- tokens without kid: tried against every key that fits the alg -------------


@pytest.fixture(scope="module")
def mixed():
    """An EC, an RSA and an Ed25519 key, none with a kid."""
    return issuer("ES256"), issuer("RS256"), issuer("EdDSA")


@pytest.mark.parametrize("signer_index", [0, 1, 2], ids=["ES256", "RS256", "EdDSA"])
def test_mixed_set_without_kid_picks_by_alg(mixed, signer_index):
    signer = mixed[signer_index]
    assert user_of(key_set(*mixed), signer.token(header={"alg": signer.alg})) == "alice"


def test_mixed_set_alg_fitting_no_key_refused(refused, mixed):
    with refused(errors.disallowed_alg("PS256")):
        user_of(key_set(mixed[0], mixed[2]), mixed[1].token(header={"alg": "PS256"}))


def test_mixed_set_without_alg_tries_only_ed25519(refused, mixed):
    """No alg: only keys that do not require one (Ed25519) are candidates, so an
    alg-less RSA signature meets an Ed25519 key and its length does not fit."""
    ec_key, rsa_key, ed_key = mixed
    assert user_of(key_set(*mixed), ed_key.token(header={})) == "alice"
    with refused(errors.bad_signature_encoding()):
        user_of(key_set(*mixed), rsa_key.token(header={}))
    with refused(errors.missing_alg()):
        user_of(key_set(ec_key, rsa_key), rsa_key.token(header={}))


@pytest.mark.parametrize("position", [0, 1, 2])
def test_several_keys_of_one_type_without_kid_each_tried(position):
    keys = [issuer("RS256", label) for label in ("a", "b", "c")]
    assert user_of(key_set(*keys), keys[position].token()) == "alice"


def test_several_keys_without_kid_none_verifies(refused):
    keys = [issuer("ES256", label) for label in ("a", "b")]
    with refused(errors.bad_signature()):
        user_of(key_set(*keys), issuer("ES256", "c").token())


# --- the set's shape ---------------------------------------------------------------


@pytest.mark.parametrize("keys", [{}, "[]", None, 1, {"kty": "OKP"}], ids=repr)
def test_keys_not_an_array_refused(refused, keys):
    with refused(errors.bad_key_set("'keys' must be an array")):
        jwk.parse(json.dumps({"keys": keys}))


@pytest.mark.parametrize(
    "members",
    [
        [{"use": "enc"}],
        [{"use": "enc"}, {"use": "enc", "kid": "2"}],
        [{"key_ops": ["encrypt"]}],
        [{"key_ops": []}],
        [{"key_ops": "verify"}],
        [{"use": "sig", "key_ops": ["sign"]}],
        [{"use": "SIG"}],
    ],
    ids=repr,
)
def test_set_without_a_verification_key_refused_naming_each(refused, members):
    keys = [dict(issuer("RS256").jwk, **m) for m in members]
    named = [f"{jwk.Skipped(i, m.get('kid'), errors.JWTError('', '')).label}: not a signature verification key"
             f" (use={m.get('use')!r}, key_ops={m.get('key_ops')!r})" for i, m in enumerate(members)]
    with refused(errors.no_usable_key("skipped: " + "; ".join(named))):
        jwk.parse(json.dumps({"keys": keys}))


def test_empty_set_refused(refused):
    with refused(errors.no_usable_key("the set is empty")):
        jwk.parse('{"keys": []}')


def test_verification_keys_kept_and_encryption_keys_skipped():
    keys = jwk.parse(
        json.dumps(
            {
                "keys": [
                    dict(issuer("RS256", "a").jwk, kid="sig", use="sig", key_ops=["verify"]),
                    dict(issuer("RS256", "b").jwk, kid="enc", use="enc"),
                    dict(issuer("ES256").jwk, kid="ops", key_ops=["verify", "sign"]),
                    dict(issuer("EdDSA").jwk, kid="wrap", key_ops=["wrapKey"]),
                ]
            }
        )
    )
    assert [k.kid for k in keys.keys] == ["sig", "ops"]
    assert [s.kid for s in keys.skipped] == ["enc", "wrap"]


# --- keys a provider publishes that this server cannot use: skipped, not fatal -----------

UNUSABLE = unusable_keys()


@pytest.fixture(scope="module")
def good():
    return issuer("EdDSA", "good", kid="good")


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_unusable_key_skipped_and_the_rest_serves(good, name):
    bad, reason = UNUSABLE[name]
    keys = jwk.parse(json.dumps({"keys": [bad, good.jwk]}))
    assert [k.kid for k in keys.keys] == ["good"]
    (skipped,) = keys.skipped
    expected_label = f"kid {bad['kid']!r}" if isinstance(bad, dict) and "kid" in bad else "#0 (no kid)"
    assert skipped.label == expected_label
    assert reason in skipped.reason
    assert skipped.warning() == f"pg_session_jwt.jwk: skipped key {expected_label}: {skipped.reason}"
    assert Session(json.dumps({"keys": [bad, good.jwk]})).validate(good.token("bob")).user_id() == "bob"


@pytest.mark.parametrize("name", [name for name, (bad, _) in UNUSABLE.items() if isinstance(bad, dict)])
def test_the_same_key_alone_is_refused_as_before(name):
    """A single JWK is the operator's own choice: refused outright."""
    bad, reason = UNUSABLE[name]
    with pytest.raises(errors.JWTError) as info:
        jwk.parse(json.dumps(bad))
    assert info.value.sqlstate == "42804"
    assert reason in (info.value.detail or "")


def test_set_of_only_unusable_keys_refused_naming_each(refused):
    members = [UNUSABLE["x25519"][0], UNUSABLE["secp256k1"][0], UNUSABLE["not-an-object"][0]]
    keys_text = json.dumps({"keys": members})
    with pytest.raises(errors.JWTError) as info:
        jwk.parse(keys_text)
    e = info.value
    assert (e.sqlstate, e.message) == ("42804", "pg_session_jwt.jwk holds no key this server can verify with")
    assert e.detail.startswith("skipped: kid 'x25519': unsupported 'crv' 'X25519'")
    assert "; kid 'k1': unsupported 'crv': 'secp256k1'; #2 (no kid): not a JSON object" in e.detail


def test_no_usable_key_detail_is_bounded():
    many = [dict(UNUSABLE["x25519"][0], kid=f"x{i}") for i in range(jwk.MAX_DETAIL_KEYS + 5)]
    with pytest.raises(errors.JWTError) as info:
        jwk.parse(json.dumps({"keys": many}))
    assert info.value.detail.endswith("; and 5 more")
    assert info.value.detail.count("kid 'x") == jwk.MAX_DETAIL_KEYS


@pytest.mark.parametrize("usable", [1, 2], ids=["one-usable", "two-usable"])
def test_token_naming_a_skipped_kid_refused(refused, good, usable):
    """The skipped key's kid picks no key, even when one usable key would
    otherwise be tried whatever the kid; the detail says why."""
    short = p521_short_coordinate(kid="p521")
    published = [good.jwk, short.jwk] + ([issuer("RS256", kid="rsa").jwk] if usable == 2 else [])
    reason = "'x' and 'y' must hold 66 bytes each for P-521"
    with refused(errors.unknown_kid("p521", reason)) as info:
        user_of({"keys": published}, short.token())
    assert info.value.detail == f"kid='p521'; that key was skipped: {reason}"


def test_token_naming_no_kid_still_uses_the_one_usable_key(good):
    """The reference's rule (one key: any kid) holds for kids the set does not name."""
    published = {"keys": [good.jwk, UNUSABLE["x25519"][0]]}
    assert user_of(published, good.token(header={"kid": 1})) == "alice"


@pytest.mark.parametrize(
    "secret",
    [{"kty": "oct", "k": "c2VjcmV0", "kid": "hs"}, {"kty": "OCT", "k": "c2VjcmV0"}, {"kty": "AKP", "pub": "x", "priv": "y"},
     {"kty": "RSA", "dq": "AQAB"}, {"kty": "EC", "crv": "secp256k1", "d": "AQAB"}],
    ids=["oct", "oct-uppercase-with-k", "akp-priv", "rsa-dq", "unusable-ec-with-d"],
)
def test_a_secret_anywhere_refuses_the_whole_set(refused, good, secret):
    """Skipping is for keys the server cannot use; a secret in a setting every
    session can read is refused loudly, even inside a key that would be skipped."""
    expected = errors.symmetric_jwk() if secret["kty"] == "oct" else errors.private_jwk()
    with refused(expected):
        jwk.parse(json.dumps({"keys": [good.jwk, UNUSABLE["x25519"][0], secret]}))


def test_session_tells_its_listener_once_of_skipped_keys(good):
    told = []
    s = Session(json.dumps({"keys": [good.jwk, UNUSABLE["use-enc"][0]]}))
    s.on_skipped = told.append
    s.validate(good.token())
    s.validate(good.token())
    s.keys()
    assert [[k.kid for k in keys.skipped] for keys in told] == [["enc"]]


def test_session_does_not_call_its_listener_when_nothing_is_skipped(good):
    s = Session(json.dumps({"keys": [good.jwk]}))
    s.on_skipped = lambda keys: pytest.fail("nothing was skipped")
    s.validate(good.token())


NO_CRYPTOGRAPHY = """
import json, sys
sys.modules["cryptography"] = None  # as on a server without python3-cryptography
from pg_session_jwt import errors, jwk
try:
    keys = jwk.parse(sys.argv[1])
    print(json.dumps({"kids": [k.kid for k in keys.keys], "skipped": [s.warning() for s in keys.skipped]}))
except errors.JWTError as e:
    print(json.dumps({"error": [e.sqlstate, e.message]}))
"""


def parse_without_cryptography(value) -> dict:
    done = subprocess.run([sys.executable, "-c", NO_CRYPTOGRAPHY, json.dumps(value)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_without_cryptography_rsa_keys_are_skipped_and_ed25519_serves(good):
    found = parse_without_cryptography(key_set(good, issuer("RS256", kid="rsa")))
    assert found["kids"] == ["good"]
    assert found["skipped"] == ["pg_session_jwt.jwk: skipped key kid 'rsa': pg_session_jwt cannot import"
                                " cryptography in the server's Python (install it for the Python that PL/Python uses,"
                                " e.g. apt-get install python3-cryptography)"]


def test_without_cryptography_a_set_of_rsa_keys_says_what_to_install():
    found = parse_without_cryptography(key_set(issuer("RS256", kid="a"), issuer("ES256", kid="b")))
    assert found["error"] == ["58P01", "pg_session_jwt cannot import cryptography in the server's Python"]


# --- size limits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ed25519_jwks():
    return [ed25519_keypair(kid=f"k{i}")[1] for i in range(jwk.MAX_KEYS + 1)]


def test_max_keys_accepted(ed25519_jwks):
    assert len(jwk.parse(json.dumps({"keys": ed25519_jwks[: jwk.MAX_KEYS]})).keys) == jwk.MAX_KEYS


def test_more_than_max_keys_refused(refused, ed25519_jwks):
    with refused(errors.too_large("pg_session_jwt.jwk", jwk.MAX_KEYS + 1, jwk.MAX_KEYS, unit="keys")) as info:
        jwk.parse(json.dumps({"keys": ed25519_jwks}))
    assert info.value.sqlstate == "54000"


def padded(text: str, size: int) -> str:
    """The JSON text with whitespace appended up to ``size`` characters."""
    return text + " " * (size - len(text))


def test_jwk_text_at_the_limit_accepted():
    assert len(jwk.parse(padded(issuer("RS256").jwk_text, jwk.MAX_JWK_CHARS)).keys) == 1


def test_jwk_text_over_the_limit_refused(refused):
    size = jwk.MAX_JWK_CHARS + 1
    with refused(errors.too_large("pg_session_jwt.jwk", size, jwk.MAX_JWK_CHARS)) as info:
        jwk.parse(padded(issuer("RS256").jwk_text, size))
    assert info.value.sqlstate == "54000"


def token_of_length(signer, length: int) -> str:
    """A valid token of exactly ``length`` characters: a padding claim (and ``typ``) sized to fit."""
    for typ in ("JWT", "JWT ", "JWT  "):
        header = {"alg": signer.alg, "typ": typ}
        estimate = (length - len(signer.token(pad="", header=header))) * 3 // 4
        for size in range(max(estimate - 3, 0), estimate + 4):
            token = signer.token(pad="x" * size, header=header)
            if len(token) == length:
                return token
    raise AssertionError(f"no padding gives a token of {length} characters")


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_token_at_the_limit_accepted(alg):
    signer = issuer(alg)
    token = token_of_length(signer, jws.MAX_TOKEN_CHARS)
    assert user_of(signer.jwk, token) == "alice"


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
@pytest.mark.parametrize("over", [1, 1000])
def test_token_over_the_limit_refused(refused, alg, over):
    signer = issuer(alg)
    size = jws.MAX_TOKEN_CHARS + over
    with refused(errors.too_large("JWT", size, jws.MAX_TOKEN_CHARS)) as info:
        user_of(signer.jwk, token_of_length(signer, size))
    assert info.value.sqlstate == "54000"


def test_oversized_garbage_refused_before_parsing(refused):
    size = jws.MAX_TOKEN_CHARS * 4
    with refused(errors.too_large("JWT", size, jws.MAX_TOKEN_CHARS)):
        user_of(issuer("RS256").jwk, "." * size)


# --- duplicate member names ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES384", "EdDSA"])
@pytest.mark.parametrize(
    "header_json, payload_json",
    [
        ('{"alg":"{alg}","alg":"none"}', '{"jti":1,"sub":"alice"}'),
        ('{"alg":"{alg}","kid":"a","kid":"b"}', '{"jti":1,"sub":"alice"}'),
        ('{"alg":"{alg}"}', '{"jti":1,"sub":"alice","sub":"admin"}'),
        ('{"alg":"{alg}"}', '{"jti":1,"jti":2}'),
        ('{"alg":"{alg}"}', '{"jti":1,"o":{"id":"a","id":"b"}}'),
    ],
    ids=["header-alg", "header-kid", "payload-sub", "payload-jti", "payload-nested"],
)
def test_duplicate_member_names_in_token_parts_refused(refused, alg, header_json, payload_json):
    """Signed correctly, so only the duplicate can be the reason."""
    signer = issuer(alg)
    header = part(header_json.replace("{alg}", alg).encode())
    token = signer.sign_parts(header, part(payload_json.encode()))
    with refused(errors.unparsable()):
        user_of(signer.jwk, token)


@pytest.mark.parametrize(
    "template",
    [
        '{"kty":"RSA","kty":"oct","n":"{n}","e":"AQAB"}',
        '{"kty":"RSA","n":"{n}","e":"AQAB","e":"Aw"}',
        '{"keys":[{"kty":"RSA","n":"{n}","e":"AQAB","n":"{n}"}]}',
        '{"keys":[{"kty":"RSA","n":"{n}","e":"AQAB"}],"keys":[]}',
    ],
    ids=["kty", "e", "in-set", "keys"],
)
def test_duplicate_member_names_in_jwk_refused(refused, template):
    text = template.replace("{n}", issuer("RS256").jwk["n"])
    with refused(errors.bad_jwk()) as info:
        jwk.parse(text)
    assert info.value.detail.startswith("duplicate member name"), info.value


# --- audience and issuer ----------------------------------------------------------------------


AUD, ISS = "https://api.example", "https://issuer.example"


@pytest.mark.parametrize("aud", [AUD, [AUD], ["other", AUD], [1, None, AUD], [AUD, AUD]], ids=repr)
def test_audience_included_accepted(aud):
    signer = issuer("ES256")
    assert user_of(signer.jwk, signer.token(aud=aud), audience=AUD) == "alice"


MISSING = object()


@pytest.mark.parametrize(
    "aud",
    [MISSING, None, "", "other", AUD.upper(), AUD + "/", [], ["other"], [[AUD]], [{"aud": AUD}], [1, None], 1,
     {"aud": AUD}],
    ids=repr,
)
def test_audience_not_included_refused(refused, aud):
    signer = issuer("ES256")
    claims = {} if aud is MISSING else {"aud": aud}
    with refused(errors.wrong_audience(None if aud is MISSING else aud, AUD)):
        user_of(signer.jwk, signer.token(**claims), audience=AUD)


@pytest.mark.parametrize("iss", [MISSING, None, "", "https://evil.example", ISS + "/", [ISS], {"iss": ISS}], ids=repr)
def test_issuer_not_equal_refused(refused, iss):
    signer = issuer("RS256")
    claims = {} if iss is MISSING else {"iss": iss}
    with refused(errors.wrong_issuer(None if iss is MISSING else iss, ISS)):
        user_of(signer.jwk, signer.token(**claims), issuer=ISS)


def test_issuer_equal_accepted():
    signer = issuer("RS256")
    assert user_of(signer.jwk, signer.token(iss=ISS), issuer=ISS) == "alice"


def test_both_configured_both_checked(refused):
    signer = issuer("PS256")
    config = {"audience": AUD, "issuer": ISS}
    assert user_of(signer.jwk, signer.token(aud=AUD, iss=ISS), **config) == "alice"
    with refused(errors.wrong_issuer("x", ISS)):
        user_of(signer.jwk, signer.token(aud=AUD, iss="x"), **config)
    with refused(errors.wrong_audience("x", AUD)):
        user_of(signer.jwk, signer.token(aud="x", iss=ISS), **config)


@pytest.mark.parametrize("unset", [None, ""], ids=repr)
def test_unset_audience_and_issuer_not_checked(unset):
    signer = issuer("EdDSA")
    for claims in ({}, {"aud": 1, "iss": ["x"]}, {"aud": "anything", "iss": "anyone"}):
        assert user_of(signer.jwk, signer.token(**claims), audience=unset, issuer=unset) == "alice"


def test_refused_audience_leaves_the_session_unchanged(refused):
    """The refusal comes before the token becomes the session: its jti is still free."""
    signer = issuer("ES256")
    s = session(signer.jwk, audience=AUD)
    good = signer.token("alice", aud=AUD)
    s.validate(good)
    jti = next_jti()
    with refused(errors.wrong_audience("other", AUD)):
        s.validate(signer.sign({"jti": jti, "sub": "mallory", "aud": "other"}))
    assert (s.token, s.claims.user_id()) == (good, "alice")
    assert s.validate(signer.sign({"jti": jti, "sub": "bob", "aud": AUD})).user_id() == "bob"


# --- crypto modules imported only for RSA/EC keys -------------------------------------------------

PROBE = """
import json, sys
from pg_session_jwt.session import Session
s = Session(sys.argv[1])
s.keys()
if len(sys.argv) > 2:
    s.validate(sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "cryptography")))
"""


def crypto_modules_after(jwk_value, token=None):
    """``cryptography`` modules a fresh interpreter holds after loading the key (and validating)."""
    args = [sys.executable, "-c", PROBE, json.dumps(jwk_value)] + ([token] if token else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ed25519_only_never_imports_cryptography():
    signer = issuer("EdDSA", kid="a")
    second = issuer("EdDSA", "other", kid="b")
    assert crypto_modules_after(key_set(signer, second), signer.token()) == []


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rsa_or_ec_key_imports_cryptography(alg):
    assert "cryptography" in crypto_modules_after(issuer(alg).jwk)
    assert "cryptography" in crypto_modules_after(key_set(issuer("EdDSA"), issuer(alg)))


def test_jwk_names_the_key_types_rsa_ec_defines():
    """jwk.py names rsa_ec's key types without importing it: the two lists must agree."""
    from pg_session_jwt import rsa_ec

    assert set(jwk.OTHER_KEY_TYPES) == set(rsa_ec.KEY_TYPES)
    assert not set(jwk.KEY_TYPES) & set(rsa_ec.KEY_TYPES)
