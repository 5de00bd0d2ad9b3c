"""``demo``: the RLS demo of ``make demo``, on a throwaway cluster."""

from __future__ import annotations

import argparse


def add_parser(commands) -> None:
    p = commands.add_parser(
        "demo",
        help="run the RLS demo (as make demo) on a throwaway cluster",
        description="Start a throwaway PostgreSQL cluster, install the extension, and show two users, "
        "a forged and a replayed token, and the PostgREST fallback. Needs PostgreSQL's binaries "
        "($PG_BIN or pg_config) and the extension installed into them.",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import demo  # starts nothing until called; imported late to keep --help fast

    demo.main()
    return 0
