"""Make keys and mint tokens: for tests, the demo and custom issuers.

Tokens are compact JWS over the same ``b64url`` code the server verifies
with, signed with Ed25519 through PyNaCl.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, Optional, Tuple

from nacl.signing import SigningKey

from . import b64url


def ed25519_keypair(kid: Optional[str] = None) -> Tuple[Dict[str, str], Dict[str, str]]:
    """A new key as (private JWK, public JWK)."""
    sk = SigningKey.generate()
    public = {"kty": "OKP", "crv": "Ed25519", "x": b64url.encode(bytes(sk.verify_key))}
    if kid is not None:
        public["kid"] = kid
    private = dict(public, d=b64url.encode(bytes(sk)))
    return private, public


def public_jwk(private_jwk: Dict[str, str]) -> Dict[str, str]:
    return {k: v for k, v in private_jwk.items() if k != "d"}


def sign(private_jwk: Dict[str, str], claims: Any, header: Optional[Dict[str, Any]] = None) -> str:
    """A compact JWS of ``claims`` (a dict, or raw payload bytes)."""
    if header is None:
        header = {"alg": "EdDSA", "typ": "JWT"}
        if "kid" in private_jwk:
            header["kid"] = private_jwk["kid"]
    payload = claims if isinstance(claims, bytes) else json.dumps(claims, separators=(",", ":")).encode()
    signing_input = b64url.encode(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url.encode(payload)
    signature = SigningKey(b64url.decode(private_jwk["d"])).sign(signing_input.encode()).signature
    return signing_input + "." + b64url.encode(signature)


class Minter:
    """Mints tokens for one key with sensible defaults.

    ``jti`` strictly increases across every token this minter makes (the
    server refuses a jti that is not above the last one it accepted), and
    starts from the clock in microseconds so a new minter for the same
    connection still moves forward.  ``iat`` is now; ``exp`` is now + ttl.
    """

    def __init__(self, private_jwk: Dict[str, str], ttl: int = 300):
        self.private_jwk = private_jwk
        self.ttl = ttl
        self._last_jti = 0
        self._lock = threading.Lock()

    def next_jti(self) -> int:
        with self._lock:
            self._last_jti = max(self._last_jti + 1, time.time_ns() // 1000)
            return self._last_jti

    def token(self, sub: Optional[str] = None, **claims: Any) -> str:
        now = int(time.time())
        body: Dict[str, Any] = {"jti": self.next_jti(), "iat": now, "exp": now + self.ttl}
        if sub is not None:
            body["sub"] = sub
        body.update(claims)
        return sign(self.private_jwk, body)
