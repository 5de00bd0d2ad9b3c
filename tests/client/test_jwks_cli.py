"""``pg-session-jwt jwks``: fetch, compact, apply and sync against a real HTTPS endpoint and server.

The endpoint is :mod:`https_server` on 127.0.0.1 with a CA made for this
run; the server is a cluster of this module's own, since ``--system``
changes its configuration.  Failure cases check what the command printed,
its exit status, and that the server's setting did not move.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from helpers import scalar, sql_error
from https_server import JwksServer, Route, make_ca
from jose_keys import issuer, unusable_keys

from pg_session_jwt import errors
from pg_session_jwt.cluster import Cluster
from pg_session_jwt.jwks import apply, fetch, sync

DB = "keys"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    with JwksServer(tmp_path_factory.mktemp("https")) as server:
        yield server


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> Path:
    """A CA that did not sign the endpoint's certificate."""
    return make_ca(tmp_path_factory.mktemp("other-ca"), "another CA")[0]


@pytest.fixture(scope="module")
def server():
    with Cluster() as c:
        c.create_app_database(DB, "app")
        yield c


@pytest.fixture(autouse=True)
def no_key_configured(server):
    """Each test starts from a server with no key anywhere, whatever the last one left."""
    with server.connect() as su:
        su.execute("SET pg_session_jwt.jwk TO DEFAULT")  # ALTER SYSTEM needs the placeholder to exist
        su.execute("ALTER SYSTEM RESET pg_session_jwt.jwk")
        su.execute(f"ALTER DATABASE {DB} RESET pg_session_jwt.jwk")
        su.execute("ALTER ROLE app RESET pg_session_jwt.jwk")
        su.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="module")
def old():
    return issuer("EdDSA", "jwks-old", kid="old")


@pytest.fixture(scope="module")
def new():
    return issuer("RS256", "jwks-new", kid="new")


def serve(endpoint: JwksServer, path: str, value, **route) -> str:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    endpoint.routes[path] = Route(body, **route)
    return endpoint.url(path)


def setting(server: Cluster, target: apply.Target):
    with server.connect() as su:
        return target.current(su)


def app_conn(server: Cluster) -> psycopg.Connection:
    """A connection as the application opens it: no key of its own, the database's key."""
    return psycopg.connect(server.dsn("app", DB), autocommit=True)


def wait_for_new_connections(server: Cluster, value: str) -> None:
    """A reload reaches the postmaster asynchronously: wait until new connections see ``value``."""
    for _ in range(100):
        with app_conn(server) as conn:
            if scalar(conn, "SELECT current_setting('pg_session_jwt.jwk', true)") == value:
                return
        time.sleep(0.05)
    raise AssertionError("new connections do not see the applied key")


# --- fetch ------------------------------------------------------------------------------------


def test_fetch_lists_each_key_with_the_servers_verdict(run_cli, endpoint, old, new):
    x25519 = unusable_keys()["x25519"][0]
    url = serve(endpoint, "/list", {"keys": [old.jwk, x25519, new.jwk]}, headers={"Cache-Control": "max-age=300"})
    done = run_cli("jwks", "fetch", url, "--cafile", str(endpoint.cafile), "--json")
    assert done.code == 0, done.err
    found = json.loads(done.out)
    assert (found["url"], found["max_age"]) == (url, 300)
    assert [(k["kid"], k["kty"], k["crv"], k["alg"], k["used"]) for k in found["keys"]] == [
        ("old", "OKP", "Ed25519", None, True), ("x25519", "OKP", "X25519", None, False), ("new", "RSA", None, None, True)]
    assert found["keys"][1]["skipped"] == "unsupported 'crv' 'X25519'; 'OKP' keys must be Ed25519"
    table = run_cli("jwks", "fetch", url, "--cafile", str(endpoint.cafile))
    assert table.code == 0, table.err
    rows = table.out.splitlines()
    assert rows[0].split() == ["kid", "type", "alg", "server"]
    assert rows[1].split() == ["'old'", "OKP/Ed25519", "use"]
    assert rows[2].split()[:3] == ["'x25519'", "OKP/X25519", "skip:"]
    assert ["'new'", "RSA", "use"] in [row.split() for row in rows]


