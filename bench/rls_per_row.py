"""Per-row cost of an RLS-style predicate on the session's identity.

Starts a throwaway cluster, builds t(id int, owner text) with N rows
(owner = 'user' || id % 10), and times SELECT count(*) FROM t WHERE <pred>
for the predicates an RLS policy would add:

  floor     owner = 'user5'                                    a constant
  idiom     owner = current_setting('request.jwt.claims', true)::jsonb->>'sub'
                                                               PostgREST's way
  user_id   owner = auth.user_id()                             inlined, per row
  initplan  owner = (select auth.user_id())                    once per query

auth.* run with a validated session for user5 (the JWK in the startup
packet); request.jwt.claims holds realistic claims for user5.  Parallel
query and JIT are off, so the numbers are one backend's per-row work.
Times are client-side, median of --runs runs after one warm-up.

    PG_BIN=/usr/lib/postgresql/15/bin .venv/bin/python bench/rls_per_row.py [--rows N] [--runs R]

(run `make install PG_CONFIG=$PG_BIN/pg_config` first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

import psycopg

from pg_session_jwt.client import startup_options
from pg_session_jwt.cluster import Cluster
from pg_session_jwt.signing import Minter, ed25519_keypair

PREDICATES = {
    "owner = 'user5'": "floor",
    "owner = current_setting('request.jwt.claims', true)::jsonb->>'sub'": "idiom",
    "owner = auth.user_id()": "user_id",
    "owner = (select auth.user_id())": "initplan",
}


def realistic_claims(sub: str) -> dict:
    now = int(time.time())
    return {
        "aud": "authenticated", "exp": now + 3600, "iat": now, "iss": "https://auth.example.com/auth/v1",
        "sub": sub, "email": f"{sub}@example.com", "phone": "", "role": "authenticated",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"name": "User Five"}, "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}], "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }


def timed(conn: psycopg.Connection, sql: str, runs: int):
    conn.execute(sql).fetchone()  # warm-up
    times, count = [], None
    for _ in range(runs):
        start = time.perf_counter()
        count = conn.execute(sql).fetchone()[0]
        times.append(time.perf_counter() - start)
    return statistics.median(times), count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    private, public = ed25519_keypair()
    claims = realistic_claims("user5")
    with Cluster() as cluster:
        cluster.create_app_database("app", "app")
        dsn = cluster.dsn("app", "app", options=startup_options(jwk=public))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int, owner text)")
            conn.execute("INSERT INTO t SELECT i, 'user' || (i %% 10) FROM generate_series(1, %s) i", [args.rows])
            conn.execute("VACUUM (FREEZE, ANALYZE) t")
            conn.execute("SET max_parallel_workers_per_gather = 0")
            conn.execute("SET jit = off")
            conn.execute("SELECT set_config('request.jwt.claims', %s, false)", [json.dumps(claims)])
            extra = {k: v for k, v in claims.items() if k not in ("sub", "iat", "exp")}  # Minter sets these
            conn.execute("SELECT auth.jwt_session_init(%s)", [Minter(private).token("user5", **extra)])
            assert conn.execute("SELECT auth.user_id()").fetchone()[0] == "user5"

            results = {}
            expected = args.rows // 10 + (args.rows % 10 >= 5)  # ids 1..N with id % 10 = 5
            for pred, label in PREDICATES.items():
                seconds, count = timed(conn, f"SELECT count(*) FROM t WHERE {pred}", args.runs)
                assert count == expected, (pred, count, expected)
                results[label] = (pred, seconds)

    floor = results["floor"][1]
    idiom_extra = results["idiom"][1] - floor
    print(f"{args.rows:,} rows; median of {args.runs} runs after one warm-up; "
          "max_parallel_workers_per_gather = 0, jit = off\n")
    print("| predicate | total ms | ns/row above floor | vs idiom per row |")
    print("|---|---:|---:|---:|")
    for label, (pred, seconds) in results.items():
        extra = seconds - floor
        ns_row = "—" if label == "floor" else f"{extra / args.rows * 1e9:.0f}"
        ratio = "—" if label == "floor" else f"{extra / idiom_extra:.2f}x"
        print(f"| `{pred}` | {seconds * 1e3:.1f} | {ns_row} | {ratio} |")


if __name__ == "__main__":
    main()
