"""Compact JWS (RFC 7515): split, check the header, verify the signature.

This layer knows nothing of claims: it hands back the payload bytes only
after the signature over ``header.payload`` verified, so nothing
unauthenticated beyond the header is ever interpreted.
"""

from __future__ import annotations

from typing import Tuple

from . import b64url, errors, strictjson


def split(token: str) -> Tuple[str, str, str]:
    """The three base64url parts; ``invalid JWT encoding`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise errors.bad_encoding()
    return parts[0], parts[1], parts[2]


def decode_part(part: str) -> bytes:
    try:
        return b64url.decode(part)
    except ValueError as e:
        raise errors.undecodable(str(e)) from None


def parse_part(part: str) -> dict:
    """A header or payload: base64url of a JSON object."""
    data = decode_part(part)
    try:
        return strictjson.loads_object(data)
    except ValueError as e:
        raise errors.unparsable(str(e)) from None


def check_header(header: dict, key) -> None:
    """``alg`` is optional (the reference's tokens omit it) but must fit the key.

    ``crit`` names extensions we would have to understand (RFC 7515 4.1.11);
    we understand none, so such a token is refused.
    """
    if "alg" in header:
        alg = header["alg"]
        if not isinstance(alg, str) or alg not in key.algs:
            raise errors.disallowed_alg(alg)
    if "crit" in header:
        raise errors.unsupported_crit(header["crit"])


def verify(token: str, key) -> bytes:
    """Verify a compact JWS with ``key``; return the payload bytes."""
    header_part, payload_part, signature_part = split(token)
    check_header(parse_part(header_part), key)
    try:
        signature = b64url.decode(signature_part)
    except ValueError:
        raise errors.bad_signature_encoding() from None
    if len(signature) != key.signature_length:
        raise errors.bad_signature_encoding()
    # Not ASCII means not base64url: such a part cannot carry a valid
    # signature, and is refused as such before anything else reads it.
    signing_input = token[: len(header_part) + 1 + len(payload_part)].encode("utf-8", "surrogatepass")
    if not key.verify(signing_input, signature):
        raise errors.bad_signature()
    return decode_part(payload_part)
