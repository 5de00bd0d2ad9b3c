"""Behind a real PgBouncer in transaction mode: one client's identity is never
seen by the next client that gets the same server connection.

PgBouncer (Debian package) runs as the postgres OS user, pool_mode =
transaction, default_pool_size = 4, and forwards no startup ``options``, so
the key comes from ``ALTER DATABASE … SET``, ``ALTER ROLE … SET`` or
postgresql.conf.  Clients log in per transaction with
``auth.jwt_session_init(tok, true)``; the one-argument (session-level) init
is shown to leak between clients under the same pooler.
"""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from bouncer import pgbouncer_version
from helpers import scalar, sql_error
from scale_helpers import EMPTY, NOTHING, READ, org_of, prepare_notes, run_workload, set_key

from pg_session_jwt.client import startup_options
from pg_session_jwt.cluster import Cluster
from pg_session_jwt.signing import Minter, ed25519_keypair

MISSING_KEY = ("02000", "Missing runtime parameter: pg_session_jwt.jwk")


def key_places(cluster):
    """Where the server configuration names pg_session_jwt.jwk (placeholders are not in pg_settings)."""
    with cluster.connect() as su:
        places = {f"{kind} {name}" for kind, name in su.execute(r"""
            SELECT CASE WHEN s.setrole = 0 THEN 'database' ELSE 'role' END,
                   coalesce(r.rolname, d.datname)
              FROM pg_db_role_setting s
              LEFT JOIN pg_database d ON d.oid = s.setdatabase
              LEFT JOIN pg_roles r ON r.oid = s.setrole
             WHERE EXISTS (SELECT 1 FROM unnest(s.setconfig) c WHERE c LIKE 'pg\_session\_jwt.jwk=%')""")}
        if scalar(su, "SELECT count(*) FROM pg_file_settings WHERE name = 'pg_session_jwt.jwk' AND error IS NULL"):
            places.add("postgresql.conf")
    return places


def session_key(conn):
    """The key the session got through the pooler."""
    return json.loads(scalar(conn, "SELECT current_setting('pg_session_jwt.jwk')"))


def test_40_clients_over_4_server_connections_see_only_themselves(make_bouncer, scale_cluster, keypair,
                                                                   scale_minter):
    """1,000 transactions, 40 client connections, 4 server connections, key from ALTER DATABASE."""
    assert "database app" in key_places(scale_cluster)
    bouncer = make_bouncer({"app": "dbname=app"})
    with bouncer.connect() as conn:
        assert session_key(conn) == keypair[1]
    stats = run_workload(bouncer.connect, scale_minter, clients=40, per_client=25, local=True)
    print("\nlocal sessions behind PgBouncer:", stats.summary())
    assert stats.errors == []
    assert stats.transactions == 1000
    assert stats.foreign_at_start == []
    assert stats.wrong_inside == []
    assert stats.left_after_commit == []
    # the pooler really multiplexed: at most 4 backends, each serving many users
    assert len(stats.backends) <= 4
    assert max(len(subs) for subs in stats.subjects_by_backend.values()) >= 10
    pools = [p for p in bouncer.admin("SHOW POOLS") if p["database"] == "app"]
    assert pools and sum(p["sv_active"] + p["sv_idle"] + p["sv_used"] + p["sv_tested"] + p["sv_login"]
                         for p in pools) <= 4


def test_session_level_init_leaks_between_clients(make_bouncer, scale_minter):
    """The danger local sessions prevent: the same workload with the one-argument
    init lets the next client of a server connection see the previous identity."""
    bouncer = make_bouncer({"app": "dbname=app"})
    stats = run_workload(bouncer.connect, scale_minter, clients=16, per_client=10, local=False)
    print("\nsession-level init behind PgBouncer:", stats.summary())
    assert stats.errors == []
    assert stats.wrong_inside == []  # inside its own transaction each client is itself …
    assert len(stats.foreign_at_start) > 0  # … but arrives carrying someone else's identity
    assert len(stats.left_after_commit) > 0


@pytest.mark.parametrize("local", [False, True], ids=["session-level init leaks", "local init does not"])
def test_next_client_on_the_same_server_connection(make_bouncer, scale_minter, local):
    """Deterministic: a pool of one server connection, client A logs in, client B comes next."""
    bouncer = make_bouncer({"one": "dbname=app pool_size=1"})
    with bouncer.connect(dbname="one") as a:
        a.execute("BEGIN")
        a.execute("SELECT auth.jwt_session_init(%s, %s)", [scale_minter.token("u03", o={"id": org_of("u03")}), local])
        assert a.execute(READ).fetchone()[:2] == ("u03", "u03")
        pid_a = scalar(a, "SELECT pg_backend_pid()")
        a.execute("COMMIT")
    with bouncer.connect(dbname="one") as b:
        seen = b.execute(EMPTY).fetchone()
        assert seen[5] == pid_a  # the same backend served B
        if local:
            assert seen[:5] == NOTHING
        else:
            # B never logged in, yet it is u03 and reads u03's rows through both policies
            assert seen[:5] == ("u03", False, org_of("u03"), 4, 4)


