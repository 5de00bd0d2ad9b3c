"""pg-session-jwt inspect: readable header and claims; with a key, the server's verdict."""

from __future__ import annotations

import io
import json
import re
import time

import psycopg
import pytest

from pg_session_jwt.signing import Minter, ed25519_keypair, keypair, sign


@pytest.fixture
def files(tmp_path, keypair):
    private, public = keypair
    paths = {"private": tmp_path / "private.json", "public": tmp_path / "public.json",
             "set": tmp_path / "set.json", "other": tmp_path / "other.json"}
    paths["private"].write_text(json.dumps(private))
    paths["public"].write_text(json.dumps(public))
    other_public = ed25519_keypair(kid="other")[1]
    paths["set"].write_text(json.dumps({"keys": [dict(public, kid="main"), other_public]}))
    paths["other"].write_text(json.dumps(other_public))
    return {k: str(v) for k, v in paths.items()}


def test_readable_without_a_key(run_cli, minter):
    token = minter.token("alice", role="admin")
    result = run_cli("inspect", token)
    assert result.code == 0
    assert "header" in result.out and '"alg": "EdDSA"' in result.out
    assert '"sub": "alice"' in result.out and '"role": "admin"' in result.out
    assert "not verified" in result.out and "pass --jwk" in result.out
    assert re.search(r"^exp +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in [45] min", result.out, re.M)
    assert re.search(r"^iat +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((in )?[01] s", result.out, re.M)


def test_verified_with_public_private_or_set(run_cli, minter, files):
    token = minter.token("alice")
    for key in ("public", "private", "set"):
        result = run_cli("inspect", token, "--jwk", files[key])
        assert result.code == 0, (key, result.out)
        assert "the server would accept this token" in result.out


def test_refusals_exit_1_with_the_server_message(run_cli, minter, files, keypair):
    now = int(time.time())
    cases = {
        "other key": (minter.token("a"), ["--jwk", files["other"]], "23514 invalid JWT signature"),
        "expired": (minter.token("a", exp=now - 3600), ["--jwk", files["public"]],
                    f"23514 Token used after it has expired (exp={now - 3600})"),
        "audience": (minter.token("a", aud="x"), ["--jwk", files["public"], "--aud", "api"],
                     "23514 JWT 'aud' (Audience) does not include pg_session_jwt.audience"),
        "issuer": (minter.token("a"), ["--jwk", files["public"], "--iss", "me"],
                   "23514 JWT 'iss' (Issuer) is not pg_session_jwt.issuer"),
        "replay once": (sign(keypair[0], {"sub": "a", "jti": 1}), ["--jwk", files["public"], "--replay", "once"],
                        "42804 JWT payload must contain 'exp' when pg_session_jwt.replay is 'once'"),
        "garbage": ("not-a-token", [], "42804 invalid JWT encoding"),
    }
    for name, (token, args, expected) in cases.items():
        result = run_cli("inspect", token, *args)
        assert result.code == 1, name
        assert f"the server would refuse this token: {expected}" in result.out, (name, result.out)


def test_json_output(run_cli, minter, files):
    token = minter.token("alice")
    result = run_cli("inspect", token, "--jwk", files["public"], "--json")
    report = json.loads(result.out)
    assert result.code == 0 and report["verified"] is True and report["error"] is None
    assert report["header"]["alg"] == "EdDSA" and report["payload"]["sub"] == "alice"
    unchecked = json.loads(run_cli("inspect", token, "--json").out)
    assert unchecked["verified"] is None and unchecked["payload"]["sub"] == "alice"
    refused = run_cli("inspect", token, "--jwk", files["other"], "--json")
    assert refused.code == 1
    assert json.loads(refused.out)["error"] == {"sqlstate": "23514", "message": "invalid JWT signature", "detail": None}


def test_token_from_stdin(run_cli, minter, files, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(minter.token("stdin-user") + "\n"))
    result = run_cli("inspect", "-", "--jwk", files["public"])
    assert result.code == 0 and "stdin-user" in result.out


def test_markup_in_claims_is_shown_verbatim(run_cli, minter):
    result = run_cli("inspect", minter.token("[red]x[/red]"))
    assert "[red]x[/red]" in result.out


def test_unreadable_key_file(run_cli, minter, tmp_path):
    (tmp_path / "bad.json").write_text("[1]")
    assert run_cli("inspect", minter.token("a"), "--jwk", str(tmp_path / "bad.json")).code == 2
    assert run_cli("inspect", minter.token("a"), "--jwk", str(tmp_path / "none.json")).code == 2


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_verdict_matches_the_real_server(run_cli, cluster, tmp_path, alg):
    """The same key and tokens, offline and on fresh connections: same SQLSTATE and message."""
    private, public = keypair(alg)
    path = tmp_path / "public.json"
    path.write_text(json.dumps(public))
    minter = Minter(private)
    tokens = [minter.token("ok"), minter.token("old", exp=int(time.time()) - 999),
              Minter(keypair(alg)[0]).token("forged"), sign(private, {"sub": "x"})]
    options = f"-c pg_session_jwt.jwk={json.dumps(public, separators=(',', ':'))}"
    for token in tokens:
        report = json.loads(run_cli("inspect", token, "--jwk", str(path), "--json").out)
        with psycopg.connect(cluster.dsn("app", "app", options=options), autocommit=True) as conn:
            try:
                conn.execute("SELECT auth.jwt_session_init(%s)", [token])
                server = None
            except psycopg.Error as e:
                server = {"sqlstate": e.sqlstate, "message": e.diag.message_primary, "detail": e.diag.message_detail}
        assert report["error"] == server
        assert report["verified"] is (server is None)
