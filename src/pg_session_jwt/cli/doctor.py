"""``doctor``: check a server's set-up for pg_session_jwt, one line per check."""

from __future__ import annotations

import argparse

from rich.markup import escape

from .. import doctor
from .common import err, out, print_json_line, read_jwk

MARKS = {doctor.OK: "[green]✔[/]", doctor.WARN: "[yellow]![/]", doctor.FAIL: "[red]✘[/]", doctor.SKIP: "[dim]-[/]"}


def add_parser(commands) -> None:
    p = commands.add_parser(
        "doctor",
        help="check a server: PL/Python, the server's crypto, the extension, the key, the audit log",
        description="Check that a server can run pg_session_jwt, on one fresh connection: PL/Python, "
        "the crypto packages in the server's Python, the extension and its version, the configured key, "
        "the audit log. Each failure comes with its fix. Exit status: 0 when nothing failed "
        "(warnings allowed), 1 otherwise.",
    )
    p.add_argument("--dsn", default="", help="libpq connection string or URI (default: libpq's PG* environment)")
    p.add_argument("--jwk", metavar="FILE",
                   help="also check this key, passed in the startup packet as a proxy would")
    p.add_argument("--json", action="store_true", help="one JSON object: ok, checks")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with err.status("checking the server"):
        checks = doctor.run(args.dsn, key=read_jwk(args.jwk) if args.jwk else None)
    ok = not doctor.failed(checks)
    if args.json:
        print_json_line({"ok": ok, "checks": [c.as_dict() for c in checks]})
        return 0 if ok else 1
    width = max(len(c.name) for c in checks)
    for c in checks:
        out.print(f"{MARKS[c.status]} {c.name:<{width}}  {escape(c.message)}")
        if c.fix and c.status != doctor.OK:
            out.print(f"  {'':<{width}}  [cyan]fix:[/] {escape(c.fix)}")
    warnings = sum(c.status == doctor.WARN for c in checks)
    if not ok:
        out.print("[red]some checks failed[/]")
    elif warnings:
        out.print(f"[yellow]nothing failed; {warnings} warning{'s' if warnings > 1 else ''}[/]")
    else:
        out.print("[green]no problems found[/]")
    return 0 if ok else 1
