"""Key sets and tokens in the shapes identity providers publish, with keys made here.

Each :class:`Provider` holds a JWKS shaped as the provider's documentation
shows it (members, extra members such as Microsoft's ``x5c`` chains and
``issuer``, Supabase's ``ext``, key order and count), one of its keys to sign
with, and a token shaped like the provider's: its header (``typ``, ``kid``,
``x5t``) and claims (string ``jti`` or none, ``aud`` as string or array,
``azp`` instead of ``aud``).  ``issuer``/``audience`` are what the provider
recipes tell users to configure.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from jose_keys import Issuer, issuer

from pg_session_jwt import b64url


@dataclass
class Provider:
    name: str
    jwks: Dict[str, Any]
    signer: Issuer
    iss: str
    audience: Optional[str]  # what pg_session_jwt.audience is set to (None: left unset, as the recipe says)
    header: Dict[str, Any]
    claims: Callable[[str], Dict[str, Any]]

    def token(self, sub: str) -> str:
        return self.signer.sign(self.claims(sub), header=self.header)


def _now() -> int:
    return int(time.time())


def _times(lifetime: int = 3600) -> Dict[str, int]:
    now = _now()
    return {"iat": now, "exp": now + lifetime}


def _certificate(signer: Issuer, common_name: str) -> bytes:
    """A self-signed X.509 certificate (DER) of an RSA key, as Entra and Auth0 put in ``x5c``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(signer.key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=5 * 365)).sign(signer.key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _x5(signer: Issuer, common_name: str) -> Dict[str, Any]:
    """``x5t`` (SHA-1 thumbprint) and ``x5c`` (the chain, here one self-signed certificate) of a key."""
    der = _certificate(signer, common_name)
    return {"x5t": b64url.encode(hashlib.sha1(der).digest()), "x5c": [base64.b64encode(der).decode()]}


def _rsa(label: str, kid: Optional[str] = None) -> Issuer:
    return issuer("RS256", f"provider-{label}", kid=kid)


def google() -> Provider:
    keys = [_rsa(f"google-{i}", uuid.uuid4().hex[:40]) for i in range(2)]
    client = "1234567890-abcdefg.apps.googleusercontent.com"
    return Provider(
        "google", {"keys": [dict(k.jwk, use="sig", alg="RS256") for k in keys]}, keys[1], "https://accounts.google.com",
        client, {"alg": "RS256", "kid": keys[1].kid, "typ": "JWT"},
        lambda sub: {"iss": "https://accounts.google.com", "azp": client, "aud": client, "sub": sub,
                     "email": "alice@example.com", "email_verified": True, "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
                     "name": "Alice", **_times()})


MICROSOFT_KEYS = 7  # Entra's common endpoint publishes about this many, each with its certificate


def microsoft() -> Provider:
    tenant = str(uuid.UUID(int=0x72F988BF86F141AF91AB2D7CD011DB47))
    iss = f"https://login.microsoftonline.com/{tenant}/v2.0"
    keys = []
    for i in range(MICROSOFT_KEYS):
        signer = _rsa(f"entra-{i}")
        x5 = _x5(signer, "accounts.accesscontrol.windows.net")
        kid = x5["x5t"]  # Entra's kid is the certificate's thumbprint
        keys.append((signer.with_kid(kid), {
            "kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": signer.jwk["n"], "e": signer.jwk["e"],
            "x5c": x5["x5c"], "cloud_instance_name": "microsoftonline.com",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"}))
    signer = keys[2][0]
    app = str(uuid.uuid4())
    return Provider(
        "microsoft", {"keys": [jwk for _, jwk in keys]}, signer, iss, app,
        {"typ": "JWT", "alg": "RS256", "kid": signer.kid, "x5t": signer.kid},
        lambda sub: {"aud": app, "iss": iss, "nbf": _now(), "name": "Alice", "oid": str(uuid.uuid4()),
                     "preferred_username": "alice@contoso.example", "rh": "0.AXEA", "sub": sub, "tid": tenant,
                     "uti": "AbCdEf123456", "ver": "2.0", **_times()})


def auth0() -> Provider:
    keys = [_rsa(f"auth0-{i}", b64url.encode(uuid.uuid4().bytes)) for i in range(2)]
    domain = "https://example-tenant.us.auth0.com/"
    api = "https://api.example.com"
    return Provider(
        "auth0", {"keys": [{"kty": "RSA", "use": "sig", "n": k.jwk["n"], "e": k.jwk["e"], "kid": k.kid,
                            **_x5(k, "example-tenant.us.auth0.com"), "alg": "RS256"} for k in keys]},
        keys[0], domain, api, {"alg": "RS256", "typ": "JWT", "kid": keys[0].kid},
        lambda sub: {"iss": domain, "sub": sub, "aud": [api, domain + "userinfo"], "azp": "a1b2c3d4e5",
                     "scope": "openid profile email", **_times(86400)})


def okta() -> Provider:
    keys = [_rsa(f"okta-{i}", b64url.encode(uuid.uuid4().bytes)[:43]) for i in range(2)]
    iss = "https://dev-123456.okta.com/oauth2/default"
    return Provider(
        "okta", {"keys": [{"kty": "RSA", "alg": "RS256", "kid": k.kid, "use": "sig", "e": k.jwk["e"], "n": k.jwk["n"]}
                          for k in keys]},
        keys[1], iss, "api://default", {"kid": keys[1].kid, "alg": "RS256"},
        lambda sub: {"ver": 1, "jti": "AT." + b64url.encode(uuid.uuid4().bytes), "iss": iss, "aud": "api://default",
                     "cid": "0oa1b2c3d4", "uid": "00u1b2c3d4", "scp": ["openid", "email"], "auth_time": _now(),
                     "sub": sub, **_times()})


def cognito() -> Provider:
    keys = [_rsa(f"cognito-{i}", b64url.encode(uuid.uuid4().bytes + uuid.uuid4().bytes)) for i in range(2)]
    iss = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI"
    client = "7abcdefghijklmnopqrstuvwx"
    return Provider(
        "cognito", {"keys": [{"alg": "RS256", "e": k.jwk["e"], "kid": k.kid, "kty": "RSA", "n": k.jwk["n"], "use": "sig"}
                             for k in keys]},
        keys[0], iss, client, {"kid": keys[0].kid, "alg": "RS256"},
        lambda sub: {"sub": sub, "email_verified": True, "iss": iss, "cognito:username": "alice",
                     "origin_jti": str(uuid.uuid4()), "aud": client, "event_id": str(uuid.uuid4()), "token_use": "id",
                     "auth_time": _now(), "jti": str(uuid.uuid4()), "email": "alice@example.com", **_times()})


def clerk() -> Provider:
    signer = _rsa("clerk", "ins_2" + uuid.uuid4().hex[:26])
    iss = "https://clerk.example.com"
    return Provider(
        "clerk", {"keys": [{"use": "sig", "kty": "RSA", "kid": signer.kid, "alg": "RS256", "n": signer.jwk["n"],
                            "e": signer.jwk["e"]}]},
        signer, iss, None, {"alg": "RS256", "kid": signer.kid, "typ": "JWT"},
        lambda sub: {"azp": "https://app.example.com", "iss": iss, "nbf": _now() - 10, "sid": "sess_2" + uuid.uuid4().hex[:26],
                     "sub": sub, **_times(60)})


def supabase() -> Provider:
    signer = issuer("ES256", "provider-supabase", kid=str(uuid.uuid4()))
    iss = "https://abcdefghijklmnopqrst.supabase.co/auth/v1"
    jwk = {"alg": "ES256", "crv": "P-256", "ext": True, "key_ops": ["verify"], "kid": signer.kid, "kty": "EC",
           "use": "sig", "x": signer.jwk["x"], "y": signer.jwk["y"]}
    return Provider(
        "supabase", {"keys": [jwk]}, signer, iss, "authenticated", {"alg": "ES256", "kid": signer.kid, "typ": "JWT"},
        lambda sub: {"iss": iss, "sub": sub, "aud": "authenticated", "email": "alice@example.com", "phone": "",
                     "app_metadata": {"provider": "email", "providers": ["email"]}, "user_metadata": {},
                     "role": "authenticated", "aal": "aal1", "amr": [{"method": "password", "timestamp": _now()}],
                     "session_id": str(uuid.uuid4()), "is_anonymous": False, **_times()})


def neon_auth() -> Provider:
    signer = issuer("EdDSA", "provider-neon-auth", kid=str(uuid.uuid4()))
    iss = "https://ep-example-123456.neonauth.us-east-2.aws.neon.tech/neondb/auth"
    return Provider(
        "neon-auth", {"keys": [{"alg": "EdDSA", "crv": "Ed25519", "x": signer.jwk["x"], "kty": "OKP",
                                "kid": signer.kid}]},
        signer, iss, iss, {"alg": "EdDSA", "kid": signer.kid},
        lambda sub: {"iat": _now(), "name": "Alice", "email": "alice@example.com", "emailVerified": True,
                     "role": "authenticated", "id": sub, "sub": sub, "iss": iss, "aud": iss, "exp": _now() + 900})


PROVIDERS: List[Callable[[], Provider]] = [google, microsoft, auth0, okta, cognito, clerk, supabase, neon_auth]
