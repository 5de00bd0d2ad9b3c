"""JSON parsing for untrusted token parts and claim settings.

Stricter than :func:`json.loads`: UTF-8 only, no duplicate member names
(which parsers resolve differently: a classic token-smuggling trick), no
NaN/Infinity (neither as literals nor as numbers too large for a double,
like 1e400), and nothing that
PostgreSQL's ``jsonb`` would refuse later (NUL characters, lone surrogates),
so a value accepted here can always be returned as ``jsonb``.

Parsing uses CPython's C scanner (``_json``, what ``json.loads`` runs
underneath) directly: importing the ``json`` package pulls in ``re`` and
``enum``, which would cost a new connection several milliseconds before its
first token is checked.  The encoder is imported only when JSON is written.
"""

from __future__ import annotations

from _json import make_scanner

_INFINITIES = (float("inf"), float("-inf"))  # math.isinf, without importing math


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in _INFINITIES:
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # a name came twice: find it for the message
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise ValueError(f"duplicate member name {name[:40]!r}")
            seen.add(name)
    return obj


def _check_text(s: str) -> None:
    if "\x00" in s:
        raise ValueError("NUL character in a JSON string")
    s.encode("utf-8")  # raises on lone surrogates


MAX_DEPTH = 64  # far beyond any real claim set; keeps dumps() and jsonb well inside their stacks


def _check_tree(value: object) -> None:
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


class _Rules:
    """The options ``make_scanner`` reads, as ``json.JSONDecoder`` would hold them."""

    def __init__(self) -> None:
        self.strict = True  # no raw control characters inside strings
        self.object_hook = None
        self.object_pairs_hook = _unique
        self.parse_float = _finite_float
        self.parse_int = int
        self.parse_constant = _no_constants


_scan = make_scanner(_Rules())
_WHITESPACE = " \t\n\r"  # JSON's own; str.strip() would take Unicode spaces too


def _scan_reporting_errors(text: str, start: int):
    try:
        return _scan(text, start)
    except SystemError:
        # Some CPython 3.11 releases (Debian 12's 3.11.2 among them) report a
        # syntax error through json.decoder.JSONDecodeError only if
        # json.decoder is already imported, and raise SystemError otherwise.
        # This is the error path: import it and scan again for the real error.
        import json.decoder  # noqa: F401

        return _scan(text, start)


def _parse(text: str) -> object:
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan_reporting_errors(text, start)
    except StopIteration as stop:
        raise ValueError(f"expecting a JSON value at position {stop.value}") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data at position {end}")
    return value


def _without_surrogates(text: str) -> str:
    """A str (unlike UTF-8 bytes) may hold raw lone surrogates: refuse them."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("lone surrogate in a JSON string") from None
    return text


def loads(data: "bytes | str") -> object:
    """Parse JSON text; ValueError (with a reason) when it is not acceptable."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else _without_surrogates(data)
        value = _parse(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except UnicodeError as e:
        raise ValueError(f"not UTF-8: {e.reason}") from None
    # Only an escape can put NUL or a lone surrogate into a string (the
    # scanner refuses raw control characters; raw surrogates were refused
    # above), and only that many brackets can nest too deep: most texts need
    # no walk at all.
    if "\\" in text or text.count("[") + text.count("{") > MAX_DEPTH:
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


def dumps(value: object) -> str:
    """Compact JSON text, as handed back to PostgreSQL."""
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
