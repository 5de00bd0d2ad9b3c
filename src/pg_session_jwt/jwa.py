"""JSON Web Algorithms (RFC 7518, RFC 8037): which ``alg`` verifies how.

The registry maps each accepted JWS ``alg`` to its key type and the
parameters its verifier needs.  Anything not listed here (``none``, the
HMAC family, ...) is refused before any signature math, whatever the key.
"""

from __future__ import annotations



class Algorithm:
    """One ``alg``: the key type that verifies it and its parameters."""

    __slots__ = ("name", "kty", "hash", "padding", "curve")

    def __init__(self, name: str, kty: str, hash: str | None = None, padding: str | None = None,
                 curve: str | None = None):
        self.name = name
        self.kty = kty  # the JWK key type that can verify it
        self.hash = hash  # hash name in cryptography's hashes module
        self.padding = padding  # RSA: "pkcs1" or "pss"
        self.curve = curve  # EC: the JWK crv


def _table(*algs: Algorithm) -> dict[str, Algorithm]:
    return {a.name: a for a in algs}


ALGORITHMS = _table(
    Algorithm("EdDSA", "OKP"),
    Algorithm("Ed25519", "OKP"),  # the fully-specified name (RFC 9864)
    Algorithm("ES256", "EC", "SHA256", curve="P-256"),
    Algorithm("ES384", "EC", "SHA384", curve="P-384"),
    Algorithm("ES512", "EC", "SHA512", curve="P-521"),
    Algorithm("RS256", "RSA", "SHA256", "pkcs1"),
    Algorithm("RS384", "RSA", "SHA384", "pkcs1"),
    Algorithm("RS512", "RSA", "SHA512", "pkcs1"),
    Algorithm("PS256", "RSA", "SHA256", "pss"),
    Algorithm("PS384", "RSA", "SHA384", "pss"),
    Algorithm("PS512", "RSA", "SHA512", "pss"),
)


def for_kty(kty: str) -> dict[str, Algorithm]:
    return {name: a for name, a in ALGORITHMS.items() if a.kty == kty}
