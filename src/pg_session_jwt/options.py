"""The libpq ``options`` value that carries the key in the startup packet.

The server trusts ``pg_session_jwt.jwk`` (and ``audience``, ``issuer``,
``replay``, ``audit_log``) only from its configuration or from the startup
packet, and libpq's ``options`` is how a client puts settings there.  The
backend splits that value on whitespace, with a backslash escaping the next
character (``pg_split_opts``); JSON keys have spaces and quotes, so values
must be escaped, and merging with options an application already passes
must keep those intact.

PostgreSQL refuses a startup packet over 10,000 bytes with an opaque
"invalid length of startup packet"; a provider's key set with certificate
chains passes that easily, so the helpers here measure the packet first.
"""

from __future__ import annotations

import getpass
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


STARTUP_PACKET_LIMIT = 10_000  # PostgreSQL's MAX_STARTUP_PACKET_LENGTH: the packet's bytes but its length word


class StartupPacketTooLarge(ValueError):
    """The settings cannot travel in a startup packet; the message names the ways out."""

    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size


def startup_packet_size(params: Mapping[str, str]) -> int:
    """What the server measures of a startup packet with these parameters:
    all but its leading length word, so the version word, ``name\\0value\\0``
    for each parameter and a closing zero byte."""
    return 4 + sum(len(k.encode()) + len(v.encode()) + 2 for k, v in params.items()) + 1


def check_startup_packet(params: Mapping[str, str]) -> None:
    """Raise :class:`StartupPacketTooLarge` unless the packet fits the server's limit."""
    size = startup_packet_size(params)
    if size > STARTUP_PACKET_LIMIT:
        raise StartupPacketTooLarge(
            f"the startup packet would be {size:,} bytes, and PostgreSQL refuses more than"
            f" {STARTUP_PACKET_LIMIT:,} ('options' is {len(params.get('options', '').encode()):,} of them):"
            " cut the key set to the members the server reads with `pg-session-jwt jwks compact`,"
            " or configure the key on the server instead of the startup packet with"
            " ALTER DATABASE/ROLE ... SET pg_session_jwt.jwk (`pg-session-jwt jwks apply`)",
            size,
        )


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
    options = " ".join("-c " + escape(word) for word in _setting_words(settings).values())
    check_startup_packet({"options": options})
    return options


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
    options = " ".join(part for part in (kept_text, ours) if part)
    check_startup_packet({"options": options})
    return options


def startup_parameters(params: Mapping[str, Any]) -> Dict[str, str]:
    """The parameters libpq puts in the startup packet for these connection
    parameters, with the environment's defaults as libpq takes them."""
    user = params.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    sent = {
        "user": user,
        "database": params.get("dbname") or os.environ.get("PGDATABASE") or user,
        "options": params.get("options", os.environ.get("PGOPTIONS")),
        "application_name": params.get("application_name") or os.environ.get("PGAPPNAME")
        or params.get("fallback_application_name"),
        "client_encoding": params.get("client_encoding") or os.environ.get("PGCLIENTENCODING"),
        "replication": params.get("replication"),
    }
    return {name: str(value) for name, value in sent.items() if value}


def with_settings(dsn: str, **settings: SettingValue) -> str:
    """A connection string with these settings merged into its ``options``.

    When ``dsn`` has no ``options``, those of ``$PGOPTIONS`` are the base, as
    libpq would have used them (an ``options`` parameter replaces the variable).
    """
    params = conninfo.conninfo_to_dict(dsn)
    base = params.get("options", os.environ.get("PGOPTIONS"))
    params["options"] = merge_options(None if base is None else str(base), **settings)
    check_startup_packet(startup_parameters(params))
    return conninfo.make_conninfo("", **params)
