"""JSON Web Keys: parse ``pg_session_jwt.jwk`` once into ready verifiers.

The setting holds one JWK or a set ``{"keys": [...]}``.  ``KEY_TYPES`` is
the registry from ``kty`` to a key class; each key knows the algorithms it
verifies (from :mod:`jwa`), its signature length and its ``kid``.

A set is the identity provider's, not ours: it may publish keys this server
cannot verify with (another curve, an encryption key, a member one byte
short).  Such a key is skipped, with the reason kept for a warning, and the
set fails only when no usable key remains; a secret (``oct``) or private
key anywhere still refuses the whole set.  A single JWK is the operator's
own choice, so it is refused outright when it cannot be used.

Ed25519 uses libsodium (PyNaCl): strict RFC 8032 verification, and
measured faster than OpenSSL for this primitive.  RSA and EC keys live in
:mod:`rsa_ec` and use the ``cryptography`` package; both are imported only
when such a key is configured, so Ed25519-only connections load neither.
"""

from __future__ import annotations

from . import b64url, errors, jwa, strictjson

MAX_JWK_CHARS = 256 * 1024
MAX_KEYS = 100
MAX_DETAIL_KEYS = 10  # skipped keys named in the error of a set with no usable key
# Private members: RSA's d, p, q, dp, dq, qi, oth, EC and OKP's d, a
# symmetric key's k (RFC 7518), and the post-quantum AKP type's priv.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"})


def b64_member(jwk: dict[str, object], name: str, fail) -> bytes:
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
            raise errors.bad_jwk(f"unsupported 'crv' {jwk.get('crv')!r}; 'OKP' keys must be Ed25519")
        public = b64_member(jwk, "x", errors.bad_jwk)
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


KEY_TYPES: dict = {"OKP": Ed25519Key}  # kty -> constructor taking the JWK dict
OTHER_KEY_TYPES = ("RSA", "EC")  # in rsa_ec, whose code loads only when such a key is configured


def _is_signature_key(jwk: dict[str, object]) -> bool:
    ops = jwk.get("key_ops")
    return jwk.get("use", "sig") == "sig" and (ops is None or (isinstance(ops, list) and "verify" in ops))


def _refuse_secrets(jwk: object) -> None:
    """Every session can read the setting: a private or symmetric key there
    would let anyone mint tokens, whatever ``use`` the key claims."""
    if not isinstance(jwk, dict):
        return
    if jwk.get("kty") == "oct":
        raise errors.symmetric_jwk()
    if not PRIVATE_MEMBERS.isdisjoint(jwk):
        raise errors.private_jwk()


def _key(jwk: dict) -> Key:
    kty = jwk.get("kty")
    if kty in OTHER_KEY_TYPES:
        from . import rsa_ec  # in this spelling: see build_sql.LAZY_MODULES

        return rsa_ec.KEY_TYPES[kty](jwk)
    make = KEY_TYPES.get(kty) if isinstance(kty, str) else None
    if make is None:
        raise errors.bad_jwk(f"unsupported 'kty': {kty!r}")
    return make(jwk)


def _member_key(member: object) -> Key:
    """A set member as a verification key, or the JWTError that says why not."""
    if not isinstance(member, dict):
        raise errors.bad_key_set("not a JSON object")
    if not _is_signature_key(member):
        raise errors.bad_key_set(
            f"not a signature verification key (use={member.get('use')!r}, key_ops={member.get('key_ops')!r})"
        )
    return _key(member)


class Skipped:
    """A key of a set that the server cannot verify with, and why."""

    __slots__ = ("index", "kid", "error")

    def __init__(self, index: int, kid: object, error: errors.JWTError):
        self.index, self.kid, self.error = index, kid, error

    @property
    def label(self) -> str:
        return f"kid {self.kid!r}" if self.kid is not None else f"#{self.index} (no kid)"

    @property
    def reason(self) -> str:
        """What is wrong with the key: the detail of a key error (its message
        names the setting); all of a missing-package error, whose detail is the fix."""
        e = self.error
        if e.sqlstate == errors.UNDEFINED_FILE or not e.detail:
            return e.message + (f" ({e.detail})" if e.detail else "")
        return e.detail

    def __str__(self) -> str:
        return f"{self.label}: {self.reason}"

    def warning(self) -> str:
        """The WARNING the server raises for it, once per connection."""
        return f"pg_session_jwt.jwk: skipped key {self}"


class KeySet:
    """The configured keys, and the rule that picks the ones a token may use."""

    def __init__(self, keys: list[Key], skipped: list[Skipped] | None = None):
        self.keys = keys
        self.skipped = skipped or []
        self.header_cache: dict[str, tuple] = {}  # jws.header_rule's, by header text

    def _skipped_kid(self, kid: object) -> Skipped | None:
        return next((s for s in self.skipped if type(s.kid) is type(kid) and s.kid == kid), None)

    def candidates(self, header: dict[str, object]) -> list[Key]:
        """Keys that may verify a token with this header, or a refusal.

        One key: that key, unless the header's ``kid`` names a key that was
        skipped.  Several: the header's ``kid`` picks the key(s) with an
        equal ``kid`` (no match is refused); without a ``kid``, every key is
        a candidate.  Then each candidate must accept the header's ``alg``
        (RSA and EC keys require one).
        """
        keys = self.keys
        if "kid" in header:
            kid = header["kid"]
            skipped = self._skipped_kid(kid) if self.skipped else None
            if len(keys) > 1 or skipped is not None:
                keys = [k for k in keys if type(k.kid) is type(kid) and k.kid == kid]
                if not keys:
                    raise errors.unknown_kid(kid, None if skipped is None else skipped.reason)
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


def _parse_set(members: list) -> KeySet:
    """The usable keys of a set; the others are skipped, with their reasons."""
    for member in members:
        _refuse_secrets(member)
    keys: list[Key] = []
    skipped: list[Skipped] = []
    for index, member in enumerate(members):
        try:
            keys.append(_member_key(member))
        except errors.JWTError as e:
            skipped.append(Skipped(index, member.get("kid") if isinstance(member, dict) else None, e))
    if not keys:
        missing = [s.error for s in skipped if s.error.sqlstate == errors.UNDEFINED_FILE]
        if missing:
            raise missing[0]  # the fix is an install on the server: say that first
        named = [str(s) for s in skipped[:MAX_DETAIL_KEYS]]
        if len(skipped) > MAX_DETAIL_KEYS:
            named.append(f"and {len(skipped) - MAX_DETAIL_KEYS} more")
        raise errors.no_usable_key("skipped: " + "; ".join(named) if named else "the set is empty")
    return KeySet(keys, skipped)


def parse(text: str) -> KeySet:
    """Turn the ``pg_session_jwt.jwk`` setting into a :class:`KeySet`."""
    if len(text) > MAX_JWK_CHARS:
        raise errors.too_large("pg_session_jwt.jwk", len(text), MAX_JWK_CHARS)
    try:
        value = strictjson.loads_object(text)
    except ValueError as e:
        raise errors.bad_jwk(str(e)) from None
    if "keys" in value:
        members = value["keys"]
        if not isinstance(members, list):
            raise errors.bad_key_set("'keys' must be an array")
        if len(members) > MAX_KEYS:
            raise errors.too_large("pg_session_jwt.jwk", len(members), MAX_KEYS, unit="keys")
        return _parse_set(members)
    _refuse_secrets(value)
    return KeySet([_member_key(value)])
