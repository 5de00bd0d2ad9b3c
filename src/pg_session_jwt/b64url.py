"""Strict unpadded base64url (RFC 7515 section 2), as JWS requires.

Python's own decoder forgives padding, stray characters and non-zero
trailing bits; a token accepted here has exactly one spelling.
"""

from __future__ import annotations

import base64
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def encode(data: bytes) -> str:
    """Encode without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; ValueError on anything else."""
    if not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url: character outside the alphabet")
    if len(text) % 4 == 1:
        raise ValueError("not base64url: impossible length")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if encode(data) != text:
        raise ValueError("not base64url: non-zero trailing bits")
    return data
