"""The errors a session can raise, with the SQLSTATEs the contract fixes.

Every refusal is a :class:`JWTError`; the server adapter turns it into an
``ereport`` with exactly this SQLSTATE, message and detail, so the messages
below are part of the public API (they match the reference extension).
"""

from __future__ import annotations


NO_DATA = "02000"
DATATYPE_MISMATCH = "42804"
CHECK_VIOLATION = "23514"
UNDEFINED_FILE = "58P01"
PROGRAM_LIMIT_EXCEEDED = "54000"


class JWTError(Exception):
    """A token, key or setting was refused; carries the SQLSTATE to report."""

    def __init__(self, sqlstate: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail

    def __repr__(self) -> str:
        return f"JWTError({self.sqlstate!r}, {self.message!r}, {self.detail!r})"


def missing_jwk() -> JWTError:
    return JWTError(NO_DATA, "Missing runtime parameter: pg_session_jwt.jwk")


def bad_jwk(detail: str | None = None) -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "pg_session_jwt.jwk requires an Ed25519 JWK", detail)


def bad_key_of(kind: str):
    """A constructor for errors about one kind of key (RSA, EC)."""

    def make(detail: str | None = None) -> JWTError:
        return JWTError(DATATYPE_MISMATCH, f"pg_session_jwt.jwk holds an invalid {kind} key", detail)

    return make


def bad_key_set(detail: str | None = None) -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "pg_session_jwt.jwk holds an invalid JWK set", detail)


def no_usable_key(skipped: str) -> JWTError:
    """Every key of the set was skipped: ``skipped`` says which and why."""
    return JWTError(DATATYPE_MISMATCH, "pg_session_jwt.jwk holds no key this server can verify with", skipped)


def symmetric_jwk() -> JWTError:
    return JWTError(
        DATATYPE_MISMATCH,
        "pg_session_jwt.jwk must not hold a symmetric (oct) key",
        "every session can read pg_session_jwt.jwk, so a shared secret there would let anyone mint tokens;"
        " configure the issuer's public key (RSA, EC or Ed25519)",
    )


def private_jwk() -> JWTError:
    return JWTError(
        DATATYPE_MISMATCH,
        "pg_session_jwt.jwk must not hold a private key",
        "every session can read pg_session_jwt.jwk; configure the public key only",
    )


def too_large(what: str, size: int, limit: int, unit: str = "characters") -> JWTError:
    return JWTError(PROGRAM_LIMIT_EXCEEDED, f"{what} exceeds the maximum size", f"{size} {unit}; the limit is {limit}")


def bad_encoding() -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "invalid JWT encoding")


def undecodable(detail: str | None = None) -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "could not decode JWT component", detail)


def unparsable(detail: str | None = None) -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "could not parse JWT component", detail)


def bad_signature_encoding() -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "invalid JWT signature encoding")


def bad_signature() -> JWTError:
    return JWTError(CHECK_VIOLATION, "invalid JWT signature")


def disallowed_alg(alg: object) -> JWTError:
    return JWTError(CHECK_VIOLATION, "JWT algorithm does not fit the key", f"alg={alg!r}")


def missing_alg() -> JWTError:
    return JWTError(CHECK_VIOLATION, "JWT header must name its 'alg' for RSA and EC keys")


def unknown_kid(kid: object, skipped_because: str | None = None) -> JWTError:
    """No usable key has the token's ``kid``; the set's key of that ``kid``
    may have been skipped, and the detail then says why."""
    detail = f"kid={kid!r}" + ("" if skipped_because is None else f"; that key was skipped: {skipped_because}")
    return JWTError(CHECK_VIOLATION, f"no key in pg_session_jwt.jwk has the JWT's kid {kid!r}", detail)


def unsupported_crit(crit: object) -> JWTError:
    return JWTError(CHECK_VIOLATION, "JWT header names critical extensions this server does not support", f"crit={crit!r}")


def bad_jti() -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "JWT payload must contain a valid 'jti' (JWT ID)")


def replayed_jti(jti: int, last: int) -> JWTError:
    return JWTError(
        CHECK_VIOLATION,
        "Token ID must be strictly monotonically increasing.",
        f"jti={jti}, last accepted jti={last}",
    )


def bad_replay_mode(mode: object) -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "pg_session_jwt.replay must be 'jti' or 'once'", f"replay={mode!r}")


def exp_required() -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "JWT payload must contain 'exp' when pg_session_jwt.replay is 'once'")


def token_reused() -> JWTError:
    return JWTError(CHECK_VIOLATION, "JWT was already used on this connection")


def iat_required() -> JWTError:
    return JWTError(
        DATATYPE_MISMATCH, "JWT payload must contain an integer 'iat' for a transaction-local session when pg_session_jwt.replay is 'once'"
    )


def older_token(claim: str, value: int, newest: int) -> JWTError:
    return JWTError(
        CHECK_VIOLATION,
        "a newer token of this subject was already used on this connection",
        f"{claim}={value}, newest {claim}={newest}",
    )


def bad_nbf() -> JWTError:
    return JWTError(
        DATATYPE_MISMATCH,
        "'nbf' (Not Before) must be an integer representing seconds since unix epoch",
    )


def bad_exp() -> JWTError:
    return JWTError(
        DATATYPE_MISMATCH,
        "'exp' (Expiration) must be an integer representing seconds since unix epoch",
    )


def not_yet_valid(nbf: int) -> JWTError:
    return JWTError(CHECK_VIOLATION, "Token used before it is ready", f"nbf={nbf}")


def expired(exp: int) -> JWTError:
    return JWTError(CHECK_VIOLATION, "Token used after it has expired", f"exp={exp}")


def wrong_audience(aud: object, expected: str) -> JWTError:
    return JWTError(
        CHECK_VIOLATION, "JWT 'aud' (Audience) does not include pg_session_jwt.audience", f"aud={aud!r}, expected {expected!r}"
    )


def wrong_issuer(iss: object, expected: str) -> JWTError:
    return JWTError(CHECK_VIOLATION, "JWT 'iss' (Issuer) is not pg_session_jwt.issuer", f"iss={iss!r}, expected {expected!r}")


def bad_subject() -> JWTError:
    return JWTError(DATATYPE_MISMATCH, "invalid subject claim in the JWT")


def missing_crypto(module: str, debian_package: str) -> JWTError:
    return JWTError(
        UNDEFINED_FILE,
        f"pg_session_jwt cannot import {module} in the server's Python",
        f"install it for the Python that PL/Python uses, e.g. apt-get install {debian_package}",
    )
