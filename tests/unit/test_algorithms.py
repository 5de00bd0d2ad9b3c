"""RSA, EC and Ed25519 keys: every algorithm with real signatures, alg confusion, key validation.

Tokens come from ``jose_keys`` (the ``cryptography`` package, signing exactly
as RFC 7518 prescribes); the verifier under test never sees the private key.
"""

import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from jose_keys import ALL_ALGS, issuer, part, pem, private_jwk, rsa_key, signature, uint
from jose_keys import public_jwk as jwk_of

from pg_session_jwt import b64url, errors, jwa, jwk, jws
from pg_session_jwt.session import Session

EC_ALGS = [a for a in ALL_ALGS if a.startswith("ES")]
BAD_RSA = errors.bad_key_of("RSA")
BAD_EC = errors.bad_key_of("EC")


def verify(public_jwk: dict, token: str) -> bytes:
    return jws.verify(token, jwk.parse(json.dumps(public_jwk)))


def claims_of(token: str) -> bytes:
    return b64url.decode(token.split(".")[1])


# --- every algorithm, with the right key and with a wrong one -----------------


def test_every_registered_algorithm_is_covered():
    assert sorted(ALL_ALGS) == sorted(jwa.ALGORITHMS)
    assert len(ALL_ALGS) == 11


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_algorithm_accepted_with_its_key(alg):
    signer = issuer(alg)
    token = signer.token("alice")
    assert verify(signer.jwk, token) == claims_of(token)
    assert Session(signer.jwk_text).validate(token).user_id() == "alice"


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_algorithm_accepted_when_the_key_names_it(alg):
    signer = issuer(alg)
    published = dict(signer.jwk, alg=alg, use="sig", key_ops=["verify"])
    token = signer.token()
    assert verify(published, token) == claims_of(token)


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_algorithm_refused_with_another_key_of_the_same_kind(refused, alg):
    """Same type and size, so the signature length fits: only the math can refuse it."""
    with refused(errors.bad_signature()):
        verify(issuer(alg, "other").jwk, issuer(alg).token())


@pytest.mark.parametrize(
    "header_alg, signed_as",
    [("RS256", "RS384"), ("RS512", "RS256"), ("PS256", "RS256"), ("RS256", "PS256"), ("PS384", "PS512")],
)
def test_rsa_signature_made_with_other_hash_or_padding_refused(refused, header_alg, signed_as):
    signer = issuer(header_alg)
    token = signer.sign_parts(part({"alg": header_alg}), part({"jti": 1}), alg=signed_as)
    with refused(errors.bad_signature()):
        verify(signer.jwk, token)


@pytest.mark.parametrize("salt", [0, 20, 64])
def test_pss_salt_must_be_the_digest_size(refused, salt):
    signer = issuer("PS256")
    signing_input = part({"alg": "PS256"}) + "." + part({"jti": 1})
    sig = signature("PS256", signer.key, signing_input.encode(), salt_length=salt)
    with refused(errors.bad_signature()):
        verify(signer.jwk, signing_input + "." + b64url.encode(sig))


def test_ecdsa_signature_in_der_refused(refused):
    """JWS carries r || s; the DER encoding OpenSSL produces is not a JWS signature."""
    signer = issuer("ES256")
    signing_input = part({"alg": "ES256"}) + "." + part({"jti": 1})
    der = signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    with refused(errors.bad_signature_encoding()):
        verify(signer.jwk, signing_input + "." + b64url.encode(der))


@pytest.mark.parametrize(
    "tamper",
    [lambda r, s: bytes(64), lambda r, s: s + r, lambda r, s: r + bytes(32), lambda r, s: b"\xff" * 64],
    ids=["zeros", "swapped", "s-zero", "above-order"],
)
def test_ecdsa_degenerate_signatures_refused(refused, tamper):
    signer = issuer("ES256")
    head, body, sig = signer.token().split(".")
    raw = b64url.decode(sig)
    forged = f"{head}.{body}.{b64url.encode(tamper(raw[:32], raw[32:]))}"
    with refused(errors.bad_signature()):
        verify(signer.jwk, forged)


@pytest.mark.parametrize("token_alg, key_alg", [("RS256", "RS384"), ("ES256", "ES384"), ("ES512", "ES384")])
def test_signature_of_the_wrong_length_refused(refused, token_alg, key_alg):
    """RSA-2048 against RSA-3072, and curve sizes: the length is checked before any math."""
    token = issuer(token_alg).token(header={"alg": key_alg})
    with refused(errors.bad_signature_encoding()):
        verify(issuer(key_alg).jwk, token)


# --- algorithm confusion: refused before any signature math --------------------


