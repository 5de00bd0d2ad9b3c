"""RSA and EC JSON Web Keys (RFC 7518 6.2, 6.3), verified with the ``cryptography`` package.

A module of its own so that a connection loads this code, and
``cryptography``, only when such a key is configured (:func:`jwk._key`).
"""

from __future__ import annotations

from . import errors, jwa
from .jwk import Key, b64_member

MIN_RSA_BITS = 2048


def _cryptography():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
    except ImportError:
        raise errors.missing_crypto("cryptography", "python3-cryptography") from None
    return InvalidSignature, hashes, ec, padding, rsa, utils


class RSAKey(Key):
    """``RSA`` (RFC 7518 6.3): RS256/384/512 and PS256/384/512, 2048 bits or more."""

    def __init__(self, jwk: dict[str, object]):
        self._invalid, self._hashes, _, self._padding, rsa, _ = _cryptography()
        fail = errors.bad_key_of("RSA")
        n = int.from_bytes(b64_member(jwk, "n", fail), "big")
        e = int.from_bytes(b64_member(jwk, "e", fail), "big")
        if n.bit_length() < MIN_RSA_BITS:
            raise fail(f"modulus of {n.bit_length()} bits; at least {MIN_RSA_BITS} are required")
        if e < 3 or e % 2 == 0:
            raise fail("'e' must be an odd exponent of at least 3")
        try:
            self._public = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as exc:
            raise fail(str(exc)) from None
        self.signature_length = (n.bit_length() + 7) // 8
        self._bind(jwk, frozenset(jwa.for_kty("RSA")), fail)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        spec = jwa.ALGORITHMS[alg]
        digest = getattr(self._hashes, spec.hash)()
        if spec.padding == "pss":
            pad = self._padding.PSS(mgf=self._padding.MGF1(digest), salt_length=digest.digest_size)
        else:
            pad = self._padding.PKCS1v15()
        try:
            self._public.verify(signature, signing_input, pad, digest)
        except self._invalid:
            return False
        return True


class ECKey(Key):
    """``EC`` (RFC 7518 6.2): P-256/ES256, P-384/ES384, P-521/ES512."""

    CURVES = {"P-256": ("SECP256R1", 32), "P-384": ("SECP384R1", 48), "P-521": ("SECP521R1", 66)}

    def __init__(self, jwk: dict[str, object]):
        self._invalid, self._hashes, ec, _, _, utils = _cryptography()
        fail = errors.bad_key_of("EC")
        crv = jwk.get("crv")
        if not isinstance(crv, str) or crv not in self.CURVES:
            raise fail(f"unsupported 'crv': {crv!r}")
        curve_name, size = self.CURVES[crv]
        x, y = b64_member(jwk, "x", fail), b64_member(jwk, "y", fail)
        if len(x) != size or len(y) != size:
            raise fail(f"'x' and 'y' must hold {size} bytes each for {crv}")
        try:
            self._public = ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), getattr(ec, curve_name)()
            ).public_key()
        except ValueError as exc:
            raise fail(str(exc)) from None
        self._ecdsa, self._encode = ec.ECDSA, utils.encode_dss_signature
        self._size = size
        self.signature_length = 2 * size
        self._bind(jwk, frozenset(a.name for a in jwa.for_kty("EC").values() if a.curve == crv), fail)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """JWS carries ECDSA as fixed-size r || s; OpenSSL wants DER."""
        r = int.from_bytes(signature[: self._size], "big")
        s = int.from_bytes(signature[self._size :], "big")
        digest = getattr(self._hashes, jwa.ALGORITHMS[alg].hash)()
        try:
            self._public.verify(self._encode(r, s), signing_input, self._ecdsa(digest))
        except self._invalid:
            return False
        return True


KEY_TYPES: dict = {"RSA": RSAKey, "EC": ECKey}  # kty -> constructor taking the JWK dict
