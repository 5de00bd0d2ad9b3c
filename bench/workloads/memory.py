"""4. Memory: a backend's resident size after a JWT session, against PL/Python's floor.

Two variants, each a fresh connection as ``app`` with the key in the startup
packet; while it is still open, the backend's ``/proc/<pg_backend_pid()>/status``
is read (this process is root, or the server's OS user):

  ours       auth.init(); auth.jwt_session_init(tok); auth.user_id();
             SELECT * FROM bench_todos   (1,000 of its 10,000 rows visible through
             RLS, policy ``owner = auth.user_id()``, evaluated per row; FORCE ROW
             LEVEL SECURITY so the owner ``app`` is subject to it)
  py_floor   SELECT public.py_floor();
             SELECT * FROM bench_todos_plain WHERE owner = 'user5'
             (a copy of the table without RLS: the same rows and pages, so
             both touch the same shared buffers)

The variants are interleaved; medians of VmRSS (the target), RssAnon (private
memory: what the backend allocated itself), RssFile and RssShmem (shared
buffers the backend touched).  /proc's kB are KiB; the report uses MiB.

Target: VmRSS of ours at most 3 MiB above the floor.
"""

from __future__ import annotations

from typing import Dict, List

from common import BenchEnv, Section, Sizes, Table, TargetRow, median

from pg_session_jwt.cluster import backend_memory

TITLE = "Memory"
FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")
TABLE_ROWS = 10_000


def proc_status(pid: int) -> Dict[str, float]:
    """The backend's memory lines that the report shows, in MiB."""
    found = backend_memory(pid)
    return {name: found[name] / 1024 for name in FIELDS if name in found}


def prepare(env: BenchEnv) -> None:
    with env.connect() as conn:
        conn.execute("CREATE TABLE bench_todos (id int PRIMARY KEY, owner text NOT NULL, task text NOT NULL)")
        conn.execute("INSERT INTO bench_todos SELECT i, 'user' || (i %% 10), 'task number ' || i "
                     "FROM generate_series(1, %s) i", [TABLE_ROWS])
        conn.execute("CREATE TABLE bench_todos_plain AS SELECT * FROM bench_todos")  # before RLS applies
        conn.execute("ALTER TABLE bench_todos ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE bench_todos FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY own ON bench_todos USING (owner = auth.user_id())")
        conn.execute("VACUUM (FREEZE, ANALYZE) bench_todos")
        conn.execute("VACUUM (FREEZE, ANALYZE) bench_todos_plain")


def _ours(env: BenchEnv, token: str) -> Dict[str, float]:
    with env.connect() as conn:
        conn.execute("SELECT auth.init()")
        conn.execute("SELECT auth.jwt_session_init(%s)", [token])
        assert conn.execute("SELECT auth.user_id()").fetchone()[0] == "user5"
        rows = conn.execute("SELECT * FROM bench_todos").fetchall()
        assert len(rows) == TABLE_ROWS // 10, len(rows)
        return proc_status(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def _floor(env: BenchEnv) -> Dict[str, float]:
    with env.connect() as conn:
        conn.execute("SELECT public.py_floor()")
        rows = conn.execute("SELECT * FROM bench_todos_plain WHERE owner = 'user5'").fetchall()
        assert len(rows) == TABLE_ROWS // 10, len(rows)
        return proc_status(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def run(env: BenchEnv, sizes: Sizes) -> Section:
    prepare(env)
    n = sizes.memory_connections
    tokens = env.tokens(n)
    samples: Dict[str, List[Dict[str, float]]] = {"ours": [], "py_floor": []}
    for i in range(n):
        pair = [("ours", lambda: _ours(env, tokens[i])), ("py_floor", lambda: _floor(env))]
        for name, fn in (pair if i % 2 == 0 else pair[::-1]):
            samples[name].append(fn())

    med = {name: {f: median([s[f] for s in v]) for f in FIELDS} for name, v in samples.items()}
    delta = {f: med["ours"][f] - med["py_floor"][f] for f in FIELDS}
    section = Section(4, TITLE, method=_method(sizes))
    section.targets.append(TargetRow(
        workload="Memory: backend VmRSS after a session and a 1,000-row RLS select",
        ours=f"{med['ours']['VmRSS']:.1f} MiB",
        peers=f"PL/Python floor {med['py_floor']['VmRSS']:.1f} MiB",
        value=delta["VmRSS"], limit=3.0, unit="MiB",
        short="VmRSS after session\nvs PL/Python floor"))
    rows = [[label] + [f"{med[name][f]:.2f}" for f in FIELDS]
            for name, label in (("ours", "session + RLS select"), ("py_floor", "PL/Python floor"))]
    rows.append(["difference"] + [f"{delta[f]:+.2f}" for f in FIELDS])
    section.tables.append(Table(["backend after", *(f"{f} MiB" for f in FIELDS)], rows, align="lrrrr"))
    section.notes.append("RssAnon is the memory the backend allocated itself: what a connection costs the "
                         "machine alone. RssFile counts the pages of shared libraries it mapped (libsodium, cffi), "
                         "RssShmem the pages of shared memory it touched (mostly catalog and table "
                         "buffers of the shared cache); both are shared with every other backend. "
                         "The target's 3 MB is read as 3 MiB.")
    return section


def _method(sizes: Sizes) -> str:
    return (f"{sizes.memory_connections} fresh connections per variant, interleaved; "
            "`/proc/<pg_backend_pid()>/status` read while the connection is open. Medians.")
