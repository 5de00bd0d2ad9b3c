"""The libpq ``options`` value that carries the key in the startup packet.

The server trusts ``pg_session_jwt.jwk`` (and ``audience``, ``issuer``,
``replay``, ``audit_log``) only from its configuration or from the startup
packet, and libpq's ``options`` is how a client puts settings there.  The
backend splits that value on whitespace, with a backslash escaping the next
character (``pg_split_opts``); JSON keys have spaces and quotes, so values
must be escaped, and merging with options an application already passes
must keep those intact.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Union

from psycopg import conninfo

SettingValue = Union[str, bool, Mapping[str, Any], None]

PREFIX = "pg_session_jwt."
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = " \t\n\v\f\r"  # C isspace(), what pg_split_opts splits on


def escape(word: str) -> str:
    """One word of an ``options`` value: backslash before whitespace and backslashes."""
    if "\0" in word:
        raise ValueError("a startup option cannot contain a NUL character")
    return "".join("\\" + ch if ch == "\\" or ch in _SPACE else ch for ch in word)


def split(options: str) -> List[str]:
    """The words the backend sees in an ``options`` value (``pg_split_opts``)."""
    words: List[str] = []
    word: Optional[List[str]] = None
    escaped = False
    for ch in options:
        if ch in _SPACE and not escaped:
            if word is not None:
                words.append("".join(word))
                word = None
            continue
        if word is None:
            word = []
        if ch == "\\" and not escaped:
            escaped = True
        else:
            word.append(ch)
            escaped = False
    if word is not None:
        words.append("".join(word))
    return words


def _text(value: Union[str, bool, Mapping[str, Any]]) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _setting_words(settings: Mapping[str, SettingValue]) -> Dict[str, str]:
    """``{full setting name: "-c name=value" word}``; None values are left out."""
    words = {}
    for name, value in settings.items():
        if value is None:
            continue
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a setting name: {name!r}")
        full = PREFIX + name
        words[full.lower()] = f"{full}={_text(value)}"
    return words


def startup_options(**settings: SettingValue) -> str:
    """The libpq ``options`` value that sets ``pg_session_jwt.<name>`` at connection start.

    ``startup_options(jwk=public_jwk, audience="api", issuer="https://id.example/")``:
    a dict (one JWK or a set ``{"keys": [...]}``) becomes compact JSON, a bool
    ``on``/``off``, None is left out; every value is escaped for libpq.
    """
    return " ".join("-c " + escape(word) for word in _setting_words(settings).values())


def _option_name(words: List[str], i: int) -> Optional[str]:
    """The setting that the option starting at word ``i`` sets, if it sets one."""
    word = words[i]
    if word == "-c" and i + 1 < len(words):
        assignment = words[i + 1]
    elif word.startswith("-c") and len(word) > 2:
        assignment = word[2:]
    elif word.startswith("--") and "=" in word:
        assignment = word[2:]
    else:
        return None
    return assignment.split("=", 1)[0].replace("-", "_").lower()


def merge_options(existing: Optional[str], **settings: SettingValue) -> str:
    """``existing`` options with ``pg_session_jwt.*`` settings added or replaced.

    Other options (``-c search_path=app``, ``--statement-timeout=5s``, ...)
    are kept word for word; an earlier value of a setting given here is
    dropped, so the startup packet carries exactly one.
    """
    new = _setting_words(settings)
    words = split(existing or "")
    kept: List[str] = []
    i = 0
    while i < len(words):
        span = 2 if words[i] == "-c" and i + 1 < len(words) else 1
        if _option_name(words, i) not in new:
            kept.extend(words[i : i + span])
        i += span
    kept_text = " ".join(escape(w) for w in kept)
    ours = " ".join("-c " + escape(word) for word in new.values())
    return " ".join(part for part in (kept_text, ours) if part)


def with_settings(dsn: str, **settings: SettingValue) -> str:
    """A connection string with these settings merged into its ``options``.

    When ``dsn`` has no ``options``, those of ``$PGOPTIONS`` are the base, as
    libpq would have used them (an ``options`` parameter replaces the variable).
    """
    params = conninfo.conninfo_to_dict(dsn)
    base = params.get("options", os.environ.get("PGOPTIONS"))
    params["options"] = merge_options(None if base is None else str(base), **settings)
    return conninfo.make_conninfo("", **params)
