"""Reading PostgreSQL setting values the way the server itself would."""

from __future__ import annotations


def pg_bool(value: str | None) -> bool:
    """True when PostgreSQL's boolean parser would read ``on``.

    Accepts the same spellings as ``parse_bool``: unambiguous prefixes of
    true/false/yes/no, ``on``/``off`` (at least two letters) and 1/0, in any
    case.  Anything else, including an unset value, counts as off.
    """
    if not value:
        return False
    v = value.lower()
    if "true".startswith(v) or "yes".startswith(v) or v == "1":
        return True
    return len(v) >= 2 and v == "on"
