"""What the commands share: consoles, JSON in and out, key files."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """Bad arguments or input: reported on stderr, exit status 2."""


def print_json_line(value: Any) -> None:
    """One line of compact JSON on stdout, for scripts (never wrapped or coloured)."""
    sys.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")


def read_text(path: str) -> str:
    """A file's text; ``-`` reads stdin."""
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def read_jwk(path: str) -> Dict[str, Any]:
    """A JWK or JWK set from a JSON file."""
    try:
        value = json.loads(read_text(path))
    except ValueError as e:
        raise UsageError(f"{path} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path} does not hold a JSON object (a JWK or a JWK set)")
    return value
