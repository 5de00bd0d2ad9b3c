"""Strict unpadded base64url (RFC 7515 section 2), as JWS requires.

Python's own decoder forgives padding, stray characters and non-zero
trailing bits; a token accepted here has exactly one spelling.
"""

from __future__ import annotations

import binascii  # base64 itself imports re: too slow for a connection's first call

_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALPHABET = frozenset(_DIGITS)
# The last character of a part whose length is 2 or 3 (mod 4) carries 4 or
# 2 bits no byte uses; canonical encodings leave them zero.
_UNUSED_BITS = {2: 0b1111, 3: 0b11}


def encode(data: bytes) -> str:
    """Encode without padding."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; ValueError on anything else."""
    if not _ALPHABET.issuperset(text):
        raise ValueError("not base64url: character outside the alphabet")
    rest = len(text) % 4
    if rest == 1:
        raise ValueError("not base64url: impossible length")
    if rest and _DIGITS.index(text[-1]) & _UNUSED_BITS[rest]:
        raise ValueError("not base64url: non-zero trailing bits")
    return binascii.a2b_base64(text.replace("-", "+").replace("_", "/") + "=" * (-rest % 4))
