"""examples/fastapi_app end to end: bearer token in, RLS-filtered rows out, 401 on a bad token."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pg_session_jwt.signing import Minter, keypair

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app"
DB, OWNER, WEB = "todo_example", "todo_owner", "todo_web"


def load_example():
    spec = importlib.util.spec_from_file_location("fastapi_example_app", EXAMPLE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def database(cluster):
    """The example's schema, created by its owner; the app connects as todo_web."""
    with cluster.connect() as su:
        su.execute(f"DO $$ BEGIN CREATE ROLE {WEB} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    cluster.create_app_database(DB, OWNER)
    with cluster.connect(user=OWNER, dbname=DB) as owner:
        owner.execute((EXAMPLE / "schema.sql").read_text())
    return cluster.dsn(WEB, DB)


@pytest.fixture(scope="module")
def issuer():
    private, public = keypair("ES256", kid="example-1")
    return Minter(private, audience="todo-api"), public


@pytest.fixture
def make_client(database, issuer):
    """make_client(**create_app kwargs) -> a started TestClient (lifespan: the pool opens)."""
    app_module = load_example()
    started = []

    def make(raise_server_exceptions=True, **kwargs):
        kwargs = {"jwk": issuer[1], "audience": "todo-api", **kwargs}
        client = TestClient(app_module.create_app(database, **kwargs), raise_server_exceptions=raise_server_exceptions)
        started.append(client.__enter__())
        return client

    yield make
    for client in started:
        client.__exit__(None, None, None)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_each_user_sees_only_their_rows(make_client, issuer):
    minter = issuer[0]
    client = make_client(pool_size=2)
    for user, task in [("alice", "buy milk"), ("bob", "fix the bike"), ("alice", "call mum")]:
        created = client.post("/todos", json={"task": task}, headers=bearer(minter.token(user)))
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == user
    for user, tasks in [("alice", ["buy milk", "call mum"]), ("bob", ["fix the bike"]), ("eve", [])]:
        listed = client.get("/todos", headers=bearer(minter.token(user)))
        assert listed.status_code == 200
        assert [t["task"] for t in listed.json()] == tasks
        assert {t["owner"] for t in listed.json()} <= {user}
    me = client.get("/me", headers=bearer(minter.token("alice", role="admin"))).json()
    assert me["user_id"] == "alice" and me["claims"]["role"] == "admin" and me["claims"]["aud"] == "todo-api"


def test_bad_tokens_are_401(make_client, issuer):
    minter = issuer[0]
    client = make_client()
    forger = Minter(keypair("ES256", kid="example-1")[0], audience="todo-api")
    cases = {
        "forged": (forger.token("alice"), "invalid JWT signature"),
        "garbage": ("not-a-token", "invalid JWT encoding"),
        "expired": (minter.token("alice", exp=int(time.time()) - 3600), "Token used after it has expired"),
        "wrong audience": (Minter(minter.private_jwk, audience="other").token("alice"),
                           "JWT 'aud' (Audience) does not include pg_session_jwt.audience"),
    }
    for name, (token, message) in cases.items():
        response = client.get("/todos", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json() == {"detail": message}, name
        assert response.headers["www-authenticate"] == "Bearer"
    missing = client.get("/todos")
    assert missing.status_code == 401 and missing.json() == {"detail": "missing bearer token"}
    assert client.get("/todos", headers=bearer(minter.token("alice"))).status_code == 200  # the pool survived


def test_older_token_after_a_newer_one_on_the_same_connection_is_401(make_client, issuer):
    """Replay protection is per connection: with one pooled connection, a token minted
    before the last one it accepted is refused (so issue short-lived tokens per request)."""
    minter = issuer[0]
    client = make_client(pool_size=1)
    older = minter.token("alice")
    assert client.get("/todos", headers=bearer(minter.token("bob"))).status_code == 200
    response = client.get("/todos", headers=bearer(older))
    assert response.status_code == 401
    assert response.json() == {"detail": "Token ID must be strictly monotonically increasing."}


def test_a_misconfigured_server_is_500_not_401(make_client, issuer):
    client = make_client(raise_server_exceptions=False, jwk={"kty": "oct", "k": "c2VjcmV0"})
    assert client.get("/todos", headers=bearer(issuer[0].token("alice"))).status_code == 500


def test_local_sessions_take_users_in_any_order(make_client, issuer, server_has_local):
    """With transaction-local sessions, older tokens of other users still work on a
    connection (each request is its own transaction)."""
    if not server_has_local:
        pytest.skip("the installed extension has no auth.jwt_session_init(jwt text, local boolean) yet")
    minter = issuer[0]
    client = make_client(pool_size=1, local_sessions=True)
    alice_first = minter.token("alice")
    assert client.post("/todos", json={"task": "local task"}, headers=bearer(minter.token("bob"))).status_code == 201
    listed = client.get("/todos", headers=bearer(alice_first))
    assert listed.status_code == 200
    assert "local task" not in [t["task"] for t in listed.json()]
    assert client.get("/me", headers=bearer(alice_first)).json()["user_id"] == "alice"
    assert client.get("/todos", headers=bearer("not-a-token")).status_code == 401


def test_a_check_violation_in_a_route_is_not_a_401(make_client, issuer):
    """23514 from the route's own INSERT (CHECK task <> '') is not a token refusal."""
    client = make_client(raise_server_exceptions=False)
    response = client.post("/todos", json={"task": ""}, headers=bearer(issuer[0].token("alice")))
    assert response.status_code == 500
