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
_PADDING = ("", "", "==", "=")


def encode(data: bytes) -> str:
    """Encode without padding."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; ValueError on anything else.

    The C decoder skips what it does not understand, so the result is
    proven canonical by encoding it again: only the one spelling of these
    bytes comes back.  The comparison is made in the standard alphabet,
    with padding, so the text must not hold ``+``, ``/`` or ``=`` itself.
    That costs a fraction of checking the text character by character in
    Python; :func:`_reason` says what was wrong only when something was.
    """
    if "=" in text or "+" in text or "/" in text:
        raise ValueError(_reason(text))
    standard = text.replace("-", "+").replace("_", "/") + _PADDING[len(text) % 4]
    try:
        data = binascii.a2b_base64(standard)
        canonical = binascii.b2a_base64(data, newline=False) == standard.encode("ascii")
    except (binascii.Error, ValueError):  # UnicodeError is a ValueError
        canonical = False
    if not canonical:
        raise ValueError(_reason(text))
    return data


def _reason(text: str) -> str:
    if not _ALPHABET.issuperset(text):
        return "not base64url: character outside the alphabet"
    rest = len(text) % 4
    if rest == 1:
        return "not base64url: impossible length"
    return "not base64url: non-zero trailing bits"
