"""Compact JWS (RFC 7515): split, check the header, verify the signature.

This layer knows nothing of claims: it hands back the payload bytes only
after the signature over ``header.payload`` verified, so nothing
unauthenticated beyond the header is ever interpreted.
"""

from __future__ import annotations

from . import b64url, errors, strictjson

MAX_TOKEN_CHARS = 64 * 1024  # real tokens are a few KiB; this bounds the work per attempt


def split(token: str) -> tuple[str, str, str]:
    """The three base64url parts; ``invalid JWT encoding`` otherwise."""
    if len(token) > MAX_TOKEN_CHARS:
        raise errors.too_large("JWT", len(token), MAX_TOKEN_CHARS)
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


HEADER_CACHE = 64  # distinct headers remembered per key set; one issuer uses one or two


def header_rule(header_part: str, keys) -> tuple[object, list]:
    """The header's ``alg`` and the keys that may verify it, or a refusal.

    ``crit`` names extensions we would have to understand (RFC 7515 4.1.11);
    we understand none, so such a token is refused.  Key choice and ``alg``
    are the key set's rule.  Tokens from one issuer share their header text,
    so the answer is remembered on the key set by that text (refusals are
    not: they are rare and cheap to repeat).
    """
    cache = keys.header_cache
    rule = cache.get(header_part)
    if rule is None:
        header = parse_part(header_part)
        if "crit" in header:
            raise errors.unsupported_crit(header["crit"])
        rule = (header.get("alg"), keys.candidates(header))
        if len(cache) >= HEADER_CACHE:
            cache.clear()
        cache[header_part] = rule
    return rule


def verify(token: str, keys) -> bytes:
    """Verify a compact JWS with a :class:`~pg_session_jwt.jwk.KeySet`; return the payload bytes.

    A token is accepted when one of the header's candidate keys verifies it.
    """
    header_part, payload_part, signature_part = split(token)
    alg, candidates = header_rule(header_part, keys)
    try:
        signature = b64url.decode(signature_part)
    except ValueError:
        raise errors.bad_signature_encoding() from None
    # Not ASCII means not base64url: such a part cannot carry a valid
    # signature, and is refused as such before anything else reads it.
    signing_input = token[: len(header_part) + 1 + len(payload_part)].encode("utf-8", "surrogatepass")
    fitting = False
    for key in candidates:
        if key.signature_length == len(signature):
            if key.verify(alg, signing_input, signature):
                return decode_part(payload_part)
            fitting = True
    raise errors.bad_signature() if fitting else errors.bad_signature_encoding()
