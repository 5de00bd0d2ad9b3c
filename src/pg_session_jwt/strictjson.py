"""JSON parsing for untrusted token parts and claim settings.

Stricter than :func:`json.loads`: UTF-8 only, no duplicate member names
(which parsers resolve differently: a classic token-smuggling trick), no
NaN/Infinity (neither as literals nor as numbers too large for a double,
like 1e400), and nothing that
PostgreSQL's ``jsonb`` would refuse later (NUL characters, lone surrogates),
so a value accepted here can always be returned as ``jsonb``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Tuple


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _unique(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    obj: Dict[str, Any] = {}
    for name, value in pairs:
        if name in obj:
            raise ValueError(f"duplicate member name {name[:40]!r}")
        obj[name] = value
    return obj


def _check_text(s: str) -> None:
    if "\x00" in s:
        raise ValueError("NUL character in a JSON string")
    s.encode("utf-8")  # raises on lone surrogates


MAX_DEPTH = 64  # far beyond any real claim set; keeps dumps() and jsonb well inside their stacks


def _check_tree(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            _check_text(v)
        elif isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
            if isinstance(v, dict):
                for k in v:
                    _check_text(k)
            stack.extend((item, depth + 1) for item in (v.values() if isinstance(v, dict) else v))


def loads(data: "bytes | str") -> Any:
    """Parse JSON text; ValueError (with a reason) when it is not acceptable."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=_unique, parse_constant=_no_constants, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeError as e:
        raise ValueError(f"not UTF-8: {e.reason}") from None
    try:
        _check_tree(value)
    except UnicodeError:
        raise ValueError("lone surrogate in a JSON string") from None
    return value


def loads_object(data: "bytes | str") -> dict:
    """Parse JSON text that must hold an object."""
    value = loads(data)
    if not isinstance(value, dict):
        raise ValueError("JSON value is not an object")
    return value


def dumps(value: Any) -> str:
    """Compact JSON text, as handed back to PostgreSQL."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
