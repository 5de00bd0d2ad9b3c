"""Strict unpadded base64url (RFC 7515 section 2), as JWS requires.

Python's own decoder forgives padding, stray characters and non-zero
trailing bits; a token accepted here has exactly one spelling.
"""

from __future__ import annotations

import binascii  # base64 itself imports re: too slow for a connection's first call

_TO_STANDARD = str.maketrans("-_", "+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encode(data: bytes) -> str:
    """Encode without padding."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; ValueError on anything else."""
    if not _ALPHABET.issuperset(text):
        raise ValueError("not base64url: character outside the alphabet")
    if len(text) % 4 == 1:
        raise ValueError("not base64url: impossible length")
    data = binascii.a2b_base64(text.translate(_TO_STANDARD) + "=" * (-len(text) % 4))
    if encode(data) != text:
        raise ValueError("not base64url: non-zero trailing bits")
    return data
