"""libpq options: escaping, merging, and what the server really receives."""

from __future__ import annotations

import json

import psycopg
import pytest
from helpers import scalar
from hypothesis import given
from hypothesis import strategies as st

from pg_session_jwt.options import escape, merge_options, split, startup_options, with_settings
from pg_session_jwt.signing import Minter, keypair

AWKWARD = [
    "plain",
    "two words",
    "back\\slash",
    "trailing backslash\\",
    "it's \"quoted\"",
    "tab\there, newline\nthere",
    "  leading and trailing  ",
    "unicode é ✓",
    "-c pg_session_jwt.jwk=evil",  # a value that looks like another option
]


@given(st.lists(st.text(st.characters(blacklist_characters="\0"), min_size=1), max_size=6))
def test_split_inverts_escape(words):
    assert split(" ".join(escape(w) for w in words)) == words


def test_split_follows_the_backend():
    # pg_split_opts: runs of whitespace separate words; backslash escapes any character.
    assert split("  -c  a=b\\ c\t-c\\\\x ") == ["-c", "a=b c", "-c\\x"]


def test_startup_options_shapes():
    jwks = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "abc", "kid": "k 1"}]}
    assert startup_options(jwk=jwks) == (
        '-c pg_session_jwt.jwk={"keys":[{"kty":"OKP","crv":"Ed25519","x":"abc","kid":"k\\ 1"}]}')
    assert startup_options(audience="a b", issuer=None, audit_log=True) == (
        "-c pg_session_jwt.audience=a\\ b -c pg_session_jwt.audit_log=on")
    assert startup_options() == ""


@pytest.mark.parametrize("bad", [{"jwk bad": "x"}, {"audience": "nul\0"}])
def test_startup_options_refuses(bad):
    with pytest.raises(ValueError):
        startup_options(**bad)


def test_merge_keeps_other_options_and_replaces_ours():
    existing = ("-c search_path=app\\ schema -c pg_session_jwt.jwk=old --statement-timeout=5s "
                "-cpg_session_jwt.audience=old --pg-session-jwt.issuer=old -c application_name=x")
    merged = merge_options(existing, jwk="new", audience="new aud", issuer="new")
    assert split(merged) == [
        "-c", "search_path=app schema", "--statement-timeout=5s", "-c", "application_name=x",
        "-c", "pg_session_jwt.jwk=new", "-c", "pg_session_jwt.audience=new aud", "-c", "pg_session_jwt.issuer=new",
    ]
    assert merge_options(None, jwk="k") == startup_options(jwk="k")
    assert merge_options("-c a=b") == "-c a=b"


def test_with_settings_merges_into_the_dsn(monkeypatch):
    monkeypatch.delenv("PGOPTIONS", raising=False)
    dsn = with_settings("host=/tmp dbname=app options='-c search_path=x'", jwk={"kty": "OKP"})
    params = psycopg.conninfo.conninfo_to_dict(dsn)
    assert params["host"] == "/tmp" and params["dbname"] == "app"
    assert split(params["options"]) == ["-c", "search_path=x", "-c", 'pg_session_jwt.jwk={"kty":"OKP"}']


def test_with_settings_keeps_pgoptions(monkeypatch):
    """An options parameter replaces $PGOPTIONS in libpq, so it is merged in rather than lost."""
    monkeypatch.setenv("PGOPTIONS", "-c search_path=from_env")
    params = psycopg.conninfo.conninfo_to_dict(with_settings("dbname=app", audience="a"))
    assert split(params["options"]) == ["-c", "search_path=from_env", "-c", "pg_session_jwt.audience=a"]
    params = psycopg.conninfo.conninfo_to_dict(with_settings("dbname=app options='-c x.y=1'", audience="a"))
    assert "from_env" not in params["options"]


@pytest.mark.parametrize("value", AWKWARD)
def test_server_receives_exact_values(cluster, value):
    options = merge_options("-c application_name=opt\\ test", audience=value, issuer=value + "!")
    with psycopg.connect(cluster.dsn("app", "app", options=options), autocommit=True) as conn:
        assert scalar(conn, "SELECT current_setting('pg_session_jwt.audience')") == value
        assert scalar(conn, "SELECT current_setting('pg_session_jwt.issuer')") == value + "!"
        assert scalar(conn, "SELECT current_setting('application_name')") == "opt test"


def test_server_verifies_with_a_key_set_from_options(cluster):
    """A JWKS with spaces in its members, audience and issuer with awkward text: the
    server parses what the options carried and accepts a token that fits."""
    ed_private, ed_public = keypair("EdDSA", kid="ed key 1")
    ec_private, ec_public = keypair("ES256", kid="ec\\key 2")
    aud, iss = "my api's \"prod\"", "https://id.example/ tenant\\1"
    dsn = with_settings(cluster.dsn("app", "app"), jwk={"keys": [ed_public, ec_public]}, audience=aud, issuer=iss)
    with psycopg.connect(dsn, autocommit=True) as conn:
        configured = json.loads(scalar(conn, "SELECT current_setting('pg_session_jwt.jwk')"))
        assert configured == {"keys": [ed_public, ec_public]}
        for private, sub in ((ed_private, "ed"), (ec_private, "ec")):
            conn.execute("SELECT auth.jwt_session_init(%s)", [Minter(private, audience=aud, issuer=iss).token(sub)])
            assert scalar(conn, "SELECT auth.user_id()") == sub
