"""Parallel query: RLS through the auth functions stays correct and serial.

Every auth.* function is PARALLEL UNSAFE (see test_markings).  With the
planner pushed as hard as it goes towards parallel plans
(force_parallel_mode = on, zero parallel costs, no minimum table size, two
workers per Gather), a query involving an auth function is planned without
a Gather, so no parallel worker ever starts (and none starts a Python
interpreter); the same query on a table without the policy does go parallel,
which proves the settings bite.  Two evidence tests show why the marking is
UNSAFE: re-marked SAFE or RESTRICTED in a scratch database, the functions
fail in parallel mode.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from helpers import sql_error
from scale_helpers import set_key


ROWS = 120_000
OWNERS = 12  # par0 … par11, 10,000 rows each
ME = "par3"
FORCE_PARALLEL = {
    "force_parallel_mode": "on",  # renamed debug_parallel_query in PostgreSQL 16
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
    "min_parallel_index_scan_size": "0",
    "max_parallel_workers_per_gather": "2",
    "jit": "off",
}
TABLES = {"par_plain": None, "par_bare": "owner = auth.user_id()",
          "par_initplan": "owner = (SELECT auth.user_id())"}
READERS = ["user_id", "session", "uid", "organization", "organization_id"]
# Direct calls of each reader in a WHERE clause over the table without policy.
DIRECT = {
    "auth.user_id()": "owner = auth.user_id()",
    "(select auth.user_id())": "owner = (SELECT auth.user_id())",
    "auth.session()": "owner = auth.session() ->> 'sub'",
    "auth.jwt()": "owner = auth.jwt() ->> 'sub'",
    "auth.uid()": "(auth.uid() IS NULL) = (owner = 'par3')",
    "auth.organization()": "owner = auth.organization() ->> 'name'",
    "auth.organization_id()": "(auth.organization_id() IS NOT NULL) = (owner = 'par3')",
}


def create_tables(cluster, dbname: str) -> None:
    with cluster.connect(dbname=dbname) as su:
        for table, policy in TABLES.items():
            su.execute(f"CREATE TABLE {table} (owner text NOT NULL, n int NOT NULL)")
            su.execute(f"INSERT INTO {table} SELECT 'par' || (n % {OWNERS}), n FROM generate_series(1, {ROWS}) n")
            if policy:
                su.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
                su.execute(f"CREATE POLICY own ON {table} USING ({policy})")
            su.execute(f"GRANT SELECT ON {table} TO app")
            su.execute(f"VACUUM ANALYZE {table}")


@pytest.fixture(scope="module")
def par_tables(scale_cluster):
    create_tables(scale_cluster, "app")
    return scale_cluster


def forced(conn: psycopg.Connection, loaded: bool = False) -> psycopg.Connection:
    """Parallel settings on; ``loaded``: the extension read its key before
    (see test_first_use_of_a_connection_starts_no_worker for why that matters)."""
    if loaded:
        conn.execute("SELECT auth.init()")
    for name, value in FORCE_PARALLEL.items():
        if name == "force_parallel_mode" and conn.info.server_version >= 160000:
            name = "debug_parallel_query"
        conn.execute(f"SET {name} = {value}")
    return conn


def explain(conn, query: str) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + query))


class WorkerWatch:
    """Polls pg_stat_activity for backend_type = 'parallel worker' while active."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.seen = 0
        self.queries = set()
        self.polls = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        with self.cluster.connect() as su:
            while not self._stop.is_set():
                found = su.execute("SELECT query FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
                                   ).fetchall()
                self.seen = max(self.seen, len(found))
                self.queries.update(q for q, in found)
                self.polls += 1

    def __enter__(self) -> "WorkerWatch":
        self._thread = threading.Thread(target=self._run)
        self._thread.start()
        while self.polls < 2:
            time.sleep(0.001)
        return self

    def __exit__(self, *exc) -> None:
        polls = self.polls
        while self.polls < polls + 2:  # a poll that started after the last query finished
            time.sleep(0.001)
        self._stop.set()
        self._thread.join()


