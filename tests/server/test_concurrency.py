"""Many sessions at once: each connection sees its own identity, and only it.

Twelve threads, one connection each, each for its own user.  Every round
every thread installs a new token, then all threads wait at a barrier (so
that every backend holds a session while the others read), then each reads
its identity three ways and through an RLS-filtered table.
"""

from __future__ import annotations

import threading

import pytest

from helpers import scalar

ROLE = "rls_user"
THREADS = 12
ROUNDS = 15


def sub_of(i: int) -> str:
    return f"conc-user-{i:02d}"


@pytest.fixture(scope="module")
def conc_table(cluster):
    """conc_notes: user i owns i + 1 rows; the policy is owner = auth.user_id()."""
    with cluster.connect(dbname="app") as su:
        su.execute(
            f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        su.execute("DROP TABLE IF EXISTS conc_notes")
        su.execute("CREATE TABLE conc_notes (owner text NOT NULL, body text)")
        su.execute("ALTER TABLE conc_notes ENABLE ROW LEVEL SECURITY")
        su.execute("CREATE POLICY own ON conc_notes USING (owner = auth.user_id())")
        su.execute(f"GRANT SELECT ON conc_notes TO {ROLE}")
        for i in range(THREADS):
            su.execute(
                "INSERT INTO conc_notes SELECT %s, 'row ' || n FROM generate_series(1, %s) n",
                [sub_of(i), i + 1],
            )
    return "conc_notes"


def test_concurrent_sessions_each_see_only_their_own_identity(conc_table, connect, minter):
    barrier = threading.Barrier(THREADS, timeout=30)
    errors = []
    reads = [0] * THREADS
    lock = threading.Lock()

    def worker(i: int) -> None:
        sub = sub_of(i)
        try:
            conn = connect(user=ROLE)
            barrier.wait()  # all backends are up before anyone logs in
            for rnd in range(ROUNDS):
                token = minter.token(sub, thread=i, round=rnd)
                if rnd % 2:
                    with conn.transaction():
                        conn.execute("SELECT auth.jwt_session_init(%s)", [token])
                else:
                    conn.execute("SELECT auth.jwt_session_init(%s)", [token])
                barrier.wait()  # every backend now holds its own session
                row = conn.execute(
                    "SELECT auth.user_id(), auth.session()->>'sub', (auth.jwt()->>'thread')::int,"
                    " (auth.session()->>'round')::int, current_setting('pg_session_jwt.jwt')"
                ).fetchone()
                assert row == (sub, sub, i, rnd, token), (i, rnd, row)
                seen = conn.execute(
                    f"SELECT owner, count(*) FROM {conc_table} GROUP BY owner"
                ).fetchall()
                assert seen == [(sub, i + 1)], (i, rnd, seen)
                reads[i] += 1
                barrier.wait()  # nobody moves on while others still read
        except BaseException as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append((i, repr(e)))
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    # The first error is the interesting one; the others are broken barriers.
    assert errors == [], errors
    assert reads == [ROUNDS] * THREADS


def test_a_session_is_invisible_to_a_fresh_connection(conc_table, connect, minter):
    owner = connect(user=ROLE)
    token = minter.token(sub_of(3))
    owner.execute("SELECT auth.jwt_session_init(%s)", [token])
    assert scalar(owner, "SELECT auth.user_id()") == sub_of(3)
    assert scalar(owner, f"SELECT count(*) FROM {conc_table}") == 4

    for fresh in (connect(user=ROLE), connect()):  # same role; the extension's owner
        assert scalar(fresh, "SELECT auth.user_id()") is None
        assert scalar(fresh, "SELECT jsonb_typeof(auth.session())") == "null"  # JSON null
        assert scalar(fresh, "SELECT current_setting('pg_session_jwt.jwt', true)") in (None, "")
    fresh = connect(user=ROLE)
    assert scalar(fresh, f"SELECT count(*) FROM {conc_table}") == 0
    # ... and the first connection still has its own.
    assert scalar(owner, "SELECT auth.session()->>'sub'") == sub_of(3)