@pytest.mark.parametrize(
    "token_alg, key_alg",
    [
        ("RS256", "ES256"),
        ("PS512", "ES512"),
        ("ES256", "RS256"),
        ("ES384", "PS384"),
        ("EdDSA", "RS256"),
        ("EdDSA", "ES256"),
        ("RS256", "EdDSA"),
        ("ES256", "EdDSA"),
        ("ES384", "ES256"),  # right key type, wrong curve
        ("ES256", "ES512"),
    ],
)
def test_alg_of_another_key_type_or_curve_refused(refused, token_alg, key_alg):
    with refused(errors.disallowed_alg(token_alg)):
        verify(issuer(key_alg).jwk, issuer(token_alg).token())


@pytest.mark.parametrize("key_alg", ["RS256", "ES256"])
@pytest.mark.parametrize("hmac_alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize("secret_of", [pem, lambda key: json.dumps(jwk_of(key)).encode()], ids=["pem", "jwk-json"])
def test_hmac_with_the_public_key_as_secret_refused(refused, key_alg, hmac_alg, secret_of):
    target = issuer(key_alg)
    signing_input = part({"alg": hmac_alg, "typ": "JWT"}) + "." + part({"jti": 1, "sub": "mallory"})
    mac = hmac.new(secret_of(target.key), signing_input.encode(), getattr(hashlib, "sha" + hmac_alg[2:]))
    with refused(errors.disallowed_alg(hmac_alg)):
        verify(target.jwk, signing_input + "." + b64url.encode(mac.digest()))


@pytest.mark.parametrize("key_alg", ["RS256", "ES256", "EdDSA"])
@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_alg_none_refused(refused, key_alg, alg):
    token = part({"alg": alg}) + "." + part({"jti": 1, "sub": "mallory"}) + "."
    with refused(errors.disallowed_alg(alg)):
        verify(issuer(key_alg).jwk, token)


@pytest.mark.parametrize("key_alg", ["RS256", "PS384", "ES256", "ES512"])
@pytest.mark.parametrize("header", [{}, {"typ": "JWT"}, {"kid": 1}], ids=repr)
def test_missing_alg_refused_for_rsa_and_ec_keys(refused, key_alg, header):
    """The reference's alg-less ``{"kid":1}`` header is an Ed25519-only allowance."""
    signer = issuer(key_alg)
    with refused(errors.missing_alg()):
        verify(signer.jwk, signer.token(header=header))


@pytest.mark.parametrize("alg", [None, 256, ["RS256"], "rs256", "RS256 "], ids=repr)
def test_alg_not_exactly_a_registered_name_refused(refused, alg):
    signer = issuer("RS256")
    with refused(errors.disallowed_alg(alg)):
        verify(signer.jwk, signer.token(header={"alg": alg}))


def test_key_alg_member_restricts_the_token_alg(refused):
    """An RSA key published for RS256 verifies RS256 only, though PS256 fits RSA."""
    rs = issuer("RS256")
    published = dict(rs.jwk, alg="RS256")
    verify(published, rs.token())
    with refused(errors.disallowed_alg("PS256")):
        verify(published, rs.token(header={"alg": "PS256"}))


@pytest.mark.parametrize(
    "key_alg, own_alg, bad",
    [("RS256", "ES256", BAD_RSA), ("RS256", "HS256", BAD_RSA), ("RS256", "EdDSA", BAD_RSA), ("ES256", "ES384", BAD_EC),
     ("ES256", "RS256", BAD_EC), ("ES256", "none", BAD_EC)],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_key_alg_member_that_does_not_fit_the_key_refused_at_load(refused, key_alg, own_alg, bad):
    with refused(bad(f"'alg' {own_alg!r} does not fit this key")):
        jwk.parse(json.dumps(dict(issuer(key_alg).jwk, alg=own_alg)))


@pytest.mark.parametrize("key_alg, bad", [("RS256", BAD_RSA), ("ES256", BAD_EC)], ids=["rsa", "ec"])
@pytest.mark.parametrize("own_alg", [["RS256"], {"alg": "ES256"}, 1], ids=repr)
def test_key_alg_member_of_the_wrong_type_refused_at_load(refused, key_alg, bad, own_alg):
    """BUG (jwk.py ``_bind``: ``own not in algs``): a list or object ``alg`` raises TypeError."""
    with refused(bad()):
        jwk.parse(json.dumps(dict(issuer(key_alg).jwk, alg=own_alg)))


# --- RSA keys at load -----------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_1024():
    return jwk_of(rsa_key(1024))


def test_rsa_key_under_2048_bits_refused(refused, rsa_1024):
    with refused(BAD_RSA("modulus of 1024 bits; at least 2048 are required")):
        jwk.parse(json.dumps(rsa_1024))


@pytest.mark.parametrize("e", [0, 1, 2, 4, 65536, 65538])
def test_rsa_exponent_even_or_below_3_refused(refused, e):
    with refused(BAD_RSA("'e' must be an odd exponent of at least 3")):
        jwk.parse(json.dumps(dict(issuer("RS256").jwk, e=uint(e))))


@pytest.mark.parametrize("member", ["n", "e"])
@pytest.mark.parametrize("value", [None, 65537, "AQAB=", "AQ+B"], ids=repr)
def test_rsa_member_missing_or_not_base64url_refused(refused, member, value):
    published = dict(issuer("RS256").jwk)
    published.pop(member) if value is None else published.update({member: value})
    with refused(BAD_RSA()):
        jwk.parse(json.dumps(published))


# --- EC keys at load ------------------------------------------------------------


@pytest.mark.parametrize("alg", EC_ALGS)
def test_ec_point_not_on_the_curve_refused(refused, alg):
    published = issuer(alg).jwk
    size = len(b64url.decode(published["y"]))
    y = (int.from_bytes(b64url.decode(published["y"]), "big") ^ 1).to_bytes(size, "big")
    with refused(BAD_EC()):
        jwk.parse(json.dumps(dict(published, y=b64url.encode(y))))


@pytest.mark.parametrize("crv, size", [("P-256", 32), ("P-384", 48), ("P-521", 66)])
@pytest.mark.parametrize("change", ["short-x", "long-y", "other-curve"])
def test_ec_coordinates_of_the_wrong_length_refused(refused, crv, size, change):
    alg = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[crv]
    published = dict(issuer(alg).jwk)
    if change == "short-x":
        published["x"] = b64url.encode(b64url.decode(published["x"])[1:])
    elif change == "long-y":
        published["y"] = b64url.encode(b"\x00" + b64url.decode(published["y"]))
    else:
        other = issuer("ES384" if crv == "P-256" else "ES256").jwk
        published.update(x=other["x"], y=other["y"])
    with refused(BAD_EC(f"'x' and 'y' must hold {size} bytes each for {crv}")):
        jwk.parse(json.dumps(published))


@pytest.fixture(scope="module")
def secp256k1_jwk():
    numbers = ec.generate_private_key(ec.SECP256K1()).public_key().public_numbers()
    return {"kty": "EC", "crv": "secp256k1", "x": uint(numbers.x, 32), "y": uint(numbers.y, 32)}


@pytest.mark.parametrize("crv", ["secp256k1", "P-256K", "p-256", "P256", "Ed25519", None], ids=repr)
def test_ec_curve_unsupported_refused(refused, secp256k1_jwk, crv):
    with refused(BAD_EC(f"unsupported 'crv': {crv!r}")):
        jwk.parse(json.dumps(dict(secp256k1_jwk, crv=crv)))


@pytest.mark.parametrize("crv", [["P-256"], {"P-256": 1}], ids=repr)
def test_ec_curve_of_the_wrong_type_refused(refused, crv):
    """BUG (jwk.py ``ECKey``: ``crv not in self.CURVES``): an unhashable crv raises TypeError."""
    with refused(BAD_EC(f"unsupported 'crv': {crv!r}")):
        jwk.parse(json.dumps(dict(issuer("ES256").jwk, crv=crv)))


# --- symmetric and private keys ---------------------------------------------------


@pytest.mark.parametrize(
    "oct_jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "use": "sig", "kid": "h"},
        {"kty": "oct"},
    ],
    ids=["bare", "hs256", "no-k"],
)
@pytest.mark.parametrize("in_set", [False, True], ids=["single", "in-set"])
def test_symmetric_key_refused_with_the_reason(refused, oct_jwk, in_set):
    text = {"keys": [issuer("RS256").jwk, oct_jwk]} if in_set else oct_jwk
    with refused(errors.symmetric_jwk()):
        jwk.parse(json.dumps(text))
    assert errors.symmetric_jwk().sqlstate == "42804"
    assert "every session can read pg_session_jwt.jwk" in errors.symmetric_jwk().detail


@pytest.mark.parametrize(
    "alg, members",
    [("RS256", None), ("RS256", "d"), ("RS256", "p"), ("ES256", None), ("ES512", "d")],
    ids=["rsa-full", "rsa-d", "rsa-p", "ec-full", "ec-p521-d"],
)
def test_private_key_refused(refused, alg, members):
    """The public key plus all private members (None), or just one of them."""
    private = private_jwk(issuer(alg).key)
    if members is not None:
        private = dict(issuer(alg).jwk, **{members: private[members]})
    with refused(errors.private_jwk()):
        jwk.parse(json.dumps(private))


@pytest.mark.parametrize("kty", ["RSA-PSS", "rsa", "ec", "OCT", "Ed25519", ""])
def test_unknown_kty_refused(refused, kty):
    with refused(errors.bad_jwk(f"unsupported 'kty': {kty!r}")):
        jwk.parse(json.dumps(dict(issuer("RS256").jwk, kty=kty)))
