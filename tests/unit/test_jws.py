"""jws.verify: compact JWS split, header checks, strict Ed25519, signature before payload."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.signing import SigningKey

from pg_session_jwt import b64url, errors, jws
from pg_session_jwt.signing import sign

CLAIMS = {"jti": 1, "sub": "alice"}
PAYLOAD = b'{"jti":1,"sub":"alice"}'
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def test_valid_token_returns_payload_bytes(keypair, key):
    assert jws.verify(sign(keypair[0], CLAIMS), key) == PAYLOAD


@pytest.mark.parametrize("header", [{"kid": 1}, {}, {"alg": "EdDSA"}, {"alg": "Ed25519"}, {"alg": "EdDSA", "typ": "JWT", "kid": "x"}])
def test_accepted_headers(keypair, key, header):
    assert jws.verify(sign(keypair[0], CLAIMS, header=header), key) == PAYLOAD


def test_token_signed_by_another_library_verifies(keypair, key, part):
    signer = Ed25519PrivateKey.from_private_bytes(b64url.decode(keypair[0]["d"]))
    signing_input = part({"alg": "EdDSA"}) + "." + part(CLAIMS)
    token = signing_input + "." + b64url.encode(signer.sign(signing_input.encode()))
    assert jws.verify(token, key) == PAYLOAD


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "RS256", "ES256", "eddsa", "", None, 1])
def test_alg_that_does_not_fit_the_key_refused(keypair, key, refused, alg):
    with refused(errors.disallowed_alg(alg)):
        jws.verify(sign(keypair[0], CLAIMS, header={"alg": alg}), key)


def test_alg_none_with_empty_signature_refused(key, refused, part):
    with refused(errors.disallowed_alg("none")):
        jws.verify(part({"alg": "none"}) + "." + part(CLAIMS) + ".", key)


@pytest.mark.parametrize("alg", [["EdDSA"], {"EdDSA": 1}, []])
def test_alg_of_unhashable_type_refused(keypair, key, refused, alg):
    with refused(errors.disallowed_alg(alg)):
        jws.verify(sign(keypair[0], CLAIMS, header={"alg": alg}), key)


@pytest.mark.parametrize("crit", [["exp"], [], "b64"])
def test_crit_header_refused(keypair, key, refused, crit):
    with refused(errors.unsupported_crit(crit)):
        jws.verify(sign(keypair[0], CLAIMS, header={"alg": "EdDSA", "crit": crit}), key)


@pytest.mark.parametrize("drop_or_add", ["a.b", "a.b.c.d", "abc", "", "a.b.c.", ".a.b.c", "...."])
def test_not_three_parts_refused(key, refused, drop_or_add):
    with refused(errors.bad_encoding()):
        jws.verify(drop_or_add, key)


def test_two_or_four_parts_of_a_real_token_refused(keypair, key, refused):
    h, p, s = sign(keypair[0], CLAIMS).split(".")
    for token in [f"{h}.{p}", f"{h}.{p}.{s}.{s}", f"{h}.{p}.{s}."]:
        with refused(errors.bad_encoding()):
            jws.verify(token, key)


@pytest.mark.parametrize("header_part", ["eyJ9=", "e+J9", "!!!!", "Z", "Zh", "é"])
def test_header_not_base64url_refused(keypair, key, refused, header_part):
    _, p, s = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.undecodable()):
        jws.verify(f"{header_part}.{p}.{s}", key)


@pytest.mark.parametrize("header", [b"[]", b"1", b'"EdDSA"', b"null", b"not json", b"\xff", b'{"alg":NaN}', b""])
def test_header_not_a_json_object_refused(keypair, key, refused, part, header):
    _, p, s = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.unparsable()):
        jws.verify(f"{part(header)}.{p}.{s}", key)


def test_payload_not_base64url_but_signed_refused_after_signature(key, refused, part, raw_token):
    with refused(errors.undecodable()):
        jws.verify(raw_token(part({"alg": "EdDSA"}), "not*base64=="), key)


@pytest.mark.parametrize("payload_part", ["not*base64==", "Z", "é", "\ud800", "\x00", "A" * 5])
def test_payload_is_not_decoded_before_the_signature(keypair, key, refused, payload_part):
    """Garbage payload with a signature that does not verify: the signature error wins."""
    h, _, s = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.bad_signature()):
        jws.verify(f"{h}.{payload_part}.{s}", key)


@pytest.mark.parametrize("size", [0, 32, 63, 65, 128])
def test_signature_of_wrong_length_refused(keypair, key, refused, size):
    h, p, _ = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.bad_signature_encoding()):
        jws.verify(f"{h}.{p}.{b64url.encode(bytes(size))}", key)


def test_signature_not_base64url_refused(keypair, key, refused):
    h, p, s = sign(keypair[0], CLAIMS).split(".")
    for bad in [s + "==", s[:-1] + "+", "!" + s[1:], s[:-1] + "é", s + "A"]:
        with refused(errors.bad_signature_encoding()):
            jws.verify(f"{h}.{p}.{bad}", key)


def test_signature_by_another_key_refused(other_keypair, key, refused):
    with refused(errors.bad_signature()):
        jws.verify(sign(other_keypair[0], CLAIMS), key)


def test_tampered_payload_refused(keypair, key, refused, part):
    h, _, s = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.bad_signature()):
        jws.verify(f"{h}.{part(dict(CLAIMS, sub='mallory'))}.{s}", key)


def test_tampered_header_refused(keypair, key, refused, part):
    _, p, s = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.bad_signature()):
        jws.verify(f"{part({'alg': 'EdDSA', 'kid': 'other'})}.{p}.{s}", key)


def test_zero_signature_refused(keypair, key, refused):
    h, p, _ = sign(keypair[0], CLAIMS).split(".")
    with refused(errors.bad_signature()):
        jws.verify(f"{h}.{p}.{b64url.encode(bytes(64))}", key)


def test_non_canonical_signature_refused(keypair, key, refused):
    """S + L verifies under lax Ed25519 (same point); strict verification refuses it."""
    h, p, s = sign(keypair[0], CLAIMS).split(".")
    sig = b64url.decode(s)
    big_s = (int.from_bytes(sig[32:], "little") + ED25519_L).to_bytes(32, "little")
    with refused(errors.bad_signature()):
        jws.verify(f"{h}.{p}.{b64url.encode(sig[:32] + big_s)}", key)


def test_signature_over_other_encoding_of_same_input_refused(keypair, key, refused, part):
    """The signature covers the exact ASCII text, not the decoded header or payload."""
    h, p, _ = sign(keypair[0], CLAIMS).split(".")
    seed = b64url.decode(keypair[0]["d"])
    sig = SigningKey(seed).sign(b64url.decode(h) + b"." + b64url.decode(p)).signature
    with refused(errors.bad_signature()):
        jws.verify(f"{h}.{p}.{b64url.encode(sig)}", key)
