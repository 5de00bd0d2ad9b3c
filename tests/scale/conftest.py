"""Fixtures of the scale tests: a private cluster whose key comes from
``ALTER DATABASE app SET pg_session_jwt.jwk`` (a transaction pooler drops the
startup packet's options), throwaway PgBouncers in front of it, and a table
of pre-minted tokens for pgbench.

The cluster is this directory's own (not the suite's shared one), so
restarts, pool exhaustion and 10,000-subject connections stay here.
"""

from __future__ import annotations

from typing import Iterator, List

import pytest
from bouncer import PgBouncer
from scale_helpers import prepare_notes, set_key

from pg_session_jwt.cluster import Cluster
from pg_session_jwt.signing import Minter

BENCH_TOKENS = 10_000


@pytest.fixture(scope="session")
def scale_cluster(keypair) -> Iterator[Cluster]:
    with Cluster(settings={"max_connections": "200"}) as c:
        c.create_app_database("app", "app")
        set_key(c, "DATABASE app", keypair[1])
        prepare_notes(c, "app", readers=["app"])
        yield c


@pytest.fixture(scope="session")
def scale_minter(keypair) -> Minter:
    return Minter(keypair[0])


@pytest.fixture
def make_bouncer(scale_cluster):
    """make_bouncer(databases={alias: params}, cluster=…, **[pgbouncer] settings) -> a started PgBouncer."""
    started: List[PgBouncer] = []

    def _make(databases=None, cluster=None, users=("postgres", "app"), **settings) -> PgBouncer:
        b = PgBouncer(cluster or scale_cluster, databases or {"app": "dbname=app"}, users=users, settings=settings)
        started.append(b)
        return b.start()

    yield _make
    for b in started:
        b.stop()


@pytest.fixture(scope="session")
def bench_tokens(scale_cluster, scale_minter) -> int:
    """``tokens(id, token)``: one subject per row (``p<id>``), jti increasing with id;
    ``pnotes``: one row per subject, behind the initplan policy, indexed by owner."""
    rows = [(i, scale_minter.token(f"p{i}")) for i in range(1, BENCH_TOKENS + 1)]
    with scale_cluster.connect(dbname="app") as su:
        su.execute("CREATE TABLE tokens (id int PRIMARY KEY, token text NOT NULL)")
        with su.cursor() as cur, cur.copy("COPY tokens (id, token) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        su.execute("CREATE TABLE pnotes (owner text NOT NULL, body text NOT NULL)")
        su.execute("INSERT INTO pnotes SELECT 'p' || n, 'note of p' || n FROM generate_series(1, %s) n",
                   [BENCH_TOKENS])
        su.execute("CREATE INDEX ON pnotes (owner)")
        su.execute("ALTER TABLE pnotes ENABLE ROW LEVEL SECURITY")
        su.execute("CREATE POLICY own ON pnotes USING (owner = (SELECT auth.user_id()))")
        su.execute("GRANT SELECT ON tokens, pnotes TO app")
        su.execute("ANALYZE tokens, pnotes")
    return BENCH_TOKENS
