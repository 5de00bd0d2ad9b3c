"""pg-session-jwt doctor against real databases in each state of set-up."""

from __future__ import annotations

import json

import psycopg
import pytest
from jose_keys import unusable_keys
from providers import microsoft

from pg_session_jwt import doctor
from pg_session_jwt.options import startup_options


@pytest.fixture(scope="module")
def databases(cluster):
    """doctor_bare: no PL/Python; doctor_noext: PL/Python, no extension;
    doctor_audit: the extension, and audit_log on by ALTER DATABASE."""
    with cluster.connect() as su:
        for db in ("doctor_bare", "doctor_noext"):
            su.execute(f"CREATE DATABASE {db}")
    with cluster.connect(dbname="doctor_noext") as su:
        su.execute("CREATE EXTENSION plpython3u")
    cluster.create_app_database("doctor_audit", "app")
    with cluster.connect() as su:
        su.execute("ALTER DATABASE doctor_audit SET pg_session_jwt.audit_log = on")
    return cluster


def report(run_cli, dsn):
    """The checks of doctor --json, by name."""
    return by_name(json.loads(run_cli("doctor", "--dsn", dsn, "--json").out)["checks"])


def lines(result):
    return {line.split()[1]: line for line in result.out.splitlines() if line[:1] in "✔!✘-" and len(line.split()) > 1}


def by_name(checks):
    return {c["name"]: c for c in checks}


def test_healthy_app_connection_with_a_key(run_cli, cluster, tmp_path, keypair):
    key = tmp_path / "public.json"
    key.write_text(json.dumps(keypair[1]))
    result = run_cli("doctor", "--dsn", cluster.dsn("app", "app"), "--jwk", str(key))
    assert result.code == 0, result.out
    found = lines(result)
    assert found["connection"].startswith("✔") and "'app' as 'app' (not a superuser)" in found["connection"]
    assert found["plpython"].startswith("✔") and found["extension"].startswith("✔")
    assert "pg_session_jwt 0.5.0" in found["extension"]
    assert "loaded the crypto" in result.out
    assert "key configured and valid (1 key: Ed25519/EdDSA)" in result.out
    assert found["audit"].startswith("✔") and found["audit"].endswith("off")
    assert "no problems found" in result.out


def test_superuser_probes_the_server_python(run_cli, cluster):
    result = run_cli("doctor", "--dsn", cluster.dsn("postgres", "app"), "--json")
    assert result.code == 0
    report = json.loads(result.out)
    checks = by_name(report["checks"])
    assert report["ok"] is True
    python = checks["server python"]
    assert python["status"] == "ok" and "PyNaCl" in python["message"] and "cryptography" in python["message"]
    assert checks["jwk"]["status"] == "warn" and "PGOPTIONS" in checks["jwk"]["fix"]
    assert list(checks) == ["connection", "plpython", "extension", "server python", "jwk", "settings", "audit log"]
    readable = run_cli("doctor", "--dsn", cluster.dsn("postgres", "app"))
    assert readable.code == 0 and "nothing failed; 1 warning" in readable.out


def test_no_plpython(run_cli, databases):
    result = run_cli("doctor", "--dsn", databases.dsn("postgres", "doctor_bare"))
    assert result.code == 1
    assert "✘ plpython" in result.out
    assert "fix: as a superuser, in this database: CREATE EXTENSION plpython3u" in result.out
    assert "some checks failed" in result.out
    assert "extension" not in lines(result)  # later checks need PL/Python


def test_no_extension(run_cli, databases):
    result = run_cli("doctor", "--dsn", databases.dsn("postgres", "doctor_noext"), "--json")
    checks = by_name(json.loads(result.out)["checks"])
    assert result.code == 1 and checks["plpython"]["status"] == "ok"
    assert checks["extension"]["status"] == "fail"
    assert checks["extension"]["fix"].startswith("CREATE EXTENSION pg_session_jwt")


@pytest.mark.parametrize("jwk, message", [
    ({"kty": "oct", "k": "c2VjcmV0"}, "must not hold a symmetric (oct) key"),
    ({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}, "requires an Ed25519 JWK"),
])
def test_bad_key(run_cli, cluster, jwk, message):
    result = run_cli("doctor", "--dsn", cluster.dsn("app", "app", options=startup_options(jwk=jwk)), "--json")
    assert result.code == 1
    key = by_name(json.loads(result.out)["checks"])["jwk"]
    assert key["status"] == "fail" and "42804" in key["message"] and message in key["message"]
    assert "keygen" in key["fix"]


