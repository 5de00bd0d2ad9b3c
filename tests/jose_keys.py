"""Real keys and tokens for every JWS algorithm, for unit and server tests alike.

RSA and EC keys are made with the ``cryptography`` package and signed the
way RFC 7518 says (PKCS#1 v1.5; PSS with MGF1 of the same hash and a salt as
long as the digest; ECDSA as fixed-size ``r || s``, not DER); Ed25519 goes
through :mod:`pg_session_jwt.signing`.  Nothing here shares code with the
verifier beyond ``b64url``, so a token minted here is an independent
check of what the server accepts.

Key generation is slow (RSA-3072 especially), so :func:`issuer` caches one
key per (alg, label): ``issuer("RS256")`` and ``issuer("RS256", "other")``
are two distinct keys of the same kind.  ``tests/`` is on ``sys.path`` for
both suites (``tests/conftest.py`` is the rootdir conftest), hence
``from jose_keys import ...``.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from typing import Any, Dict, Optional, Union

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from nacl.signing import SigningKey

from pg_session_jwt import b64url, signing

# alg -> (kty, parameter): RSA modulus bits, or the EC curve's JWK name.
ALGORITHMS: Dict[str, tuple] = {
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),  # the fully-specified name (RFC 9864)
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "RS256": ("RSA", 2048),
    "RS384": ("RSA", 3072),
    "RS512": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "PS384": ("RSA", 3072),
    "PS512": ("RSA", 2048),
}
ALL_ALGS = list(ALGORITHMS)
CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48), "P-521": (ec.SECP521R1, 66)}
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}

_jti = itertools.count(time.time_ns() // 1000)


def next_jti() -> int:
    """A jti above every one handed out before, across all issuers of this run."""
    return next(_jti)


def part(value: Any) -> str:
    """base64url of raw bytes, or of compact JSON for anything else."""
    data = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url.encode(data)


def uint(value: int, size: Optional[int] = None) -> str:
    """base64url of a big-endian unsigned integer (minimal length unless ``size``)."""
    return b64url.encode(value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big"))


def public_jwk(private_key) -> Dict[str, str]:
    """The public JWK of a ``cryptography`` RSA or EC private key."""
    numbers = private_key.public_key().public_numbers()
    if isinstance(private_key, rsa.RSAPrivateKey):
        return {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}
    crv = next(name for name, (cls, _) in CURVES.items() if isinstance(numbers.curve, cls))
    size = CURVES[crv][1]
    return {"kty": "EC", "crv": crv, "x": uint(numbers.x, size), "y": uint(numbers.y, size)}


def private_jwk(private_key) -> Dict[str, str]:
    """The public JWK plus the private members (``d``, and ``p``... for RSA)."""
    numbers = private_key.private_numbers()
    jwk = public_jwk(private_key)
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk.update(d=uint(numbers.d), p=uint(numbers.p), q=uint(numbers.q))
    else:
        jwk["d"] = uint(numbers.private_value, CURVES[jwk["crv"]][1])
    return jwk


def pem(private_key) -> bytes:
    """The public key as PEM, the classic HMAC-confusion secret."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def signature(alg: str, private_key, data: bytes, salt_length: Optional[int] = None) -> bytes:
    """The JWS signature of ``data`` for an RSA or EC ``alg`` (PSS salt overridable)."""
    digest = HASHES[alg[2:]]()
    if alg.startswith("ES"):
        r, s = utils.decode_dss_signature(private_key.sign(data, ec.ECDSA(digest)))
        size = (private_key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if alg.startswith("PS"):
        salt = digest.digest_size if salt_length is None else salt_length
        return private_key.sign(data, padding.PSS(mgf=padding.MGF1(digest), salt_length=salt), digest)
    return private_key.sign(data, padding.PKCS1v15(), digest)


class Issuer:
    """One signing key for one ``alg``: its public JWK, and tokens signed with it."""

    def __init__(self, alg: str, key, kid: Optional[str] = None):
        self.alg, self.key, self.kid = alg, key, kid
        self.okp = ALGORITHMS[alg][0] == "OKP"
        jwk = signing.public_jwk(key) if self.okp else public_jwk(key)
        self.jwk = dict(jwk, kid=kid) if kid is not None else jwk

    def with_kid(self, kid: Optional[str]) -> "Issuer":
        """The same key, published (and signing) under another ``kid``."""
        return Issuer(self.alg, self.key, kid)

    @property
    def jwk_text(self) -> str:
        return json.dumps(self.jwk)

    def default_header(self) -> Dict[str, Any]:
        header: Dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
        if self.kid is not None:
            header["kid"] = self.kid
        return header

    def sign_parts(self, header_part: str, payload_part: str, alg: Optional[str] = None) -> str:
        """``header_part.payload_part.signature`` over exactly that text (``alg`` picks the math)."""
        signing_input = f"{header_part}.{payload_part}"
        alg = alg or self.alg
        if ALGORITHMS[alg][0] == "OKP":
            sig = SigningKey(b64url.decode(self.key["d"])).sign(signing_input.encode()).signature
        else:
            sig = signature(alg, self.key, signing_input.encode())
        return f"{signing_input}.{b64url.encode(sig)}"

    def sign(self, claims: Union[Dict[str, Any], bytes], header: Optional[Dict[str, Any]] = None) -> str:
        """A compact JWS of ``claims`` (dict or raw payload bytes); header defaults to alg/typ/kid."""
        header = self.default_header() if header is None else header
        if self.okp:
            return signing.sign(self.key, claims, header=header)
        return self.sign_parts(part(header), part(claims))

    def token(self, sub: Optional[str] = "alice", header: Optional[Dict[str, Any]] = None, **claims: Any) -> str:
        """A fresh, valid session token: increasing jti, exp five minutes ahead."""
        body: Dict[str, Any] = {"jti": next_jti(), "exp": int(time.time()) + 300}
        if sub is not None:
            body["sub"] = sub
        body.update(claims)
        return self.sign(body, header)


@functools.lru_cache(maxsize=None)
def _private_key(alg: str, label: str):
    kty, param = ALGORITHMS[alg]
    if kty == "OKP":
        return signing.ed25519_keypair()[0]
    if kty == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=param)
    return ec.generate_private_key(CURVES[param][0]())


