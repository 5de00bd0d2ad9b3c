"""Run every benchmark workload side by side and write bench/results.md and results.png.

    make bench                       # the full run (about 5 minutes on 2 cores)
    make bench BENCH_ARGS=--quick    # tiny sizes, under 30 s: checks that it all runs

or directly, with the extension installed into the server PG_BIN names:

    PG_BIN=/usr/lib/postgresql/15/bin .venv/bin/python bench/run.py [--quick] [--out DIR] [--set NAME=VALUE]

One throwaway cluster (pg_session_jwt.cluster.Cluster) serves all workloads,
one after the other; each measures the extension against its peer(s) in the
same run, so the ratios compare like with like on this machine, today:

  1. workloads/rls.py            per-row cost of an RLS predicate
  2. workloads/session_start.py  auth.jwt_session_init() vs a bare Ed25519 verify and HS256 in SQL
  3. workloads/cold_connect.py   a new connection's session start vs PL/Python's floor
  4. workloads/memory.py         backend RSS after a session vs PL/Python's floor
  5. workloads/scaling.py        session-start throughput over 1, 2, 4, 8 connections

A workload that fails is reported as failed, the others still run, and the
exit status is 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
from common import FULL, QUICK, BenchEnv, Section  # noqa: E402
from workloads import cold_connect, memory, rls, scaling, session_start  # noqa: E402

from pg_session_jwt.cluster import Cluster  # noqa: E402

WORKLOADS = [rls, session_start, cold_connect, memory, scaling]


def command_line() -> str:
    """The command as typed: ``make bench …`` when make ran us, else the Python command."""
    if os.environ.get("MAKELEVEL"):
        extra = os.environ.get("BENCH_ARGS", "").strip()
        return "make bench" + (f" BENCH_ARGS={shlex.quote(extra)}" if extra else "")
    python = os.path.relpath(sys.executable) if not os.path.relpath(sys.executable).startswith("../..") \
        else sys.executable
    prefix = f"PG_BIN={os.environ['PG_BIN']} " if os.environ.get("PG_BIN") else ""
    return prefix + shlex.join([python, *sys.argv])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs (< 30 s)")
    ap.add_argument("--out", type=Path, default=HERE, help="where results.md and results.png go (default: bench/)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting for the throwaway server, repeatable (e.g. shared_buffers=256MB)")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    settings = dict(item.split("=", 1) for item in args.set)
    mode = ("quick" if args.quick else "full") + "".join(f"; server: {k} = '{v}'" for k, v in settings.items())
    started = time.perf_counter()
    sections = []

    with Cluster(settings={k: "'" + v.replace("'", "''") + "'" for k, v in settings.items()}) as cluster:
        env = BenchEnv(cluster)
        env.setup()
        server = env.server_info()
        print(f"PostgreSQL {server['postgresql']}; server Python {server['python']}, PyNaCl {server['pynacl']}; "
              f"{mode} run", flush=True)
        for n, module in enumerate(WORKLOADS, 1):
            print(f"[{n}/{len(WORKLOADS)}] {module.TITLE} …", end=" ", flush=True)
            t0 = time.perf_counter()
            try:
                section = module.run(env, sizes)
            except Exception as e:  # noqa: BLE001 - reported, the other workloads still run
                traceback.print_exc()
                section = Section(n, module.TITLE, method=(module.__doc__ or "").split("\n\n")[0],
                                  error=f"{type(e).__name__}: {e}")
            section.seconds = time.perf_counter() - t0
            sections.append(section)
            print("failed" if section.error else f"{section.seconds:.1f} s", flush=True)

    seconds = time.perf_counter() - started
    info = report.machine_info(server, command_line(), mode)
    text = report.write(args.out, sections, info, seconds)
    print()
    print(text)
    print(f"wrote {args.out / 'results.md'} and {args.out / 'results.png'} in {seconds:.0f} s")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
