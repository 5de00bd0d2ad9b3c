"""Keys and tokens for every algorithm the server verifies, checked by the server's own code
and, for one key of each family, by a real server."""

from __future__ import annotations

import threading
import time

import pytest
from helpers import scalar, sql_error

from pg_session_jwt import b64url, keys, verify
from pg_session_jwt.errors import JWTError
from pg_session_jwt.signing import Minter, ed25519_keypair, keypair, public_jwk, sign

FAMILIES = ["EdDSA", "ES256", "RS256", "PS256"]  # one per kind of key and padding


@pytest.fixture(scope="module")
def pairs():
    """One key per algorithm (RSA generation is slow: made once)."""
    return {alg: keypair(alg, kid=f"{alg}-1") for alg in keys.ALGORITHMS}


@pytest.mark.parametrize("alg", keys.ALGORITHMS)
def test_every_algorithm_signs_what_the_core_accepts(pairs, alg):
    private, public = pairs[alg]
    assert private["alg"] == public["alg"] == alg and public["kid"] == f"{alg}-1"
    assert not keys.PRIVATE_MEMBERS & set(public)
    token = Minter(private).token("alice")
    header, _ = verify.decode(token)
    assert header == {"alg": alg, "typ": "JWT", "kid": f"{alg}-1"}
    assert verify.verify(token, public)["sub"] == "alice"
    h, p, s = token.split(".")
    flipped = b64url.encode(bytes([b64url.decode(s)[0] ^ 1]) + b64url.decode(s)[1:])
    with pytest.raises(JWTError, match="invalid JWT signature"):
        verify.verify(f"{h}.{p}.{flipped}", public)


def test_rsa_bits_and_unknown_algorithms():
    with pytest.raises(ValueError, match="2048"):
        keys.generate("RS256", bits=1024)
    with pytest.raises(ValueError, match="unsupported algorithm"):
        keys.generate("HS256")
    private, _ = keypair("PS384", bits=3072)
    assert len(b64url.decode(private["n"])) == 384


def test_thumbprint_rfc_vectors():
    # RFC 7638 section 3.1 (RSA) and RFC 8037 appendix A.3 (Ed25519).
    rsa = {"kty": "RSA", "e": "AQAB", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
        "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
        "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
        "kEgU8awapJzKnqDKgw")}
    assert keys.thumbprint(rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    ed = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert keys.thumbprint(ed) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    private = keys.generate("ES256")
    assert private["kid"] == keys.thumbprint(private)


def test_ed25519_keypair_keeps_the_reference_shape():
    private, public = ed25519_keypair()
    assert set(public) == {"kty", "crv", "x"} and set(private) == {"kty", "crv", "x", "d"}
    assert ed25519_keypair(kid="k")[1]["kid"] == "k"
    assert public_jwk(private) == public


def test_sign_uses_a_given_header_as_is(keypair):
    """Tests forge headers (no alg, alg none): the key's own algorithm still signs."""
    private, public = keypair
    for header in ({"kid": 1}, {"alg": "none"}, {"alg": "RS256"}):
        token = sign(private, {"jti": 1, "sub": "x"}, header=header)
        assert verify.decode(token)[0] == header
    assert verify.verify(sign(private, {"jti": 1}, header={"kid": 1}), public) == {"jti": 1}
    with pytest.raises(JWTError, match="does not fit the key"):
        verify.verify(sign(private, {"jti": 1}, header={"alg": "none"}), public)
    raw = sign(private, b"not json", header={"alg": "EdDSA"})
    assert raw.split(".")[1] == b64url.encode(b"not json")


def test_signer_refuses_public_or_mismatched_keys(pairs):
    with pytest.raises(ValueError, match="not a private key"):
        keys.signer(pairs["ES256"][1])
    with pytest.raises(ValueError, match="does not fit"):
        keys.signer(pairs["ES256"][0], "RS256")


def test_minter_defaults(keypair):
    minter = Minter(keypair[0], ttl=60, audience="api", issuer="https://id.example/")
    claims = minter.claims("alice", role="admin", exp=5)
    assert claims["aud"] == "api" and claims["iss"] == "https://id.example/"
    assert claims["sub"] == "alice" and claims["role"] == "admin" and claims["exp"] == 5
    fresh = minter.claims()
    assert "sub" not in fresh and fresh["exp"] - fresh["iat"] == 60
    assert fresh["jti"] > claims["jti"]


def test_minter_jti_strictly_increases_across_threads(keypair):
    minter = Minter(keypair[0])
    got = []
    lock = threading.Lock()

    def work():
        mine = [minter.next_jti() for _ in range(2000)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == len(got) == 8000
    time.sleep(0.05)  # a burst runs ahead of the microsecond clock; a new minter follows the clock
    assert Minter(keypair[0]).next_jti() > max(got)


@pytest.mark.parametrize("alg", FAMILIES)
def test_real_server_accepts_each_family(connect, pairs, alg):
    private, public = pairs[alg]
    conn = connect(jwk=public)
    minter = Minter(private)
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
    assert scalar(conn, "SELECT auth.user_id()") == "alice"
    with sql_error("23514", "JWT algorithm does not fit the key"):  # an ES384 token, whatever this key is
        conn.execute("SELECT auth.jwt_session_init(%s)", [Minter(pairs["ES384"][0]).token("mallory")])
