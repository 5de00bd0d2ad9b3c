"""Claims: the checks on a verified payload, and the values readers return.

A :class:`Claims` is built once per validated token (or per distinct
``request.jwt.claims`` text) and precomputes what ``auth.user_id()`` and
friends return, so a reader on the hot path only fetches an attribute.
"""

from __future__ import annotations

import time

from . import errors, strictjson

LEEWAY = 60  # seconds of clock skew allowed on nbf and exp
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

_HEX = frozenset("0123456789abcdefABCDEF")
_UNSET = object()


def as_i64(value: object) -> int | None:
    """The value as a signed 64-bit integer, or None (JSON 1.0 is not one)."""
    if type(value) is int and I64_MIN <= value <= I64_MAX:
        return value
    return None


def as_uuid(value: object) -> str | None:
    """Canonical text of a uuid-shaped string, else None.

    PostgreSQL's uuid input rules, so auth.uid() accepts what ::uuid accepts:
    optional braces around 32 hex digits, an optional hyphen after any group
    of four.
    """
    if not isinstance(value, str):
        return None
    text = value[1:-1] if value[:1] == "{" and value[-1:] == "}" else value
    groups, i = [], 0
    for n in range(8):
        if n and text[i : i + 1] == "-":
            i += 1
        group = text[i : i + 4]
        if len(group) != 4 or not _HEX.issuperset(group):
            return None
        groups.append(group)
        i += 4
    if i != len(text):
        return None
    h = "".join(groups).lower()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def check_jti(payload: dict, last_jti: int) -> int:
    """Replay protection: ``jti`` must be an integer above the last one."""
    jti = as_i64(payload.get("jti"))
    if jti is None:
        raise errors.bad_jti()
    if jti <= last_jti:
        raise errors.replayed_jti(jti, last_jti)
    return jti


def check_time(payload: dict, now: float | None = None) -> None:
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


def check_audience(payload: dict, audience: str | None) -> None:
    """When configured, ``aud`` (a string or an array) must include it."""
    if not audience:
        return
    aud = payload.get("aud")
    if aud == audience and isinstance(aud, str):
        return
    if isinstance(aud, list) and any(isinstance(a, str) and a == audience for a in aud):
        return
    raise errors.wrong_audience(aud, audience)


def check_issuer(payload: dict, issuer: str | None) -> None:
    """When configured, ``iss`` must equal it."""
    if issuer and not (isinstance(payload.get("iss"), str) and payload["iss"] == issuer):
        raise errors.wrong_issuer(payload.get("iss"), issuer)


class Claims:
    """What the reading functions return for one payload.

    ``verified`` is true for a signature-checked JWT: then a ``sub`` that is
    not a string is an error, as in the reference; for PostgREST's claims it
    just yields NULL.
    """

    __slots__ = ("payload", "sub", "bad_sub", "_uid", "organization_id", "exp", "_org", "_json", "_org_json")

    def __init__(self, payload: object, verified: bool):
        self.payload = payload
        obj = payload if isinstance(payload, dict) else {}
        self.exp = as_i64(obj.get("exp"))
        sub = obj.get("sub")
        self.sub = sub if isinstance(sub, str) else None
        self.bad_sub = verified and "sub" in obj and self.sub is None
        self._uid: object = _UNSET  # the uuid reading of sub, made on first auth.uid()
        org = obj.get("o")
        self._org = org if isinstance(org, dict) else None
        self.organization_id = None if self._org is None else as_uuid(self._org.get("id"))
        self._json = self._org_json = None

    # JSON text is made on first use: the user_id() path never needs it, and
    # not importing the json encoder keeps a connection's first call cheap.
    @property
    def json(self) -> str:
        """The payload as JSON text (what auth.session() returns)."""
        if self._json is None:
            self._json = strictjson.dumps(self.payload)
        return self._json

    @property
    def organization(self) -> str | None:
        """The ``o`` claim as JSON text when it is an object."""
        if self._org is not None and self._org_json is None:
            self._org_json = strictjson.dumps(self._org)
        return self._org_json

    def expired(self) -> bool:
        """Past ``exp`` (and the leeway): no longer to be served from a cache."""
        return self.exp is not None and self.exp + LEEWAY < time.time()

    def user_id(self) -> str | None:
        if self.bad_sub:
            raise errors.bad_subject()
        return self.sub

    def user_uuid(self) -> str | None:
        if self.bad_sub:
            raise errors.bad_subject()
        if self._uid is _UNSET:
            self._uid = as_uuid(self.sub)
        return self._uid  # type: ignore[return-value]

    def audit_fields(self) -> str:
        """``sub=… aud=…`` as JSON values, so a hostile claim cannot forge log lines."""
        obj = self.payload if isinstance(self.payload, dict) else {}
        return f"sub={strictjson.dumps(obj.get('sub'))} aud={strictjson.dumps(obj.get('aud'))}"


NO_CLAIMS_JSON = "null"


def from_setting(text: str | None) -> Claims | None:
    """PostgREST's ``request.jwt.claims``: unset, empty or bad JSON is None."""
    if not text:
        return None
    try:
        return Claims(strictjson.loads(text), verified=False)
    except ValueError:
        return None
