"""Load: pgbench through PgBouncer, and a backend's memory over 10,000 logins.

pgbench cannot mint tokens, so ``tokens(id, token)`` holds 10,000 pre-minted
ones, one subject each (``p<id>``): per-subject ordering refuses a
subject's older token after a newer one on the same server connection, and
with one token per subject any order is fine.  The script checks identities
and rows itself: a wrong one divides by zero, which aborts the client, and
an aborted client makes pgbench exit non-zero.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from pg_session_jwt.cluster import backend_memory, default_bindir

CLIENTS = 16
SECONDS = int(os.environ.get("SCALE_PGBENCH_SECONDS", "20"))
SCRIPT = r"""
\set id random(1, 10000)
BEGIN;
SELECT 1 / (auth.user_id() IS NULL AND (SELECT count(*) FROM pnotes) = 0)::int;
SELECT auth.jwt_session_init(token, true) FROM tokens WHERE id = :id;
SELECT 1 / (auth.user_id() = 'p' || :id AND count(*) = 1 AND min(owner) = 'p' || :id)::int FROM pnotes;
COMMIT;
SELECT 1 / (auth.user_id() IS NULL)::int;
"""


def test_pgbench_through_pgbouncer(make_bouncer, bench_tokens, tmp_path):
    """16 clients, 4 server connections, local sessions: no failed transaction."""
    bouncer = make_bouncer({"app": "dbname=app"})
    script = tmp_path / "local_session.sql"
    script.write_text(SCRIPT)
    cmd = [str(Path(default_bindir()) / "pgbench"), "-h", str(bouncer.root), "-p", str(bouncer.port),
           "-U", "app", "-n", "-M", "simple", "-c", str(CLIENTS), "-j", "4", "-T", str(SECONDS),
           "-P", "5", "-f", str(script), "app"]
    backends = []
    stop = threading.Event()

    def count_backends():
        with bouncer.cluster.connect() as su:
            while not stop.wait(0.25):
                backends.append(su.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app' AND usename = 'app'").fetchone()[0])

    watcher = threading.Thread(target=count_backends)
    watcher.start()
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 60)
    finally:
        stop.set()
        watcher.join()
    out = run.stdout + run.stderr
    print("\n$ " + " ".join(cmd) + "\n" + run.stdout)
    assert run.returncode == 0, out
    assert "aborted" not in out, out
    processed = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))
    failed = int(re.search(r"number of failed transactions: (\d+)", out).group(1))
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))
    print(f"pgbench: {processed} transactions, {failed} failed, {tps:.0f} tps, "
          f"server backends at most {max(backends)}")
    assert failed == 0
    assert processed >= 1000
    assert 1 <= max(backends) <= 4


@pytest.fixture(scope="module")
def ten_thousand_logins(scale_cluster, bench_tokens, scale_minter):
    """One connection: 10,000 local inits (10,000 subjects, the cap), a
    10,001st subject, then 10,000 session-level inits; VmRSS/RssAnon at
    checkpoints, and the time each block of 1,000 local inits took."""
    minter = scale_minter
    with scale_cluster.connect("app", "app") as conn:
        tokens = [t for t, in conn.execute("SELECT token FROM tokens ORDER BY id")]
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("SELECT auth.init()")
        memory = {"start": backend_memory(pid)}
        block_seconds = []
        t0 = time.perf_counter()
        for n, token in enumerate(tokens, 1):
            conn.execute("SELECT auth.jwt_session_init(%s, true)", [token])
            if n % 1000 == 0:
                block_seconds.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                if n in (1000, 2000, 10_000):
                    memory[f"local {n}"] = backend_memory(pid)
        assert conn.execute("SELECT auth.user_id()").fetchone()[0] is None
        overflow = []
        for sub in ["p10001", "p2"]:  # a new subject at the cap; one still remembered
            with conn.transaction():
                conn.execute("SELECT auth.jwt_session_init(%s, true)", [minter.token(sub)])
                overflow.append(conn.execute("SELECT auth.user_id()").fetchone()[0])
        for n, token in enumerate(tokens, 1):  # jti increases with id, as the session-level rule needs
            conn.execute("SELECT auth.jwt_session_init(%s)", [token])
            if n in (1000, 10_000):
                memory[f"session {n}"] = backend_memory(pid)
        assert conn.execute("SELECT auth.user_id()").fetchone()[0] == "p10000"
    mb = lambda kb: f"{kb / 1024:.1f} MB"  # noqa: E731
    print("\nbackend memory (VmRSS / RssAnon):")
    for point, status in memory.items():
        print(f"  {point:>14}: {mb(status['VmRSS'])} / {mb(status['RssAnon'])}")
    print("  ms per local init, by block of 1,000:", [round(s, 2) for s in block_seconds])
    return memory, block_seconds, overflow


@pytest.mark.parametrize("field", ["VmRSS", "RssAnon"])
def test_backend_memory_is_bounded(ten_thousand_logins, field):
    memory = ten_thousand_logins[0]
    kb = {point: status[field] for point, status in memory.items()}
    # local sessions remember each subject (capped at 10,000): a little memory per subject
    assert kb["local 10000"] - kb["local 2000"] < 5 * 1024
    # session-level inits replace one token by the next: nothing accumulates
    assert kb["session 10000"] - kb["session 1000"] < 1024


def test_a_full_subject_memory_still_lets_users_in(ten_thousand_logins):
    """At the cap (10,000 subjects with live tokens) the connection forgets its
    least recently active subject instead of locking new users out."""
    assert ten_thousand_logins[2] == ["p10001", "p2"]


def test_a_login_costs_the_same_with_many_subjects_remembered(ten_thousand_logins):
    """A new subject's local init should not slow down as the connection remembers
    more subjects: compare the 10th block of 1,000 with the 2nd."""
    block_seconds = ten_thousand_logins[1]
    assert block_seconds[9] < 1.5 * block_seconds[1], block_seconds