def test_fetch_out_writes_the_compacted_set(run_cli, endpoint, old, tmp_path):
    url = serve(endpoint, "/out", {"keys": [dict(old.jwk, x5c=["MIIB"], issuer="https://id.example")]})
    done = run_cli("jwks", "fetch", url, "--cafile", str(endpoint.cafile), "--out", "-")
    assert done.code == 0, done.err
    assert json.loads(done.out) == {"keys": [old.jwk]}
    assert "'old'" in done.err


SECRET = {"kty": "oct", "k": "c2VjcmV0", "kid": "hs"}


@pytest.fixture(scope="module")
def bad_responses(endpoint, old):
    """name -> (URL, what stderr must say): responses that must never become a key set."""
    big = json.dumps({"keys": [old.jwk], "padding": "x" * fetch.MAX_BYTES}).encode()
    return {
        "html": (serve(endpoint, "/html", b"<html><body>Sign in</body></html>", content_type="text/html"),
                 "answered with 'text/html', not JSON"),
        "json-labelled-html": (serve(endpoint, "/fake", b"<html></html>"), "would refuse this set"),
        "oversize": (serve(endpoint, "/big", big), f"sends {len(big)} bytes; a key set may have at most"),
        "timeout": (serve(endpoint, "/slow", {"keys": [old.jwk]}, delay=3), "timed out after 0.5 s"),
        "slow-drip": (serve(endpoint, "/drip", {"keys": [old.jwk]}, drip=0.05), "timed out after 0.5 s"),
        "http-error": (serve(endpoint, "/500", b"{}", status=500), "answered HTTP 500"),
        "oct-key": (serve(endpoint, "/oct", {"keys": [old.jwk, SECRET]}), errors.symmetric_jwk().message),
        "private-key": (serve(endpoint, "/private", {"keys": [dict(old.jwk, d="AAAA")]}), errors.private_jwk().message),
        "no-usable-key": (serve(endpoint, "/unusable", {"keys": [unusable_keys()["x25519"][0]]}),
                          "holds no key this server can verify with"),
        "redirect-to-http": (serve(endpoint, "/redirect", b"", status=302,
                                   headers={"Location": endpoint.url("/list").replace("https:", "http:")}),
                             "refusing plain HTTP"),
    }


@pytest.mark.parametrize("case", ["html", "json-labelled-html", "oversize", "timeout", "slow-drip", "http-error",
                                  "oct-key", "private-key", "no-usable-key", "redirect-to-http"])
def test_fetch_refuses_an_unusable_response(run_cli, endpoint, bad_responses, case):
    url, says = bad_responses[case]
    done = run_cli("jwks", "fetch", url, "--cafile", str(endpoint.cafile), "--timeout", "0.5")
    assert (done.code, done.out) == (1, ""), done
    assert says in done.err.replace("\n", " "), done.err


def test_fetch_refuses_a_certificate_from_another_ca(run_cli, endpoint, other_ca, old):
    url = serve(endpoint, "/tls", {"keys": [old.jwk]})
    done = run_cli("jwks", "fetch", url, "--cafile", str(other_ca))
    assert (done.code, done.out) == (1, ""), done
    assert "TLS failed" in done.err and "unable to get local issuer certificate" in done.err.replace("\n", " ")


def test_plain_http_only_for_loopback_and_only_when_asked(run_cli, tmp_path, old):
    with JwksServer(tmp_path, tls=False) as plain:
        url = serve(plain, "/jwks", {"keys": [old.jwk]})
        refused = run_cli("jwks", "fetch", url)
        assert (refused.code, refused.out) == (1, "") and "refusing plain HTTP" in refused.err
        assert run_cli("jwks", "fetch", url, "--allow-http").code == 0
    with pytest.raises(fetch.FetchError, match="refusing plain HTTP"):
        fetch.check_url("http://id.example/jwks", allow_http=True)


# --- compact --------------------------------------------------------------------------------


