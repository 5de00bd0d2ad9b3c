"""Hand-made tokens for the server tests: raw parts, valid or broken signatures.

``signing.sign`` always produces well-formed parts; these helpers build the
odd ones (a payload part that is not base64url, a header that is not JSON)
while still signing exactly the text that ends up in the token, so a test can
reach the check it targets behind a valid signature.
"""

from __future__ import annotations

import json
import time
from typing import Any

from nacl.signing import SigningKey

from pg_session_jwt import b64url

REFUSED = ("42804", "23514")  # the SQLSTATEs of the error table for a refused token


def part(value: Any) -> str:
    """base64url of raw bytes, or of compact JSON for anything else."""
    data = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return b64url.encode(data)


HEADER = part({"alg": "EdDSA", "typ": "JWT"})


def signed(private_jwk, header_part: str, payload_part: str) -> str:
    """``header_part.payload_part`` plus a valid Ed25519 signature over exactly that text."""
    signing_input = f"{header_part}.{payload_part}"
    signature = SigningKey(b64url.decode(private_jwk["d"])).sign(signing_input.encode()).signature
    return f"{signing_input}.{b64url.encode(signature)}"


def replace_part(token: str, index: int, text: str) -> str:
    """The token with part ``index`` (0 header, 1 payload, 2 signature) replaced."""
    parts = token.split(".")
    parts[index] = text
    return ".".join(parts)


def with_signature(token: str, signature: bytes) -> str:
    """The token with its signature replaced by these bytes."""
    return replace_part(token, 2, b64url.encode(signature))


def now() -> int:
    return int(time.time())
