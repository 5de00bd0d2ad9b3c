"""pg-session-jwt keygen and token: key files, public JWKs, tokens the server accepts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import scalar

from pg_session_jwt import keys, verify
from pg_session_jwt.signing import ed25519_keypair, public_jwk

SCRIPT = Path(sys.executable).parent / "pg-session-jwt"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("command", ["", "keygen", "token", "inspect", "doctor", "demo"])
def test_installed_script_has_help_on_every_command(command):
    args = [str(SCRIPT)] + ([command] if command else []) + ["--help"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: pg-session-jwt" + (f" {command}" if command else ""))


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "ES512", "RS256", "PS256"])
def test_keygen_writes_private_0600_and_prints_public(run_cli, tmp_path, alg):
    out = tmp_path / "key.json"
    result = run_cli("keygen", "--alg", alg, "--out", str(out))
    assert result.code == 0, result.err
    assert result.out.count("\n") == 1
    private = json.loads(out.read_text())
    assert mode(out) == 0o600
    assert private["alg"] == alg and "d" in private
    assert json.loads(result.out) == public_jwk(private)
    assert private["kid"] == keys.thumbprint(private)


def test_keygen_options(run_cli, tmp_path):
    out = tmp_path / "key.json"
    result = run_cli("keygen", "--out", str(out), "--kid", "2024-06", "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["alg"] == "EdDSA" and report["kid"] == "2024-06"
    assert report["private_key_file"] == str(out.resolve())
    assert report["public_jwk"] == public_jwk(json.loads(out.read_text()))

    before = out.read_text()
    refused = run_cli("keygen", "--out", str(out))
    assert refused.code == 2 and "exists" in refused.err and out.read_text() == before

    out.chmod(0o644)
    assert run_cli("keygen", "--out", str(out), "--force").code == 0
    assert out.read_text() != before and mode(out) == 0o600

    small = run_cli("keygen", "--alg", "RS256", "--bits", "1024", "--out", str(tmp_path / "small.json"))
    assert small.code == 2 and "2048" in small.err and not (tmp_path / "small.json").exists()
    assert run_cli("keygen", "--alg", "HS256", "--out", str(tmp_path / "h.json")).code == 2
    assert run_cli("keygen", "--out", str(tmp_path / "missing" / "k.json")).code == 2


def test_keygen_under_a_permissive_umask(run_cli, tmp_path):
    old = os.umask(0)
    try:
        assert run_cli("keygen", "--out", str(tmp_path / "k.json")).code == 0
    finally:
        os.umask(old)
    assert mode(tmp_path / "k.json") == 0o600


@pytest.fixture
def key_file(run_cli, tmp_path):
    path = tmp_path / "key.json"
    assert run_cli("keygen", "--alg", "ES256", "--out", str(path)).code == 0
    return path


def test_token_is_signed_with_defaults(run_cli, key_file):
    result = run_cli("token", "--key", str(key_file), "--sub", "alice")
    assert result.code == 0, result.err
    token = result.out.strip()
    assert result.out == token + "\n"
    private = json.loads(key_file.read_text())
    claims = verify.verify(token, public_jwk(private))
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 300
    later = verify.decode(run_cli("token", "--key", str(key_file), "--sub", "alice").out.strip())[1]
    assert later["jti"] > claims["jti"]


def test_token_options_and_claims(run_cli, key_file):
    result = run_cli("token", "--key", str(key_file), "--sub", "bob", "--ttl", "60", "--aud", "api", "--iss", "me",
                     "--claim", "role=admin", "--claim", 'o={"id":"org 1"}', "--claim", "n=5",
                     "--claim", 's="5"', "--claim", "jti=42", "--claim", "empty=")
    assert result.code == 0, result.err
    claims = verify.decode(result.out.strip())[1]
    assert claims["exp"] - claims["iat"] == 60
    assert (claims["aud"], claims["iss"], claims["role"], claims["o"]) == ("api", "me", "admin", {"id": "org 1"})
    assert (claims["n"], claims["s"], claims["jti"], claims["empty"]) == (5, "5", 42, "")


def test_token_refuses_bad_input(run_cli, key_file, tmp_path):
    public = tmp_path / "public.json"
    public.write_text(json.dumps(public_jwk(json.loads(key_file.read_text()))))
    assert "no private key" in run_cli("token", "--key", str(public), "--sub", "a").err
    assert run_cli("token", "--key", str(tmp_path / "nope.json"), "--sub", "a").code == 2
    assert run_cli("token", "--key", str(key_file), "--sub", "a", "--claim", "novalue").code == 2
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"kty": "EC", "crv": "P-256", "d": "AA", "x": "AA", "y": "AA"}))
    assert run_cli("token", "--key", str(broken), "--sub", "a").code == 2
    assert run_cli("token", "--key", str(key_file)).code == 2  # --sub is required


def test_keygen_and_token_against_the_server(run_cli, tmp_path, connect):
    key = tmp_path / "rs.json"
    generated = run_cli("keygen", "--alg", "PS256", "--out", str(key))
    conn = connect(jwk=json.loads(generated.out), audience="api")
    token = run_cli("token", "--key", str(key), "--sub", "carol", "--aud", "api").out.strip()
    conn.execute("SELECT auth.jwt_session_init(%s)", [token])
    assert scalar(conn, "SELECT auth.user_id()") == "carol"


def test_private_key_of_an_existing_ed25519_pair(run_cli, tmp_path):
    """Keys made by the library (no alg member) work with the CLI too."""
    private, public = ed25519_keypair()
    path = tmp_path / "ed.json"
    path.write_text(json.dumps(private))
    token = run_cli("token", "--key", str(path), "--sub", "dave").out.strip()
    assert verify.verify(token, public)["sub"] == "dave"
