"""The error constructors match SPEC.md part A's table, so other tests may rely on them."""

import pytest

from pg_session_jwt import errors

SPEC_TABLE = [
    (errors.missing_jwk(), "02000", "Missing runtime parameter: pg_session_jwt.jwk"),
    (errors.bad_jwk(), "42804", "pg_session_jwt.jwk requires an Ed25519 JWK"),
    (errors.bad_encoding(), "42804", "invalid JWT encoding"),
    (errors.undecodable(), "42804", "could not decode JWT component"),
    (errors.unparsable(), "42804", "could not parse JWT component"),
    (errors.bad_signature_encoding(), "42804", "invalid JWT signature encoding"),
    (errors.bad_signature(), "23514", "invalid JWT signature"),
    (errors.bad_jti(), "42804", "JWT payload must contain a valid 'jti' (JWT ID)"),
    (errors.replayed_jti(1, 2), "23514", "Token ID must be strictly monotonically increasing."),
    (errors.bad_nbf(), "42804", "'nbf' (Not Before) must be an integer representing seconds since unix epoch"),
    (errors.bad_exp(), "42804", "'exp' (Expiration) must be an integer representing seconds since unix epoch"),
    (errors.not_yet_valid(7), "23514", "Token used before it is ready"),
    (errors.expired(7), "23514", "Token used after it has expired"),
    (errors.bad_subject(), "42804", "invalid subject claim in the JWT"),
]


@pytest.mark.parametrize("error, sqlstate, message", SPEC_TABLE, ids=lambda v: getattr(v, "message", None))
def test_constructor_matches_spec(error, sqlstate, message):
    assert (error.sqlstate, error.message, str(error)) == (sqlstate, message, message)


def test_time_details_name_the_claim():
    assert errors.not_yet_valid(123).detail == "nbf=123"
    assert errors.expired(-5).detail == "exp=-5"
