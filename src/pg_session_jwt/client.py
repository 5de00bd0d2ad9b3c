"""Client-side helpers for connecting with a key in the startup packet."""

from __future__ import annotations

import json
from typing import Any, Dict, Union


def _escape(value: str) -> str:
    # libpq splits `options` on spaces; a backslash escapes the next character.
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def startup_options(**settings: Union[str, Dict[str, Any]]) -> str:
    """The libpq ``options`` value that sets ``pg_session_jwt.<name>`` at
    connection start, e.g. ``startup_options(jwk=public_jwk)``.  Dict values
    are serialized as compact JSON."""
    parts = []
    for name, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append("-c " + _escape(f"pg_session_jwt.{name}={text}"))
    return " ".join(parts)