def test_the_settings_force_parallel_plans(par_tables):
    """Control: without a policy the same query runs with parallel workers, and the watcher sees them."""
    with par_tables.connect("app", "app") as conn:
        forced(conn)
        plan = explain(conn, "SELECT owner, count(*) FROM par_plain GROUP BY owner")
        assert "Gather" in plan and "Workers Launched: 2" in plan, plan
        with WorkerWatch(par_tables) as watch:
            for _ in range(5):
                conn.execute("SELECT owner, count(*), sum(length(md5(n::text))) FROM par_plain GROUP BY owner")
        assert watch.seen >= 1


@pytest.mark.parametrize("local", [True, False], ids=["local", "session"])
@pytest.mark.parametrize("table", ["par_bare", "par_initplan"])
def test_rls_is_correct_and_never_parallel(par_tables, scale_minter, table, local):
    query = f"SELECT owner, count(*) FROM {table} GROUP BY owner ORDER BY owner"
    with par_tables.connect("app", "app") as conn, WorkerWatch(par_tables) as watch:
        forced(conn, loaded=True)
        # the first read of the connection, with no session yet
        assert conn.execute(query).fetchall() == []
        conn.execute("BEGIN")
        conn.execute("SELECT auth.jwt_session_init(%s, %s)", [scale_minter.token(ME), local])
        plan = explain(conn, query)
        for _ in range(3):
            assert conn.execute(query).fetchall() == [(ME, ROWS // OWNERS)]
        conn.execute("COMMIT")
        assert conn.execute(query).fetchall() == ([] if local else [(ME, ROWS // OWNERS)])
        # a refused token is reported with its own error, not a parallel-mode one
        conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [scale_minter.token(ME)[:-4] + "AAAA"])
        with sql_error("23514", "invalid JWT signature"):
            conn.execute(query)
    assert "Gather" not in plan and "Workers" not in plan and "Parallel" not in plan, plan
    assert watch.seen == 0, watch.queries


@pytest.mark.parametrize("call", list(DIRECT))
def test_every_reader_keeps_the_query_serial(par_tables, scale_minter, call):
    query = f"SELECT owner, count(*) FROM par_plain WHERE {DIRECT[call]} GROUP BY owner"
    with par_tables.connect("app", "app") as conn, WorkerWatch(par_tables) as watch:
        forced(conn, loaded=True)
        conn.execute("BEGIN")
        conn.execute("SELECT auth.jwt_session_init(%s, true)",
                      [scale_minter.token(ME, o={"id": "8a0c4cf8-3c8e-4f6e-9c3c-0d3f7b5e2a11", "name": ME})])
        plan = explain(conn, query)
        assert conn.execute(query).fetchall() == [(ME, ROWS // OWNERS)]
        conn.execute("COMMIT")
    assert "Gather" not in plan and "Workers" not in plan, plan
    assert watch.seen == 0, watch.queries


def test_a_policy_keeps_the_whole_query_serial(par_tables, scale_minter):
    """The price of PARALLEL UNSAFE: a join of a policy table with a plain one
    runs serially on both sides (and stays correct)."""
    query = "SELECT count(*), min(i.owner), max(i.owner) FROM par_plain p JOIN par_initplan i USING (n)"
    with par_tables.connect("app", "app") as conn, WorkerWatch(par_tables) as watch:
        forced(conn, loaded=True)
        conn.execute("BEGIN")
        conn.execute("SELECT auth.jwt_session_init(%s, true)", [scale_minter.token(ME)])
        plan = explain(conn, query)
        assert conn.execute(query).fetchone() == (ROWS // OWNERS, ME, ME)
        conn.execute("COMMIT")
    assert "Gather" not in plan and "Parallel" not in plan, plan
    assert watch.seen == 0, watch.queries


def test_first_use_of_a_connection_starts_no_worker(par_tables, scale_minter):
    """The first auth call of a connection loads the key with internal SPI queries;
    under force_parallel_mode none of them may launch a parallel worker either."""
    with WorkerWatch(par_tables) as watch:
        for _ in range(5):
            with par_tables.connect("app", "app") as conn:
                forced(conn)
                conn.execute("BEGIN")
                conn.execute("SELECT auth.jwt_session_init(%s, true)", [scale_minter.token(ME)])
                assert conn.execute("SELECT count(*) FROM par_initplan").fetchone()[0] == ROWS // OWNERS
                conn.execute("COMMIT")
    assert watch.seen == 0, f"parallel workers ran: {watch.queries}"


def test_markings(par_tables):
    """The chosen markings: every auth.* function PARALLEL UNSAFE; readers STABLE, the inits VOLATILE."""
    with par_tables.connect("app", "app") as conn:
        rows = conn.execute("""
            SELECT p.proname, p.provolatile, p.proparallel
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'auth'""").fetchall()
    marks = {name: (vol, par) for name, vol, par in rows}
    assert {par for _, par in marks.values()} == {"u"}, marks
    for reader in READERS + ["jwt"]:
        assert marks[reader] == ("s", "u")
    assert marks["jwt_session_init"] == ("v", "u") and marks["init"] == ("v", "u")


@pytest.fixture(scope="module")
def remarked(scale_cluster, keypair):
    """remarked('SAFE' | 'RESTRICTED') -> a database whose readers carry that marking."""
    made = {}

    def _make(marking: str) -> str:
        if marking not in made:
            db = f"par_{marking.lower()}"
            scale_cluster.create_app_database(db, "app")
            set_key(scale_cluster, f"DATABASE {db}", keypair[1])
            create_tables(scale_cluster, db)
            with scale_cluster.connect(dbname=db) as su:
                for reader in READERS:
                    su.execute(f"ALTER FUNCTION auth.{reader}() PARALLEL {marking}")
                    su.execute(f"ALTER FUNCTION auth._{reader}(text, text, text) PARALLEL {marking}")
                su.execute(f"ALTER FUNCTION auth.jwt() PARALLEL {marking}")
                su.execute(f"ALTER FUNCTION auth._raise_pending() PARALLEL {marking}")
            made[marking] = db
        return made[marking]

    return _make


def parallel_mode_error(conn: psycopg.Connection, setting: str, depth: int):
    """What parallel mode stops first.  Before PostgreSQL 17, the subtransaction
    that PL/Python opens around each plpy.execute, an error raised in C that
    no Python code sees.  Since 17 a subtransaction may start in parallel mode,
    and our set_config() of ``setting`` inside it fails: an exception that
    crosses ``depth`` PL/Python functions, each of which prefixes its type to
    the message.  Either way 25000 invalid_transaction_state."""
    if conn.info.server_version >= 170000:
        prefix = "spiexceptions.InvalidTransactionState: " * depth
        return sql_error("25000", f'{prefix}parameter "pg_session_jwt.{setting}" cannot be set during a parallel operation')
    return sql_error("25000", "cannot start subtransactions during a parallel operation")


def test_evidence_parallel_safe_fails_in_workers(par_tables, remarked, scale_minter):
    """Why not PARALLEL SAFE: each worker is a fresh backend; its first call starts
    an interpreter and must read the connection-start key in a subtransaction,
    which parallel mode forbids.  If this test starts failing, revisit the marking."""
    db = remarked("SAFE")
    with par_tables.connect("app", db) as conn:
        forced(conn)
        conn.execute("BEGIN")
        conn.execute("SELECT auth.jwt_session_init(%s, true)", [scale_minter.token(ME)])
        with parallel_mode_error(conn, "jwk", 2):  # the worker loads the package, which reads the key
            conn.execute("SELECT count(*) FROM par_bare")


def test_evidence_parallel_restricted_fails_in_the_leader(par_tables, remarked, scale_minter):
    """Why not PARALLEL RESTRICTED: the leader itself runs in parallel mode, where
    every plpy.execute fails (PL/Python wraps each in a subtransaction): the
    connection's first read (it loads the key) and any refusal (it records the
    error) break.  If this test starts failing, revisit the marking."""
    db = remarked("RESTRICTED")
    with par_tables.connect("app", db) as conn:
        forced(conn)
        with parallel_mode_error(conn, "jwk", 2):  # first read of the connection: expected []
            conn.execute("SELECT owner, count(*) FROM par_initplan GROUP BY owner")
    with par_tables.connect("app", db) as conn:
        forced(conn)
        conn.execute("SELECT auth.jwt_session_init(%s)", [scale_minter.token(ME)])
        plan = explain(conn, "SELECT owner, count(*) FROM par_initplan GROUP BY owner")
        assert "Workers Launched: 2" in plan  # what RESTRICTED would buy once loaded
        conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [scale_minter.token(ME)[:-4] + "AAAA"])
        with parallel_mode_error(conn, "error", 1):  # expected 23514 invalid JWT signature
            conn.execute("SELECT owner, count(*) FROM par_initplan GROUP BY owner")
