"""Private signing keys as JWKs: make them, publish their public half, sign with them.

Every algorithm the server verifies (:mod:`pg_session_jwt.jwa`) can be
generated here, so tests, the CLI and custom issuers need no other JOSE
library.  Ed25519 goes through PyNaCl; RSA and EC through ``cryptography``
(imported only for those keys).  Signatures follow RFC 7518: PKCS#1 v1.5;
PSS with MGF1 of the same hash and a digest-long salt; ECDSA as fixed-size
``r || s``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, Optional

from . import b64url, jwa
from .jwk import PRIVATE_MEMBERS

Jwk = Dict[str, Any]
Signer = Callable[[bytes], bytes]

ALGORITHMS = tuple(jwa.ALGORITHMS)  # what keygen offers: exactly what the server verifies
DEFAULT_RSA_BITS = 2048
CURVE_SIZES = {"P-256": 32, "P-384": 48, "P-521": 66}
_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def _uint(value: int, size: Optional[int] = None) -> str:
    return b64url.encode(value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big"))


def _int(jwk: Jwk, name: str) -> int:
    return int.from_bytes(b64url.decode(jwk[name]), "big")


def public_jwk(private_jwk: Jwk) -> Jwk:
    """The JWK to publish: every member but the private ones."""
    return {k: v for k, v in private_jwk.items() if k not in PRIVATE_MEMBERS}


def thumbprint(jwk: Jwk) -> str:
    """The RFC 7638 SHA-256 thumbprint: a stable ``kid`` for a key."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url.encode(hashlib.sha256(canonical.encode()).digest())


def _ec_curve(crv: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    curves: Dict[str, Callable[[], Any]] = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
    return curves[crv]()


def default_alg(jwk: Jwk) -> str:
    """The key's ``alg`` member, else the natural one for its type."""
    if isinstance(jwk.get("alg"), str):
        return jwk["alg"]
    kty, crv = jwk.get("kty"), jwk.get("crv")
    natural = {"OKP": "EdDSA", "RSA": "RS256"}
    natural.update({f"EC {a.curve}": a.name for a in jwa.for_kty("EC").values()})
    alg = natural.get(f"EC {crv}" if kty == "EC" else str(kty))
    if alg is None:
        raise ValueError(f"no signature algorithm for a key with kty={kty!r}, crv={crv!r}")
    return alg


def generate(alg: str = "EdDSA", kid: Optional[str] = None, bits: int = DEFAULT_RSA_BITS) -> Jwk:
    """A new private JWK for ``alg``, carrying ``alg`` and ``kid`` (default: its thumbprint)."""
    spec = jwa.ALGORITHMS.get(alg)
    if spec is None:
        raise ValueError(f"unsupported algorithm {alg!r}; choose one of {', '.join(ALGORITHMS)}")
    if spec.kty == "OKP":
        from nacl.signing import SigningKey

        sk = SigningKey.generate()
        jwk: Jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url.encode(bytes(sk.verify_key)),
                    "d": b64url.encode(bytes(sk))}
    elif spec.kty == "EC":
        from cryptography.hazmat.primitives.asymmetric import ec

        crv = str(spec.curve)
        size = CURVE_SIZES[crv]
        numbers = ec.generate_private_key(_ec_curve(crv)).private_numbers()
        jwk = {"kty": "EC", "crv": crv, "x": _uint(numbers.public_numbers.x, size),
               "y": _uint(numbers.public_numbers.y, size), "d": _uint(numbers.private_value, size)}
    else:
        from cryptography.hazmat.primitives.asymmetric import rsa

        if bits < DEFAULT_RSA_BITS:
            raise ValueError(f"RSA keys need at least {DEFAULT_RSA_BITS} bits (the server refuses smaller ones)")
        n = rsa.generate_private_key(public_exponent=65537, key_size=bits).private_numbers()
        jwk = {"kty": "RSA", "n": _uint(n.public_numbers.n), "e": _uint(n.public_numbers.e), "d": _uint(n.d),
               "p": _uint(n.p), "q": _uint(n.q), "dp": _uint(n.dmp1), "dq": _uint(n.dmq1), "qi": _uint(n.iqmp)}
    jwk["alg"] = alg
    jwk["kid"] = kid if kid is not None else thumbprint(jwk)
    return jwk


def signer(private_jwk: Jwk, alg: Optional[str] = None) -> Signer:
    """A function from signing input to JWS signature bytes for this key."""
    if "d" not in private_jwk:
        raise ValueError("not a private key: the JWK has no 'd' member")
    alg = alg or default_alg(private_jwk)
    spec = jwa.ALGORITHMS.get(alg)
    if spec is None or spec.kty != private_jwk.get("kty"):
        raise ValueError(f"algorithm {alg!r} does not fit a {private_jwk.get('kty')!r} key")
    if spec.kty == "OKP":
        from nacl.signing import SigningKey

        sk = SigningKey(b64url.decode(private_jwk["d"]))
        return lambda data: sk.sign(data).signature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    digest = getattr(hashes, str(spec.hash))()
    if spec.kty == "EC":
        size = CURVE_SIZES[private_jwk["crv"]]
        public = ec.EllipticCurvePublicNumbers(_int(private_jwk, "x"), _int(private_jwk, "y"),
                                               _ec_curve(private_jwk["crv"]))
        ec_key = ec.EllipticCurvePrivateNumbers(_int(private_jwk, "d"), public).private_key()

        def sign_ec(data: bytes) -> bytes:
            r, s = utils.decode_dss_signature(ec_key.sign(data, ec.ECDSA(digest)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

        return sign_ec
    p, q, d = _int(private_jwk, "p"), _int(private_jwk, "q"), _int(private_jwk, "d")
    public_numbers = rsa.RSAPublicNumbers(_int(private_jwk, "e"), _int(private_jwk, "n"))
    rsa_key = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), public_numbers).private_key()
    if spec.padding == "pss":
        pad: Any = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    else:
        pad = padding.PKCS1v15()
    return lambda data: rsa_key.sign(data, pad, digest)