def test_compact_keeps_what_the_server_reads_in_order(run_cli, tmp_path, old, new):
    long = {"keys": [dict(new.jwk, x5c=["MIIC" * 300], x5t="abc", issuer="https://id.example", use="sig"),
                     dict(old.jwk, ext=True, key_ops=["verify"])]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(long, indent=2))
    done = run_cli("jwks", "compact", str(path))
    assert done.code == 0, done.err
    compacted = json.loads(done.out)
    assert compacted == {"keys": [dict(new.jwk, use="sig"), dict(old.jwk, key_ops=["verify"])]}
    assert list(compacted["keys"][0]) == [k for k in long["keys"][0] if k in compacted["keys"][0]]
    size = len(done.out.strip().encode())
    assert f"was {len(path.read_text().strip().encode()):,} bytes, now {size:,} bytes" in done.err
    assert "fits PostgreSQL's limit of 10,000" in done.err


def test_compact_says_when_even_the_compacted_set_does_not_fit(run_cli, tmp_path, new):
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"keys": [dict(new.jwk, kid=f"k{i}") for i in range(30)]}))
    done = run_cli("jwks", "compact", str(path))
    assert done.code == 0, done.err
    size = len(done.out.strip().encode())
    assert size > 10_000
    assert "does NOT fit PostgreSQL's limit of 10,000" in done.err.replace("\n", " ")


def test_compact_refuses_a_set_with_a_secret(run_cli, tmp_path, old):
    path = tmp_path / "secret.json"
    path.write_text(json.dumps({"keys": [old.jwk, SECRET]}))
    done = run_cli("jwks", "compact", str(path))
    assert (done.code, done.out) == (1, "")
    assert errors.symmetric_jwk().message in done.err


# --- apply ----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["database", "role", "system"])
def test_apply_writes_where_new_connections_read_it(run_cli, server, tmp_path, old, new, scope):
    name = {"database": DB, "role": "app", "system": None}[scope]
    target = apply.Target(scope, name)
    flag = [f"--{scope}"] + ([name] if name else [])
    path = tmp_path / "set.json"
    path.write_text(json.dumps({"keys": [old.jwk, new.jwk]}))
    dry = run_cli("jwks", "apply", "--dsn", server.dsn(), *flag, str(path), "--dry-run")
    assert dry.code == 0, dry.err
    assert "would apply; kids added: 'old', 'new'" in dry.out.replace("\n", " ")
    assert setting(server, target) is None
    done = run_cli("jwks", "apply", "--dsn", server.dsn(), *flag, str(path))
    assert done.code == 0, done.err
    assert "applied; kids added: 'old', 'new'; removed: none" in done.out.replace("\n", " ")
    wait_for_new_connections(server, setting(server, target))
    with app_conn(server) as conn:
        conn.execute("SELECT auth.jwt_session_init(%s)", [new.token("from-" + scope)])
        assert scalar(conn, "SELECT auth.user_id()") == "from-" + scope
    again = run_cli("jwks", "apply", "--dsn", server.dsn(), *flag, str(path))
    assert "unchanged; nothing applied" in again.out


def test_apply_refused_set_changes_nothing(run_cli, server, tmp_path, old):
    target = apply.Target("database", DB)
    with server.connect() as su:
        target.write(su, json.dumps({"keys": [old.jwk]}))
    path = tmp_path / "bad.json"
    for bad in ({"keys": [old.jwk, SECRET]}, {"keys": [unusable_keys()["rsa-oaep"][0]]}):
        path.write_text(json.dumps(bad))
        done = run_cli("jwks", "apply", "--dsn", server.dsn(), "--database", DB, str(path))
        assert (done.code, done.out) == (1, ""), done
        assert json.loads(setting(server, target)) == {"keys": [old.jwk]}


# --- sync -----------------------------------------------------------------------------------


