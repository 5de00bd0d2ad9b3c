"""What the server would make of a key set, and the set cut down to what it reads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .. import errors, jwk, strictjson

# The members the server reads of a key; x5c, x5t, x5u, issuer and the like
# only cost startup-packet bytes.
SERVER_MEMBERS = ("kty", "crv", "x", "y", "n", "e", "kid", "alg", "use", "key_ops")


@dataclass
class KeyReport:
    """One key of a set as the server sees it."""

    index: int
    kid: Any
    kty: Any
    crv: Any
    alg: Any
    skipped: Optional[str]  # why the server would skip it; None: used

    @property
    def kind(self) -> str:
        return "/".join(str(v) for v in (self.kty, self.crv) if v is not None) or "?"


def load(text: str) -> Dict[str, Any]:
    """The JSON object, parsed as the server parses it (duplicate names refused)."""
    try:
        return strictjson.loads_object(text)
    except ValueError as e:
        raise errors.bad_jwk(str(e)) from None


def members(value: Dict[str, Any]) -> List[Any]:
    """The keys of a set, or the one JWK."""
    return value["keys"] if isinstance(value.get("keys"), list) else [value]


def judge(text: str) -> List[KeyReport]:
    """Each key with the server's verdict; a JWTError when the server refuses the set."""
    parsed = jwk.parse(text)
    reasons = {s.index: s.reason for s in parsed.skipped}
    reports = []
    for i, member in enumerate(members(load(text))):
        get = member.get if isinstance(member, dict) else (lambda _name: None)
        reports.append(KeyReport(i, get("kid"), get("kty"), get("crv"), get("alg"), reasons.get(i)))
    return reports


def checked(text: str) -> Tuple[Dict[str, Any], List[KeyReport]]:
    """The set cut to what the server reads, and each key's verdict.

    Judged on the text as given: compaction drops a private member such as
    ``d``, and a set that carried one must be refused, not cleaned.
    """
    reports = judge(text)
    return compact(load(text)), reports


def compact(value: Dict[str, Any]) -> Dict[str, Any]:
    """The set (or JWK) with only :data:`SERVER_MEMBERS` in each key, keys and members in their order."""

    def cut(key: Any) -> Any:
        return {k: v for k, v in key.items() if k in SERVER_MEMBERS} if isinstance(key, dict) else key

    if isinstance(value.get("keys"), list):
        return {"keys": [cut(k) for k in value["keys"]]}
    return cut(value)


def dumps(value: Dict[str, Any]) -> str:
    """Compact JSON, the form the setting and the startup packet carry."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def kids(value: Optional[Dict[str, Any]]) -> List[Any]:
    """The ``kid`` of each key, in order (keys without one are left out)."""
    if value is None:
        return []
    return [k["kid"] for k in members(value) if isinstance(k, dict) and "kid" in k]
