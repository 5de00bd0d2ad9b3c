"""The ``pg-session-jwt`` command: keys, tokens, token inspection, server checks, the demo.

Each command is a module with ``add_parser`` and ``run``; this one wires
them to argparse and turns expected failures into exit statuses: 0 fine,
1 refused token or failed check, 2 bad usage or unreadable input.
"""

from __future__ import annotations

import argparse
from typing import List, Optional

from .. import __version__
from . import demo, doctor, inspect_token, jwks, keygen, mint
from .common import UsageError, err

COMMANDS = (keygen, mint, inspect_token, jwks, doctor, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pg-session-jwt",
        description="Keys, tokens and server checks for the pg_session_jwt PostgreSQL extension.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        err.print(f"pg-session-jwt {args.command}: error: {e}")
        return 2