def test_sync_rotation(run_cli, server, endpoint, old, new):
    """New connections follow the provider's set; open ones keep the keys they fixed."""
    url = endpoint.url("/rotating")
    sync_args = ("jwks", "sync", url, "--cafile", str(endpoint.cafile), "--dsn", server.dsn(), "--database", DB)
    serve(endpoint, "/rotating", {"keys": [dict(old.jwk, x5c=["MIIB"])]})
    first = run_cli(*sync_args)
    assert first.code == 0, first.err
    assert "applied; kids added: 'old'; removed: none" in first.out.replace("\n", " ")
    before = app_conn(server)
    before.execute("SELECT auth.jwt_session_init(%s)", [old.token("alice")])

    serve(endpoint, "/rotating", {"keys": [new.jwk]})
    rotated = run_cli(*sync_args)
    assert rotated.code == 0, rotated.err
    assert "applied; kids added: 'new'; removed: 'old'" in rotated.out.replace("\n", " ")
    with app_conn(server) as after:
        after.execute("SELECT auth.jwt_session_init(%s)", [new.token("bob")])
        assert scalar(after, "SELECT auth.user_id()") == "bob"
        with sql_error("23514", "JWT algorithm does not fit the key"):
            after.execute("SELECT auth.jwt_session_init(%s)", [old.token("alice")])
    with before:
        before.execute("SELECT auth.jwt_session_init(%s)", [old.token("carol")])
        assert scalar(before, "SELECT auth.user_id()") == "carol"
        with sql_error("23514", "JWT algorithm does not fit the key"):
            before.execute("SELECT auth.jwt_session_init(%s)", [new.token("bob")])

    unchanged = run_cli(*sync_args)
    assert (unchanged.code, "unchanged; nothing applied" in unchanged.out) == (0, True), unchanged


@pytest.mark.parametrize("case", ["html", "oversize", "timeout", "oct-key", "no-usable-key"])
def test_sync_failure_leaves_the_setting_alone(run_cli, server, endpoint, bad_responses, old, case):
    target = apply.Target("database", DB)
    with server.connect() as su:
        target.write(su, json.dumps({"keys": [old.jwk]}))
    url, says = bad_responses[case]
    done = run_cli("jwks", "sync", url, "--cafile", str(endpoint.cafile), "--timeout", "0.5", "--dsn", server.dsn(),
                   "--database", DB)
    assert done.code == 1, done
    assert says in done.err.replace("\n", " ") and "nothing applied" in done.err
    assert json.loads(setting(server, target)) == {"keys": [old.jwk]}


@pytest.mark.parametrize("cache_control, waited", [("public, max-age=120", 120), ("max-age=5", 60),
                                                    ("max-age=86400", 3600), (None, 3600), ("no-store", 60)])
def test_watch_waits_what_the_provider_says_within_bounds(server, endpoint, old, cache_control, waited):
    headers = {"Cache-Control": cache_control} if cache_control else {}
    url = serve(endpoint, "/cached", {"keys": [old.jwk]}, headers=headers)
    slept = []
    failures = sync.watch(lambda: sync.sync_once(url, server.dsn(), apply.Target("database", DB),
                                                 cafile=str(endpoint.cafile)),
                          floor=60, ceiling=3600, count=2, sleep=slept.append)
    assert (failures, slept) == (0, [waited])


def test_watch_retries_after_a_failure_at_the_floor(server, endpoint, bad_responses):
    url, _ = bad_responses["html"]
    slept, seen = [], []
    failures = sync.watch(lambda: sync.sync_once(url, server.dsn(), apply.Target("database", DB),
                                                 cafile=str(endpoint.cafile)),
                          floor=60, ceiling=3600, count=3, on_error=seen.append, sleep=slept.append)
    assert (failures, slept) == (3, [60, 60])
    assert all(isinstance(e, fetch.FetchError) for e in seen)


def test_sync_watch_command_runs_its_rounds(run_cli, server, endpoint, old):
    url = serve(endpoint, "/watched", {"keys": [old.jwk]}, headers={"Cache-Control": "max-age=0"})
    hits = endpoint.hits.get("/watched", 0)
    done = run_cli("jwks", "sync", url, "--cafile", str(endpoint.cafile), "--dsn", server.dsn(), "--database", DB,
                   "--watch", "--count", "3", "--min-interval", "0.01", "--max-interval", "1")
    assert done.code == 0, done.err
    assert endpoint.hits["/watched"] - hits == 3
