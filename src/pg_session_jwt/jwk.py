"""JSON Web Keys: parse ``pg_session_jwt.jwk`` once into ready verifiers.

The setting holds one JWK or a set ``{"keys": [...]}``.  ``KEY_TYPES`` is
the registry from ``kty`` to a key class; each key knows the algorithms it
verifies (from :mod:`jwa`), its signature length and its ``kid``.

Ed25519 uses libsodium (PyNaCl): strict RFC 8032 verification, and
measured faster than OpenSSL for this primitive.  RSA and EC use the
``cryptography`` package, imported only when such a key is configured, so
Ed25519-only connections never load it.
"""

from __future__ import annotations

from . import b64url, errors, jwa, strictjson

MAX_JWK_CHARS = 256 * 1024
MAX_KEYS = 100
MIN_RSA_BITS = 2048


def _b64_member(jwk: dict[str, object], name: str, fail) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise fail(f"'{name}' is missing")
    try:
        return b64url.decode(value)
    except ValueError as e:
        raise fail(f"'{name}': {e}") from None


class Key:
    """What every key offers the JWS layer."""

    kid: object = None
    algs: frozenset[str] = frozenset()
    alg_required = True  # must the token header name its alg?
    signature_length = 0

    def _bind(self, jwk: dict[str, object], algs: frozenset[str], fail) -> None:
        """Record ``kid`` and narrow ``algs`` to the key's own ``alg`` member."""
        self.kid = jwk.get("kid")
        own = jwk.get("alg")
        if own is not None and self.alg_required:
            if not isinstance(own, str) or own not in algs:
                raise fail(f"'alg' {own!r} does not fit this key")
            algs = frozenset({own})
        self.algs = algs

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        raise NotImplementedError


class Ed25519Key(Key):
    """``OKP``/``Ed25519`` (RFC 8037).  ``alg`` is optional in tokens: the
    reference's own tokens carry none; its ``alg`` member is ignored.

    Calls libsodium through PyNaCl's compiled module ``nacl._sodium``: the
    public ``nacl.bindings`` imports every wrapper PyNaCl has and costs a
    new connection about 12 ms; this costs 1 ms (see bench/).
    """

    alg_required = False
    signature_length = 64

    def __init__(self, jwk: dict[str, object]):
        try:
            from nacl._sodium import ffi, lib
        except ImportError:
            raise errors.missing_crypto("nacl (PyNaCl)", "python3-nacl") from None
        if lib.sodium_init() < 0:
            raise errors.missing_crypto("libsodium (sodium_init failed)", "libsodium23")
        if jwk.get("crv") != "Ed25519":
            raise errors.bad_jwk("'crv' must be \"Ed25519\"")
        public = _b64_member(jwk, "x", errors.bad_jwk)
        if len(public) != 32:
            raise errors.bad_jwk("'x' must hold 32 bytes")
        # Refuse non-canonical encodings and small-order points at load time,
        # so a weak key cannot be configured at all.
        if lib.crypto_core_ed25519_is_valid_point(public) != 1:
            raise errors.bad_jwk("'x' is not a valid Ed25519 public key")
        self._bind(jwk, frozenset(jwa.for_kty("OKP")), errors.bad_jwk)
        self.public = public
        self._ffi, self._open = ffi, lib.crypto_sign_open

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """libsodium's ``crypto_sign_open`` (what PyNaCl's own verify calls):
        rejects non-canonical S and small-order R/A."""
        signed = signature + signing_input
        out = self._ffi.new("unsigned char[]", len(signed))
        out_len = self._ffi.new("unsigned long long *")
        return self._open(out, out_len, signed, len(signed), self.public) == 0


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
        n = int.from_bytes(_b64_member(jwk, "n", fail), "big")
        e = int.from_bytes(_b64_member(jwk, "e", fail), "big")
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
        x, y = _b64_member(jwk, "x", fail), _b64_member(jwk, "y", fail)
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


KEY_TYPES: dict = {  # kty -> constructor taking the JWK dict
    "OKP": Ed25519Key,
    "RSA": RSAKey,
    "EC": ECKey,
}


def _is_signature_key(jwk: dict[str, object]) -> bool:
    ops = jwk.get("key_ops")
    return jwk.get("use", "sig") == "sig" and (ops is None or (isinstance(ops, list) and "verify" in ops))


def _refuse_secrets(jwk: object) -> None:
    """Every session can read the setting: a private or symmetric key there
    would let anyone mint tokens, whatever ``use`` the key claims."""
    if not isinstance(jwk, dict):
        raise errors.bad_key_set("each key must be a JSON object")
    if "d" in jwk or "p" in jwk:
        raise errors.private_jwk()
    if jwk.get("kty") == "oct":
        raise errors.symmetric_jwk()


def _key(jwk: dict) -> Key:
    kty = jwk.get("kty")
    make = KEY_TYPES.get(kty) if isinstance(kty, str) else None
    if make is None:
        raise errors.bad_jwk(f"unsupported 'kty': {kty!r}")
    return make(jwk)


class KeySet:
    """The configured keys, and the rule that picks the ones a token may use."""

    def __init__(self, keys: list[Key]):
        self.keys = keys
        self.header_cache: dict[str, tuple] = {}  # jws.header_rule's, by header text

    def candidates(self, header: dict[str, object]) -> list[Key]:
        """Keys that may verify a token with this header, or a refusal.

        One key: that key.  Several: the header's ``kid`` picks the key(s)
        with an equal ``kid`` (no match is refused); without a ``kid``, every
        key is a candidate.  Then each candidate must accept the header's
        ``alg`` (RSA and EC keys require one).
        """
        keys = self.keys
        if len(keys) > 1 and "kid" in header:
            kid = header["kid"]
            keys = [k for k in keys if type(k.kid) is type(kid) and k.kid == kid]
            if not keys:
                raise errors.unknown_kid(kid)
        if "alg" in header:
            alg = header["alg"]
            fitting = [k for k in keys if isinstance(alg, str) and alg in k.algs]
            if not fitting:
                raise errors.disallowed_alg(alg)
            return fitting
        fitting = [k for k in keys if not k.alg_required]
        if not fitting:
            raise errors.missing_alg()
        return fitting


def parse(text: str) -> KeySet:
    """Turn the ``pg_session_jwt.jwk`` setting into a :class:`KeySet`."""
    if len(text) > MAX_JWK_CHARS:
        raise errors.too_large("pg_session_jwt.jwk", len(text), MAX_JWK_CHARS)
    try:
        value = strictjson.loads_object(text)
    except ValueError as e:
        raise errors.bad_jwk(str(e)) from None
    if "keys" not in value:
        members = [value]
    elif isinstance(value["keys"], list):
        members = value["keys"]
    else:
        raise errors.bad_key_set("'keys' must be an array")
    if len(members) > MAX_KEYS:
        raise errors.too_large("pg_session_jwt.jwk", len(members), MAX_KEYS, unit="keys")
    for member in members:
        _refuse_secrets(member)
    keys = [_key(m) for m in members if _is_signature_key(m)]
    if not keys:
        raise errors.bad_key_set("no signature verification key in the set")
    return KeySet(keys)
