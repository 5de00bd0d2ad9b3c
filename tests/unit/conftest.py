"""Fixtures for the pure-core unit tests: keys, raw token assembly, error checks.

``keypair`` and ``minter`` come from ``tests/conftest.py`` (they need no
server); session-scoped fixtures here are immutable, so @given tests may use them.
"""

from __future__ import annotations

import contextlib
import json
from typing import Callable, Optional

import pytest
from nacl.signing import SigningKey

from pg_session_jwt import b64url, jwk
from pg_session_jwt.errors import JWTError
from pg_session_jwt.session import Session
from pg_session_jwt.signing import ed25519_keypair


@contextlib.contextmanager
def _refused(expected: JWTError):
    """Expect a JWTError with the SQLSTATE and message (and detail, if any) of ``expected``."""
    with pytest.raises(JWTError) as info:
        yield info
    got = info.value
    assert (got.sqlstate, got.message) == (expected.sqlstate, expected.message), repr(got)
    if expected.detail is not None:
        assert got.detail == expected.detail, repr(got)


@pytest.fixture(scope="session")
def refused() -> Callable:
    """``with refused(errors.bad_signature()): ...`` asserts exactly that error."""
    return _refused


@pytest.fixture(scope="session")
def public_text(keypair) -> str:
    """The trusted public JWK, as the ``pg_session_jwt.jwk`` setting holds it."""
    return json.dumps(keypair[1])


@pytest.fixture(scope="session")
def key(public_text):
    """The trusted public JWK, parsed into a verifier."""
    return jwk.parse(public_text)


@pytest.fixture(scope="session")
def other_keypair():
    """A second key pair the session does not trust."""
    return ed25519_keypair()


@pytest.fixture(scope="session")
def new_session(public_text) -> Callable[[], Session]:
    """Factory for a fresh Session trusting ``keypair`` (usable inside @given)."""
    return lambda: Session(public_text)


@pytest.fixture
def session(new_session) -> Session:
    return new_session()


@pytest.fixture(scope="session")
def raw_token(keypair) -> Callable:
    """raw_token(header_part, payload_part, private=None) -> 'h.p.sig' signed over the raw text.

    Lets a test sign parts that are not valid base64url or JSON, with real Ed25519.
    """

    def make(header_part: str, payload_part: str, private: Optional[dict] = None) -> str:
        signing_input = f"{header_part}.{payload_part}"
        seed = b64url.decode((private or keypair[0])["d"])
        signature = SigningKey(seed).sign(signing_input.encode("utf-8")).signature
        return f"{signing_input}.{b64url.encode(signature)}"

    return make


@pytest.fixture(scope="session")
def part() -> Callable:
    """part(obj_or_bytes) -> base64url of compact JSON (or of the raw bytes)."""

    def make(value) -> str:
        data = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
        return b64url.encode(data)

    return make