def test_startup_options_do_not_reach_the_server(make_bouncer, scale_cluster, keypair, scale_minter):
    """Why the key must be configured server-side: PgBouncer refuses a startup
    ``options`` parameter, or, when told to ignore it, drops it silently."""
    scale_cluster.create_app_database("nokey", "app")
    options = startup_options(jwk=keypair[1])
    direct = psycopg.connect(scale_cluster.dsn("app", "nokey", options=options), autocommit=True)
    with direct:
        direct.execute("SELECT auth.jwt_session_init(%s)", [scale_minter.token("alice")])
        assert scalar(direct, "SELECT auth.user_id()") == "alice"

    strict = make_bouncer({"nokey": "dbname=nokey"}, ignore_startup_parameters="extra_float_digits")
    # From 1.20 PgBouncer reads `options` itself and refuses each setting there
    # that it does not track; before, it refused the parameter as a whole.
    refused = ("unsupported startup parameter in options: pg_session_jwt.jwk" if pgbouncer_version() >= (1, 20)
               else "unsupported startup parameter: options")
    with pytest.raises(psycopg.OperationalError, match=re.escape(f"FATAL:  {refused}")):
        psycopg.connect(strict.dsn("app", "nokey", options=options))

    lenient = make_bouncer({"nokey": "dbname=nokey"})  # ignore_startup_parameters = …,options
    with psycopg.connect(lenient.dsn("app", "nokey", options=options), autocommit=True,
                         prepare_threshold=None) as conn:
        with sql_error(*MISSING_KEY):
            conn.execute("SELECT auth.jwt_session_init(%s, true)", [scale_minter.token("alice")])


def test_prepared_statements_in_transaction_mode(make_bouncer, scale_minter):
    """Why older PgBouncers' clients turn prepared statements off, and newer ones'
    need not.  psycopg here prepares every statement (prepare_threshold=0), and
    two clients in turn on a pool of one server connection both name their first
    statement _pg3_0.  Before 1.21 the second Parse reaches the backend that
    has the first's, and fails.  From 1.21, with max_prepared_statements set (the
    default from 1.24), PgBouncer renames them per server connection: both run,
    and the local-session workload stays as correct as without."""
    supported = pgbouncer_version() >= (1, 21)
    settings = {"max_prepared_statements": "100"} if supported else {}
    bouncer = make_bouncer({"one": "dbname=app pool_size=1", "app": "dbname=app"}, **settings)
    with bouncer.connect(dbname="one", prepare_threshold=0) as a, \
            bouncer.connect(dbname="one", prepare_threshold=0) as b:
        a.execute("SELECT auth.user_id()")
        if supported:
            assert b.execute("SELECT auth.user_id()").fetchone() == (None,)
        else:
            with sql_error("42P05", 'prepared statement "_pg3_0" already exists'):
                b.execute("SELECT auth.user_id()")
    if supported:
        stats = run_workload(lambda: bouncer.connect(prepare_threshold=0), scale_minter, clients=12, per_client=10)
        print("\nprepared statements behind PgBouncer:", stats.summary())
        assert (stats.errors, stats.foreign_at_start, stats.wrong_inside, stats.left_after_commit) == ([], [], [], [])
        assert stats.transactions == 120


def test_key_from_alter_role(make_bouncer, scale_cluster, keypair):
    """ALTER ROLE app_r SET pg_session_jwt.jwk: app_r's connections have the key, other roles' not."""
    private, public = ed25519_keypair()
    scale_cluster.create_app_database("approle", "app_r")
    set_key(scale_cluster, "ROLE app_r", public)
    with scale_cluster.connect(dbname="approle") as su:
        su.execute("GRANT USAGE ON SCHEMA public TO app")
    prepare_notes(scale_cluster, "approle", readers=["app_r", "app"])
    bouncer = make_bouncer({"approle": "dbname=approle"}, users=("postgres", "app", "app_r"))
    assert "role app_r" in key_places(scale_cluster)
    with bouncer.connect(user="app_r", dbname="approle") as conn:
        assert session_key(conn) == public
    with bouncer.connect(user="app", dbname="approle") as other:
        with sql_error(*MISSING_KEY):
            other.execute("SELECT auth.init()")
    stats = run_workload(lambda: bouncer.connect(user="app_r", dbname="approle"), Minter(private),
                         clients=12, per_client=10)
    print("\nALTER ROLE key:", stats.summary())
    assert (stats.errors, stats.foreign_at_start, stats.wrong_inside, stats.left_after_commit) == ([], [], [], [])
    assert stats.transactions == 120 and len(stats.backends) <= 4


def test_key_from_postgresql_conf(make_bouncer):
    """pg_session_jwt.jwk in postgresql.conf (the JSON single-quoted there)."""
    private, public = ed25519_keypair()
    with Cluster(settings={"pg_session_jwt.jwk": "'" + json.dumps(public).replace("'", "''") + "'"}) as c:
        c.create_app_database("app", "app")
        prepare_notes(c, "app", readers=["app"])
        bouncer = make_bouncer({"app": "dbname=app"}, cluster=c)
        assert key_places(c) == {"postgresql.conf"}
        with bouncer.connect() as conn:
            assert session_key(conn) == public
        stats = run_workload(bouncer.connect, Minter(private), clients=12, per_client=10)
        print("\npostgresql.conf key:", stats.summary())
        assert (stats.errors, stats.foreign_at_start, stats.wrong_inside, stats.left_after_commit) == ([], [], [], [])
        assert stats.transactions == 120 and len(stats.backends) <= 4
