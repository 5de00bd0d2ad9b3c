"""jwk.parse, Ed25519: only a public OKP key in the prime-order subgroup is accepted."""

import json

import pytest
from nacl import bindings

from pg_session_jwt import b64url, errors, jwk

ORDER_8_POINT = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def with_x(x) -> str:
    return json.dumps({"kty": "OKP", "crv": "Ed25519", "x": x})


def only_key(text: str):
    keys = jwk.parse(text).keys
    assert len(keys) == 1
    return keys[0]


def test_valid_key(keypair):
    key = only_key(json.dumps(keypair[1]))
    assert key.public == b64url.decode(keypair[1]["x"])
    assert key.algs == {"EdDSA", "Ed25519"}


def test_extra_members_ignored(keypair):
    text = json.dumps(dict(keypair[1], kid="k1", alg="EdDSA", use="sig", key_ops=["verify"]))
    assert only_key(text).public == b64url.decode(keypair[1]["x"])


@pytest.mark.parametrize(
    "changes",
    [
        {"kty": "okp"},
        {"kty": None},
        {"kty": 1},
        {"crv": "X25519"},
        {"crv": "Ed448"},
        {"crv": "ed25519"},
        {"crv": None},
        {"x": None},
        {"x": 12},
        {"x": ["AAAA"]},
    ],
    ids=repr,
)
def test_wrong_members_refused(keypair, refused, changes):
    with refused(errors.bad_jwk()):
        jwk.parse(json.dumps({**keypair[1], **changes}))


@pytest.mark.parametrize("missing", ["kty", "crv", "x"])
def test_missing_member_refused(keypair, refused, missing):
    with refused(errors.bad_jwk()):
        jwk.parse(json.dumps({k: v for k, v in keypair[1].items() if k != missing}))


@pytest.mark.parametrize("kty", [["OKP"], {"OKP": 1}, []])
def test_unhashable_kty_refused(keypair, refused, kty):
    with refused(errors.bad_jwk()):
        jwk.parse(json.dumps(dict(keypair[1], kty=kty)))


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_x_not_32_bytes_refused(refused, size):
    with refused(errors.bad_jwk("'x' must hold 32 bytes")):
        jwk.parse(with_x(b64url.encode(bytes(range(size)))))


def test_x_with_padding_or_standard_alphabet_refused(keypair, refused):
    x = keypair[1]["x"]
    for bad in [x + "=", x.replace("A", "+") + "+", x[:-1] + "/", " " + x]:
        with refused(errors.bad_jwk()):
            jwk.parse(with_x(bad))


@pytest.mark.parametrize(
    "point",
    [
        bytes(32),  # y = 0: a point of order 4
        b"\x01" + bytes(31),  # the identity
        ORDER_8_POINT,
        b"\xed" + b"\xff" * 30 + b"\x7f",  # y = p: non-canonical encoding
        b"\x02" + bytes(31),  # y = 2: not on the curve
        b"\xff" * 32,
    ],
    ids=["order4", "identity", "order8", "non-canonical", "off-curve", "all-ones"],
)
def test_small_order_and_invalid_points_refused(refused, point):
    with refused(errors.bad_jwk("'x' is not a valid Ed25519 public key")):
        jwk.parse(with_x(b64url.encode(point)))


def test_key_with_torsion_component_refused(keypair, refused):
    mixed = bindings.crypto_core_ed25519_add(b64url.decode(keypair[1]["x"]), ORDER_8_POINT)
    with refused(errors.bad_jwk("'x' is not a valid Ed25519 public key")):
        jwk.parse(with_x(b64url.encode(mixed)))


def test_private_key_refused(keypair, refused):
    with refused(errors.private_jwk()):
        jwk.parse(json.dumps(keypair[0]))


@pytest.mark.parametrize(
    "text",
    ["", "not json", "{", '["OKP"]', "[]", '"OKP"', "null", "1", '{"kty":"OKP","crv":"Ed25519","x":NaN}'],
)
def test_non_object_or_non_json_refused(refused, text):
    with refused(errors.bad_jwk()):
        jwk.parse(text)
