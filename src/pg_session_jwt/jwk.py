"""JSON Web Keys: parse the configured key once, into a ready verifier.

``KEY_TYPES`` is the registry: each entry turns one JWK shape into a key
object with ``algs`` (the JWS ``alg`` values it can check) and
``verify(signing_input, signature) -> bool``.  Ed25519 uses libsodium
(PyNaCl): strict RFC 8032 verification, and measured faster than OpenSSL
for this primitive (see ``bench/ed25519_primitives.py``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from . import b64url, errors, strictjson


class Ed25519Key:
    """An Ed25519 public key (RFC 8037 ``OKP``/``Ed25519``)."""

    algs = frozenset({"EdDSA", "Ed25519"})
    signature_length = 64

    def __init__(self, public: bytes):
        try:
            from nacl import bindings
            from nacl.exceptions import BadSignatureError
        except ImportError:
            raise errors.missing_crypto("nacl (PyNaCl)") from None
        if len(public) != 32:
            raise errors.bad_jwk("'x' must hold 32 bytes")
        # Refuse non-canonical encodings and small-order points at load time,
        # so a weak key cannot be configured at all.
        if not bindings.crypto_core_ed25519_is_valid_point(public):
            raise errors.bad_jwk("'x' is not a valid Ed25519 public key")
        self.public = public
        self._open = bindings.crypto_sign_open
        self._bad = BadSignatureError

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """libsodium's verify: rejects non-canonical S and small-order R/A."""
        try:
            self._open(signature + signing_input, self.public)
        except self._bad:
            return False
        return True


def _okp(jwk: Dict[str, Any]) -> Ed25519Key:
    if jwk.get("crv") != "Ed25519":
        raise errors.bad_jwk("'crv' must be \"Ed25519\"")
    x = jwk.get("x")
    if not isinstance(x, str):
        raise errors.bad_jwk("'x' is missing")
    try:
        public = b64url.decode(x)
    except ValueError as e:
        raise errors.bad_jwk(f"'x': {e}") from None
    return Ed25519Key(public)


KEY_TYPES: Dict[str, Callable[[Dict[str, Any]], Any]] = {"OKP": _okp}


def parse(text: str):
    """Turn the ``pg_session_jwt.jwk`` setting into a key object."""
    try:
        jwk = strictjson.loads_object(text)
    except ValueError as e:
        raise errors.bad_jwk(str(e)) from None
    if "d" in jwk:
        # Every session can read the setting: a private key there would let
        # anyone mint tokens.
        raise errors.bad_jwk("the JWK holds a private key ('d'); configure the public key only")
    kty = jwk.get("kty")
    make = KEY_TYPES.get(kty) if isinstance(kty, str) else None
    if make is None:
        raise errors.bad_jwk(f"unsupported 'kty': {jwk.get('kty')!r}")
    return make(jwk)
