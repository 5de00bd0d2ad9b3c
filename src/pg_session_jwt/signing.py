"""Mint tokens: for tests, the demo and custom issuers.

Tokens are compact JWS over the same ``b64url`` code the server verifies
with, signed by any key :mod:`pg_session_jwt.keys` makes (Ed25519, EC, RSA).
:class:`Minter` adds what the server checks: a strictly increasing ``jti``,
``iat`` and ``exp``, and optionally ``aud``/``iss``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, Optional, Tuple

from . import b64url, jwa, keys
from .keys import public_jwk

__all__ = ["keypair", "ed25519_keypair", "public_jwk", "default_header", "sign", "Minter"]

Jwk = Dict[str, Any]


def keypair(alg: str = "EdDSA", kid: Optional[str] = None, bits: int = keys.DEFAULT_RSA_BITS) -> Tuple[Jwk, Jwk]:
    """A new key for ``alg`` as (private JWK, public JWK); both carry ``alg`` and ``kid``."""
    private = keys.generate(alg, kid, bits)
    return private, public_jwk(private)


def ed25519_keypair(kid: Optional[str] = None) -> Tuple[Dict[str, str], Dict[str, str]]:
    """A new Ed25519 key as (private JWK, public JWK), in the reference's bare
    shape: ``kty``, ``crv``, ``x`` (and ``kid`` when given), no ``alg``."""
    private = keys.generate("EdDSA", kid)
    del private["alg"]
    if kid is None:
        del private["kid"]
    return private, public_jwk(private)


def _part(value: Any) -> str:
    data = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url.encode(data)


def default_header(private_jwk: Jwk) -> Dict[str, Any]:
    """``{"alg", "typ": "JWT"}`` for the key, plus its ``kid`` when it has one."""
    header = {"alg": keys.default_alg(private_jwk), "typ": "JWT"}
    if "kid" in private_jwk:
        header["kid"] = private_jwk["kid"]
    return header


def _compact(header: Dict[str, Any], claims: Any, signer: keys.Signer) -> str:
    signing_input = _part(header) + "." + _part(claims)
    return signing_input + "." + b64url.encode(signer(signing_input.encode()))


def sign(private_jwk: Jwk, claims: Any, header: Optional[Dict[str, Any]] = None) -> str:
    """A compact JWS of ``claims`` (a dict, or raw payload bytes).

    ``header`` defaults to :func:`default_header`; a given header is used as
    is, and its ``alg`` picks the math when it fits the key (otherwise the
    key's own algorithm signs, so tests can forge headers like ``"none"``).
    """
    if header is None:
        header = default_header(private_jwk)
    alg = header.get("alg")
    fits = isinstance(alg, str) and alg in jwa.ALGORITHMS and jwa.ALGORITHMS[alg].kty == private_jwk.get("kty")
    return _compact(header, claims, keys.signer(private_jwk, alg if fits else None))


class Minter:
    """Mints tokens for one key with sensible defaults.

    ``jti`` strictly increases across every token this minter makes (the
    server refuses a jti that is not above the last one it accepted), and
    starts from the clock in microseconds so a new minter for the same
    connection still moves forward.  ``iat`` is now; ``exp`` is now + ttl;
    ``aud`` and ``iss`` are added when given.  Thread-safe.
    """

    def __init__(self, private_jwk: Jwk, ttl: int = 300, audience: Optional[str] = None,
                 issuer: Optional[str] = None):
        self.private_jwk = private_jwk
        self.ttl = ttl
        self.audience = audience
        self.issuer = issuer
        self._header = default_header(private_jwk)
        self._sign = keys.signer(private_jwk)  # a bad key fails here, not at the first token
        self._last_jti = 0
        self._lock = threading.Lock()

    def next_jti(self) -> int:
        with self._lock:
            self._last_jti = max(self._last_jti + 1, time.time_ns() // 1000)
            return self._last_jti

    def claims(self, sub: Optional[str] = None, **claims: Any) -> Dict[str, Any]:
        """The payload :meth:`token` signs: defaults, then ``claims`` over them."""
        now = int(time.time())
        body: Dict[str, Any] = {"jti": self.next_jti(), "iat": now, "exp": now + self.ttl}
        if self.audience is not None:
            body["aud"] = self.audience
        if self.issuer is not None:
            body["iss"] = self.issuer
        if sub is not None:
            body["sub"] = sub
        body.update(claims)
        return body

    def token(self, sub: Optional[str] = None, **claims: Any) -> str:
        return _compact(self._header, self.claims(sub, **claims), self._sign)
