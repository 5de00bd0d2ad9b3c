"""5. Scaling: session-start throughput with 1, 2, 4 and 8 concurrent connections.

For each level, that many ``app`` connections (key in the startup packet),
each driven by its own psycopg thread, call ``SELECT
auth.jwt_session_init(tok)`` with a new pre-minted token per call (each
connection its own increasing ``jti`` sequence).  Every connection is opened
and warmed up (one call, which loads the code) before a barrier releases all
threads together.  A level runs ``scaling_calls`` calls split evenly across
its connections, or until ``scaling_seconds`` have passed, whichever comes
first; throughput is the calls completed divided by the time from the
barrier to the last thread's end.  The levels run in ``scaling_passes``
passes, alternately 1→8 and 8→1, so a change in the machine's load does not
favour one level; each level reports the median of its passes.

The client threads run on the same 2 cores as the server (and share
Python's GIL), so this is the throughput of the machine as a whole, not of
the server alone.  No target: the numbers and the speedup over one
connection.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, List

from common import BenchEnv, Section, Sizes, Table, median

TITLE = "Scaling"
LEVELS = (1, 2, 4, 8)


def _level(env: BenchEnv, conns: int, calls: int, seconds: float) -> "tuple[int, float]":
    """(calls completed, seconds) for ``conns`` concurrent connections."""
    per_conn = max(1, calls // conns)
    warm = env.tokens(conns)
    pools = [env.tokens(per_conn) for _ in range(conns)]  # minted after the warm-up tokens
    connections = [env.connect() for _ in range(conns)]
    done = [0] * conns
    ended = [0.0] * conns
    errors: List[BaseException] = []
    barrier = threading.Barrier(conns + 1)
    start_box = [0.0]

    def work(i: int) -> None:
        try:
            conn = connections[i]
            barrier.wait()
            deadline = time.perf_counter() + seconds
            for tok in pools[i]:
                conn.execute("SELECT auth.jwt_session_init(%s)", [tok])
                done[i] += 1
                if time.perf_counter() >= deadline:
                    break
            ended[i] = time.perf_counter()
        except BaseException as e:  # noqa: BLE001 - reported by the caller
            errors.append(e)
            ended[i] = time.perf_counter()

    try:
        for conn, tok in zip(connections, warm):
            conn.execute("SELECT auth.jwt_session_init(%s)", [tok])
        threads = [threading.Thread(target=work, args=(i,)) for i in range(conns)]
        for t in threads:
            t.start()
        barrier.wait()
        start_box[0] = time.perf_counter()
        for t in threads:
            t.join()
    finally:
        for conn in connections:
            conn.close()
    if errors:
        raise errors[0]
    return sum(done), max(ended) - start_box[0]


def run(env: BenchEnv, sizes: Sizes) -> Section:
    passes: Dict[int, List["tuple[int, float]"]] = {c: [] for c in LEVELS}
    for p in range(max(1, sizes.scaling_passes)):
        for c in (LEVELS if p % 2 == 0 else LEVELS[::-1]):
            passes[c].append(_level(env, c, sizes.scaling_calls, sizes.scaling_seconds))
    rate = {c: median([calls / secs for calls, secs in runs]) for c, runs in passes.items()}
    section = Section(5, TITLE, method=_method(sizes))
    rows = []
    speedups = {}
    for c, runs in passes.items():
        calls = sum(n for n, _ in runs)
        secs = sum(t for _, t in runs)
        speedups[c] = rate[c] / rate[1]
        rows.append([c, calls, f"{secs:.2f}", f"{rate[c]:,.0f}",
                     f"{min(n / t for n, t in runs):,.0f}–{max(n / t for n, t in runs):,.0f}",
                     f"{speedups[c]:.2f}x", f"{c / rate[c] * 1e3:.2f}"])
    section.tables.append(Table(["connections", "calls (all passes)", "seconds (all passes)", "median calls/s",
                                 "min–max calls/s", "speedup vs 1", "ms per call per connection"],
                                rows, align="rrrrrrr"))
    section.notes.append("No target. The client's threads share the machine's cores with the server.")
    section.chart = {"speedup": speedups}
    return section


def _method(sizes: Sizes) -> str:
    return (f"`SELECT auth.jwt_session_init(tok)`, a new token per call, from 1, 2, 4 and 8 psycopg threads, "
            f"one connection each; {sizes.scaling_calls:,} calls per level split across the connections, or "
            f"{sizes.scaling_seconds:g} s, whichever comes first; calls completed / wall time; "
            f"{sizes.scaling_passes} pass(es) over the levels, alternately up and down, median per level.")
