"""Tokens and keys from JOSE libraries we did not write, verified by a real server.

PyJWT and joserfc each make a key per algorithm, export its public JWK their
own way and sign a token with it; all of a library's keys go into one set,
beside a P-521 key written as Authlib writes about half of them (``x``
without its leading zero byte).  The server skips that key with a WARNING
and verifies every other library token.
"""

from __future__ import annotations

import warnings
from typing import Callable, Dict, List, Tuple

import jwt as pyjwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from helpers import scalar, sql_error, warnings_of
from jose_keys import next_jti, p521_short_coordinate

from pg_session_jwt import jwa
from pg_session_jwt.client import startup_options

ALGS = [a for a in jwa.ALGORITHMS if a != "Ed25519"]  # RFC 9864's name: neither library signs with it by default
CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
Minted = Tuple[Dict, Callable[[Dict], str]]  # (public JWK, claims -> token)


def pyjwt_key(alg: str, kid: str) -> Minted:
    if alg == "EdDSA":
        private, algorithm = ed25519.Ed25519PrivateKey.generate(), pyjwt.algorithms.OKPAlgorithm
    elif alg in CURVES:
        private, algorithm = ec.generate_private_key(CURVES[alg]()), pyjwt.algorithms.ECAlgorithm
    else:
        private, algorithm = rsa.generate_private_key(public_exponent=65537, key_size=2048), pyjwt.algorithms.RSAAlgorithm
    public = dict(algorithm.to_jwk(private.public_key(), as_dict=True), kid=kid)
    return public, lambda claims: pyjwt.encode(claims, private, algorithm=alg, headers={"kid": kid})


def joserfc_key(alg: str, kid: str) -> Minted:
    from joserfc import jwt
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    if alg == "EdDSA":
        key = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
    elif alg in CURVES:
        key = ECKey.generate_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg], parameters={"kid": kid})
    else:
        key = RSAKey.generate_key(2048, parameters={"kid": kid})

    def mint(claims: Dict) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns that "EdDSA" is deprecated by RFC 9864
            return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])

    return key.as_dict(private=False), mint


LIBRARIES = {"pyjwt": pyjwt_key, "joserfc": joserfc_key}


@pytest.fixture(scope="module", params=list(LIBRARIES))
def library(request) -> Tuple[str, Dict[str, Minted]]:
    make = LIBRARIES[request.param]
    return request.param, {alg: make(alg, f"{request.param}-{alg}") for alg in ALGS}


@pytest.fixture(scope="module")
def authlib_p521():
    return p521_short_coordinate(kid="authlib-p521")


@pytest.fixture
def conn(cluster, library, authlib_p521):
    """A connection whose set holds the library's keys and the Authlib-style key."""
    _, minted = library
    keys: List[Dict] = [authlib_p521.jwk] + [public for public, _ in minted.values()]
    connection = psycopg.connect(cluster.dsn("app", "app", options=startup_options(jwk={"keys": keys})),
                                 autocommit=True)
    connection.warnings = warnings_of(connection)  # type: ignore[attr-defined]
    connection.execute("SELECT auth.init()")
    yield connection
    connection.close()


@pytest.mark.parametrize("alg", ALGS)
def test_library_token_verified_by_the_server(conn, library, alg):
    name, minted = library
    sub = f"{name}-{alg}-user"
    conn.execute("SELECT auth.jwt_session_init(%s)", [minted[alg][1]({"sub": sub, "jti": next_jti()})])
    assert scalar(conn, "SELECT auth.user_id()") == sub


def test_the_short_p521_key_is_skipped_with_a_warning_and_its_tokens_refused(conn, authlib_p521):
    assert conn.warnings == ["pg_session_jwt.jwk: skipped key kid 'authlib-p521': 'x' and 'y' must hold 66 bytes each"
                             " for P-521"]
    with sql_error("23514", "no key in pg_session_jwt.jwk has the JWT's kid 'authlib-p521'"):
        conn.execute("SELECT auth.jwt_session_init(%s)", [authlib_p521.token("mallory")])


def test_library_writes_p521_coordinates_at_full_length(library):
    """Not every library drops the zero byte: these two write 66 bytes, so their keys serve."""
    _, minted = library
    public = minted["ES512"][0]
    assert len(public["x"]) == len(public["y"]) == 88  # 66 bytes in unpadded base64url
