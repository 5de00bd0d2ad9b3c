"""Read and verify tokens outside the server, with the code the server runs.

:func:`verify` builds the same :class:`~pg_session_jwt.session.Session` a
backend builds from its settings, as on a fresh connection, so it accepts
and refuses exactly what ``auth.jwt_session_init()`` would (same SQLSTATE,
message and detail in the :class:`~pg_session_jwt.errors.JWTError`), the
clock being this machine's.  :func:`decode` shows what a token says without
trusting it.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Tuple, Union, cast

from . import errors, jws, strictjson
from .session import Session

KeyLike = Union[str, Mapping[str, Any]]


def jwk_text(key: KeyLike) -> str:
    """The ``pg_session_jwt.jwk`` setting's text for a JWK or JWKS (dict or JSON text)."""
    return key if isinstance(key, str) else json.dumps(key, separators=(",", ":"))


def decode(token: str) -> Tuple[Dict[str, Any], Any]:
    """(header, payload) of a compact JWS, UNVERIFIED: for display only.

    Raises the server's :class:`~pg_session_jwt.errors.JWTError` for a
    token that is not three base64url parts with a JSON header and payload.
    """
    header_part, payload_part, _ = jws.split(token)
    header = jws.parse_part(header_part)
    try:
        payload = strictjson.loads(jws.decode_part(payload_part))
    except ValueError as e:
        raise errors.unparsable(str(e)) from None
    return header, payload


def verify(
    token: str,
    key: KeyLike,
    audience: Optional[str] = None,
    issuer: Optional[str] = None,
    replay: Optional[str] = None,
) -> Dict[str, Any]:
    """The payload, when a fresh connection with these settings would accept
    ``token``; else the server's :class:`~pg_session_jwt.errors.JWTError`."""
    session = Session(jwk_text(key), audience=audience, issuer=issuer, replay=replay)
    return cast(Dict[str, Any], session.validate(token).payload)  # validated: always a JSON object
