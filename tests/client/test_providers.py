"""Identity providers' key sets and tokens, in their documented shapes, through a real server.

For each provider (:mod:`providers`): the server's parser uses every key of
its set, ``jwks compact`` keeps exactly those keys and fits a startup packet,
and a token shaped like the provider's is accepted on a real server
configured as the provider recipe says (``replay = once``, the issuer, the
audience where the provider sets one), once.
"""

from __future__ import annotations

import json

import psycopg
import pytest
from helpers import scalar, sql_error
from providers import PROVIDERS

from pg_session_jwt import errors, jwk
from pg_session_jwt.client import startup_options
from pg_session_jwt.jwks import judge
from pg_session_jwt.options import STARTUP_PACKET_LIMIT


@pytest.fixture(scope="module", params=PROVIDERS, ids=lambda make: make.__name__)
def provider(request):
    return request.param()


def test_server_parser_uses_every_key(provider):
    keys = jwk.parse(json.dumps(provider.jwks))
    assert keys.skipped == []
    assert [k.kid for k in keys.keys] == [k["kid"] for k in provider.jwks["keys"]]


def test_compact_keeps_every_key_and_fits(run_cli, provider, tmp_path):
    path = tmp_path / f"{provider.name}.json"
    path.write_text(json.dumps(provider.jwks, indent=2))
    done = run_cli("jwks", "compact", str(path))
    assert done.code == 0, done.err
    compacted = json.loads(done.out)
    assert judge.kids(compacted) == judge.kids(provider.jwks)
    assert [k.kid for k in jwk.parse(done.out).keys] == judge.kids(provider.jwks)
    assert f"fits PostgreSQL's limit of {STARTUP_PACKET_LIMIT:,}" in done.err


def test_provider_token_accepted_once_as_the_recipe_configures(cluster, provider):
    settings = {"jwk": judge.compact(provider.jwks), "replay": "once", "issuer": provider.iss,
                "audience": provider.audience}
    with psycopg.connect(cluster.dsn("app", "app", options=startup_options(**settings)), autocommit=True) as conn:
        first, second = provider.token(f"{provider.name}-user"), provider.token("next-user")
        conn.execute("SELECT auth.jwt_session_init(%s)", [first])
        assert scalar(conn, "SELECT auth.user_id()") == f"{provider.name}-user"
        assert scalar(conn, "SELECT auth.session() ->> 'iss'") == provider.iss
        conn.execute("SELECT auth.jwt_session_init(%s)", [second])
        reused = errors.token_reused()
        with sql_error(reused.sqlstate, reused.message):
            conn.execute("SELECT auth.jwt_session_init(%s)", [first])
        assert scalar(conn, "SELECT auth.user_id()") == "next-user"


def test_provider_token_refused_for_another_audience_or_issuer(cluster, provider):
    wrong = {"issuer": provider.iss + "/other"} if provider.audience is None else {"audience": "another-api"}
    settings = {"jwk": judge.compact(provider.jwks), "replay": "once", **wrong}
    with psycopg.connect(cluster.dsn("app", "app", options=startup_options(**settings)), autocommit=True) as conn:
        expected = errors.wrong_issuer(None, "") if "issuer" in wrong else errors.wrong_audience(None, "")
        with sql_error(expected.sqlstate, expected.message):
            conn.execute("SELECT auth.jwt_session_init(%s)", [provider.token("mallory")])