def issuer(alg: str, label: str = "main", kid: Optional[str] = None) -> Issuer:
    """The cached key ``label`` for ``alg`` (same label and kind of key: same key)."""
    return Issuer(alg, _private_key(alg, label), kid)


def rsa_key(bits: int = 2048, exponent: int = 65537):
    """A fresh RSA private key (for sizes and exponents :data:`ALGORITHMS` does not use)."""
    return rsa.generate_private_key(public_exponent=exponent, key_size=bits)


def key_set(*issuers: Issuer, **extra: Any) -> Dict[str, Any]:
    """``{"keys": [...]}`` of these issuers' public JWKs."""
    return {"keys": [i.jwk for i in issuers], **extra}


def p521_short_coordinate(kid: str = "authlib-p521") -> Issuer:
    """An ES512 key published as Authlib does: ``x`` without its leading zero
    byte (65 bytes where RFC 7518 requires 66).  About half of all P-521 keys
    have that zero byte; this draws keys until one does."""
    while True:
        key = ec.generate_private_key(ec.SECP521R1())
        x = key.public_key().public_numbers().x
        if x.bit_length() <= 65 * 8:
            short = Issuer("ES512", key, kid)
            short.jwk["x"] = uint(x)
            assert len(b64url.decode(short.jwk["x"])) < 66
            return short


def unusable_keys() -> Dict[str, tuple]:
    """Keys that real providers publish and this server cannot verify with:
    name -> (the public JWK, a phrase of the reason the server gives)."""
    x25519 = b64url.encode(bytes(32 * [9]))
    k1 = ec.generate_private_key(ec.SECP256K1()).public_key().public_numbers()
    rsa_jwk = issuer("RS256", "unusable").jwk
    return {
        "p521-short-x": (p521_short_coordinate().jwk, "must hold 66 bytes"),
        "x25519": ({"kty": "OKP", "crv": "X25519", "x": x25519, "kid": "x25519"}, "'X25519'"),
        "ed448": ({"kty": "OKP", "crv": "Ed448", "x": b64url.encode(bytes(57)), "kid": "ed448"}, "'Ed448'"),
        "secp256k1": ({"kty": "EC", "crv": "secp256k1", "x": uint(k1.x, 32), "y": uint(k1.y, 32), "kid": "k1"},
                      "unsupported 'crv': 'secp256k1'"),
        "akp-ml-dsa": ({"kty": "AKP", "alg": "ML-DSA-44", "pub": b64url.encode(bytes(1312)), "kid": "pq"},
                       "unsupported 'kty': 'AKP'"),
        "rsa-oaep": (dict(rsa_jwk, alg="RSA-OAEP", kid="oaep"), "'alg' 'RSA-OAEP' does not fit"),
        "rsa-1024": (dict(public_jwk(rsa_key(1024)), kid="weak"), "modulus of 1024 bits"),
        "rsa-no-n": ({"kty": "RSA", "e": "AQAB", "kid": "no-n"}, "'n' is missing"),
        "ec-bad-base64": (dict(issuer("ES256", "unusable").jwk, x="not base64!", kid="garbled"), "'x'"),
        "use-enc": (dict(rsa_jwk, use="enc", kid="enc"), "not a signature verification key"),
        "key-ops-encrypt": (dict(rsa_jwk, key_ops=["encrypt"], kid="ops"), "not a signature verification key"),
        "not-an-object": ("a string", "not a JSON object"),
    }
