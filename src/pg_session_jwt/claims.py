"""Claims: the checks on a verified payload, and the values readers return.

A :class:`Claims` is built once per validated token (or per distinct
``request.jwt.claims`` text) and precomputes what ``auth.user_id()`` and
friends return, so a reader on the hot path only fetches an attribute.
"""

from __future__ import annotations

import re
import time
from typing import Any, Optional

from . import errors, strictjson

LEEWAY = 60  # seconds of clock skew allowed on nbf and exp
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

# PostgreSQL's uuid input rules: optional braces, 32 hex digits, an optional
# hyphen after any group of four.  auth.uid() accepts what ::uuid accepts.
_UUID = re.compile(r"(\{)?[0-9A-Fa-f]{4}(?:-?[0-9A-Fa-f]{4}){7}(?(1)\})")


def as_i64(value: Any) -> Optional[int]:
    """The value as a signed 64-bit integer, or None (JSON 1.0 is not one)."""
    if type(value) is int and I64_MIN <= value <= I64_MAX:
        return value
    return None


def as_uuid(value: Any) -> Optional[str]:
    """Canonical text of a uuid-shaped string, else None."""
    if isinstance(value, str) and _UUID.fullmatch(value):
        h = re.sub(r"[^0-9A-Fa-f]", "", value).lower()
        return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return None


def check_jti(payload: dict, last_jti: int) -> int:
    """Replay protection: ``jti`` must be an integer above the last one."""
    jti = as_i64(payload.get("jti"))
    if jti is None:
        raise errors.bad_jti()
    if jti <= last_jti:
        raise errors.replayed_jti(jti, last_jti)
    return jti


def check_time(payload: dict, now: Optional[float] = None) -> None:
    """``nbf``/``exp`` when present, with :data:`LEEWAY` seconds of skew."""
    now = time.time() if now is None else now
    if "nbf" in payload:
        nbf = as_i64(payload["nbf"])
        if nbf is None:
            raise errors.bad_nbf()
        if now + LEEWAY < nbf:
            raise errors.not_yet_valid(nbf)
    if "exp" in payload:
        exp = as_i64(payload["exp"])
        if exp is None:
            raise errors.bad_exp()
        if exp + LEEWAY < now:
            raise errors.expired(exp)


def check_audience(payload: dict, audience: Optional[str]) -> None:
    """When configured, ``aud`` (a string or an array) must include it."""
    if not audience:
        return
    aud = payload.get("aud")
    if aud == audience and isinstance(aud, str):
        return
    if isinstance(aud, list) and any(isinstance(a, str) and a == audience for a in aud):
        return
    raise errors.wrong_audience(aud, audience)


def check_issuer(payload: dict, issuer: Optional[str]) -> None:
    """When configured, ``iss`` must equal it."""
    if issuer and not (isinstance(payload.get("iss"), str) and payload["iss"] == issuer):
        raise errors.wrong_issuer(payload.get("iss"), issuer)


class Claims:
    """What the reading functions return for one payload.

    ``verified`` is true for a signature-checked JWT: then a ``sub`` that is
    not a string is an error, as in the reference; for PostgREST's claims it
    just yields NULL.
    """

    __slots__ = ("payload", "json", "sub", "bad_sub", "uid", "organization", "organization_id")

    def __init__(self, payload: Any, verified: bool):
        self.payload = payload
        self.json = strictjson.dumps(payload)
        obj = payload if isinstance(payload, dict) else {}
        sub = obj.get("sub")
        self.sub = sub if isinstance(sub, str) else None
        self.bad_sub = verified and "sub" in obj and self.sub is None
        self.uid = as_uuid(self.sub)
        org = obj.get("o")
        self.organization = strictjson.dumps(org) if isinstance(org, dict) else None
        self.organization_id = as_uuid(org.get("id")) if isinstance(org, dict) else None

    def user_id(self) -> Optional[str]:
        if self.bad_sub:
            raise errors.bad_subject()
        return self.sub

    def user_uuid(self) -> Optional[str]:
        if self.bad_sub:
            raise errors.bad_subject()
        return self.uid

    def audit_fields(self) -> str:
        """``sub=… aud=…`` as JSON values, so a hostile claim cannot forge log lines."""
        obj = self.payload if isinstance(self.payload, dict) else {}
        return f"sub={strictjson.dumps(obj.get('sub'))} aud={strictjson.dumps(obj.get('aud'))}"


NO_CLAIMS_JSON = "null"


def from_setting(text: Optional[str]) -> Optional[Claims]:
    """PostgREST's ``request.jwt.claims``: unset, empty or bad JSON is None."""
    if not text:
        return None
    try:
        return Claims(strictjson.loads(text), verified=False)
    except ValueError:
        return None