def test_settings_and_audit_from_the_startup_packet(run_cli, cluster, keypair):
    options = startup_options(jwk=keypair[1], audience="api", replay="once", audit_log=True)
    checks = report(run_cli, cluster.dsn("app", "app", options=options))
    assert checks["settings"]["message"] == "audience='api', replay='once'"
    assert checks["audit log"]["message"] == "on for this connection"
    bad = startup_options(jwk=keypair[1], replay="sometimes")
    result = run_cli("doctor", "--dsn", cluster.dsn("app", "app", options=bad), "--json")
    assert result.code == 1 and by_name(json.loads(result.out)["checks"])["settings"]["status"] == "fail"


def test_audit_log_forced_by_configuration(run_cli, databases):
    checks = report(run_cli, databases.dsn("app", "doctor_audit"))
    assert checks["audit log"]["message"].startswith("on, set by the configuration")


def test_unreachable_server(run_cli, cluster):
    result = run_cli("doctor", "--dsn", f"host={cluster.root} port=1 user=app dbname=app")
    assert result.code == 1
    assert "✘ connection" in result.out and "cannot connect" in result.out and "fix:" in result.out


# -- the mappings that a healthy test server cannot produce ---------------------


def server_error(cluster, sqlstate: str, message: str, detail: str) -> psycopg.Error:
    """A real error with this SQLSTATE, message and detail, as the extension raises them."""
    with cluster.connect() as conn:
        try:
            conn.execute(f"DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '{sqlstate}', MESSAGE = '{message}',"
                         f" DETAIL = '{detail}'; END $$")
        except psycopg.Error as e:
            return e
    raise AssertionError("no error")


def test_missing_crypto_seen_through_auth_init(cluster):
    error = server_error(cluster, "58P01", "pg_session_jwt cannot import nacl (PyNaCl) in the server''s Python",
                         "install it for the Python that PL/Python uses, e.g. apt-get install python3-nacl")
    with cluster.connect() as conn:
        crypto = doctor.check_crypto(conn, superuser=False, error=error)
        key = doctor.check_key(conn, error)
    assert crypto.status == doctor.FAIL and "cannot import nacl" in crypto.message
    assert "apt-get install python3-nacl" in crypto.fix
    assert key.status == doctor.SKIP


def test_crypto_probe_results():
    assert doctor.crypto_from_probe({"python": "3.11.2", "nacl": "1.5.0", "cryptography": "38.0.4"}).status == doctor.OK
    no_rsa = doctor.crypto_from_probe({"python": "3.11.2", "nacl": "1.5.0", "cryptography": None})
    assert no_rsa.status == doctor.WARN and "python3-cryptography" in no_rsa.fix
    no_nacl = doctor.crypto_from_probe({"python": "3.9.2", "nacl": None, "nacl_error": "No module named 'nacl'",
                                        "cryptography": "3.3"})
    assert no_nacl.status == doctor.FAIL and "No module named 'nacl'" in no_nacl.message
    assert "python3-nacl" in no_nacl.fix


def test_outdated_extension_is_a_warning():
    class Conn:  # pg_extension says 0.4.0 while the server ships 0.5.0
        def execute(self, sql, params=None):
            value = "0.4.0" if "pg_extension" in sql else "0.5.0"
            return type("Cursor", (), {"fetchone": lambda self: (value,)})()

    check = doctor.check_extension(Conn())
    assert check.status == doctor.WARN and check.fix == "ALTER EXTENSION pg_session_jwt UPDATE"


def test_skipped_keys_listed_and_packet_size_reported(run_cli, cluster, tmp_path, keypair):
    x25519, enc = unusable_keys()["x25519"][0], unusable_keys()["use-enc"][0]
    key = tmp_path / "set.json"
    key.write_text(json.dumps({"keys": [keypair[1], x25519, enc]}))
    result = run_cli("doctor", "--dsn", cluster.dsn("app", "app"), "--jwk", str(key), "--json")
    assert result.code == 0, result.out
    checks = by_name(json.loads(result.out)["checks"])
    assert checks["jwk"]["status"] == "warn"
    assert checks["jwk"]["message"].startswith("key set in use (1 key: Ed25519/EdDSA); the server skips 2: ")
    assert "kid 'x25519': unsupported 'crv' 'X25519'" in checks["jwk"]["message"]
    assert "kid 'enc': not a signature verification key" in checks["jwk"]["message"]
    assert checks["startup packet"]["status"] == "ok"
    assert checks["startup packet"]["message"].endswith("of 10,000 bytes with this key")


def test_a_key_too_large_for_the_startup_packet_fails_before_connecting(run_cli, tmp_path):
    key = tmp_path / "entra.json"
    key.write_text(json.dumps(microsoft().jwks))
    result = run_cli("doctor", "--dsn", "host=/nonexistent", "--jwk", str(key), "--json")
    assert result.code == 1
    (check,) = json.loads(result.out)["checks"]
    assert (check["name"], check["status"]) == ("startup packet", "fail")
    assert "PostgreSQL refuses more than 10,000" in check["message"] and "jwks compact" in check["fix"]
