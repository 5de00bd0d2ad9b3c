"""``jwks``: a provider's key set, fetched, compacted, applied to a server and kept in sync.

Every subcommand judges a set with the server's own parser: a set the server
would refuse (a secret or private key in it, no usable key) stops the
command with exit status 1 and nothing on stdout, and nothing is applied.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import List

import psycopg
from rich.markup import escape
from rich.table import Table

from ..errors import JWTError
from ..jwks import apply, fetch, judge, sync
from ..options import STARTUP_PACKET_LIMIT, StartupPacketTooLarge, startup_options, startup_packet_size
from .common import UsageError, err, out, print_json_line, read_text


def _fetch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=fetch.DEFAULT_TIMEOUT,
                   help=f"seconds for the whole fetch (default: {fetch.DEFAULT_TIMEOUT:g})")
    p.add_argument("--cafile", metavar="FILE", help="trust only the CA certificates in FILE (PEM)")
    p.add_argument("--allow-http", action="store_true", help="allow plain http:// to a loopback address")


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dsn", required=True, help="libpq connection string or URI of a superuser")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--system", action="store_true", help="ALTER SYSTEM SET, then pg_reload_conf()")
    where.add_argument("--database", metavar="NAME", help="ALTER DATABASE NAME SET")
    where.add_argument("--role", metavar="NAME", help="ALTER ROLE NAME SET")
    p.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")


def add_parser(commands) -> None:
    p = commands.add_parser(
        "jwks", help="fetch, compact, apply and sync an identity provider's key set",
        description="Work with an identity provider's JWKS as the server would read it.")
    sub = p.add_subparsers(dest="jwks_command", metavar="SUBCOMMAND")
    sub.required = True

    f = sub.add_parser("fetch", help="fetch a JWKS over HTTPS and show each key's verdict",
                       description="Fetch a JWKS (HTTPS, at most 1 MiB, JSON) and print each key: kid, type, "
                       "alg, and whether the server would use or skip it. Exit 1, with nothing on stdout, "
                       "for a response that cannot be used.")
    f.add_argument("url", metavar="URL")
    f.add_argument("--out", metavar="FILE", help="also write the set, compacted, to FILE (- for stdout: "
                   "the table then goes to stderr)")
    f.add_argument("--json", action="store_true", help="print one JSON object (url, max_age, keys) instead of the table")
    _fetch_options(f)
    f.set_defaults(run=run_fetch)

    c = sub.add_parser("compact", help="keep only the members the server reads; print the size",
                       description="Print the set with only the members the server reads "
                       f"({', '.join(judge.SERVER_MEMBERS)}), keys in their order; on stderr, its size and "
                       "whether it fits a startup packet.")
    c.add_argument("file", metavar="FILE", help="the JWKS, or - for stdin")
    c.set_defaults(run=run_compact)

    a = sub.add_parser("apply", help="write a JWKS into pg_session_jwt.jwk (ALTER SYSTEM/DATABASE/ROLE)",
                       description="Write the set into pg_session_jwt.jwk where only an administrator can, "
                       "and print the kids it adds and removes. Connections opened afterwards use it.")
    a.add_argument("file", metavar="FILE", help="the JWKS, or - for stdin")
    _target_options(a)
    a.set_defaults(run=run_apply)

    s = sub.add_parser("sync", help="fetch, compact and apply a provider's JWKS when it changed",
                       description="Fetch the set, compact it, and apply it when it differs from the target's. "
                       "A failed fetch applies nothing. With --watch, repeat at the provider's "
                       "Cache-Control max-age, kept between --min-interval and --max-interval.")
    s.add_argument("url", metavar="URL")
    _fetch_options(s)
    _target_options(s)
    s.add_argument("--watch", action="store_true", help="keep running: one round per interval")
    s.add_argument("--min-interval", type=float, default=60, metavar="SECONDS", help="floor (default: 60)")
    s.add_argument("--max-interval", type=float, default=3600, metavar="SECONDS", help="ceiling (default: 3600)")
    s.add_argument("--count", type=int, metavar="N", help="with --watch: stop after N rounds")
    s.set_defaults(run=run_sync)


def key_table(reports: List[judge.KeyReport]) -> Table:
    table = Table("kid", "type", "alg", "server", box=None, pad_edge=False)
    for r in reports:
        verdict = "[green]use[/]" if r.skipped is None else f"[yellow]skip[/]: {escape(r.skipped)}"
        table.add_row(escape(repr(r.kid)) if r.kid is not None else f"#{r.index}", escape(r.kind),
                      escape(str(r.alg or "")), verdict)
    return table


def _refusal(e: JWTError) -> str:
    return f"the server would refuse this set: {e.message}" + (f" ({e.detail})" if e.detail else "")


def _target(args: argparse.Namespace) -> apply.Target:
    if args.system:
        return apply.Target("system")
    return apply.Target("database", args.database) if args.database else apply.Target("role", args.role)


def _fetch_kwargs(args: argparse.Namespace) -> dict:
    return {"timeout": args.timeout, "cafile": args.cafile, "allow_http": args.allow_http}


def run_fetch(args: argparse.Namespace) -> int:
    if args.json and args.out == "-":
        raise UsageError("--json and --out - both print to stdout; choose one")
    try:
        with err.status(f"fetching {args.url}"):
            fetched = fetch.fetch(args.url, **_fetch_kwargs(args))
        value, reports = judge.checked(fetched.text)
    except fetch.FetchError as e:
        err.print(f"pg-session-jwt jwks fetch: {escape(str(e))}")
        return 1
    except JWTError as e:
        err.print(f"pg-session-jwt jwks fetch: {escape(_refusal(e))}")
        return 1
    if args.json:
        print_json_line({"url": fetched.url, "max_age": fetched.max_age,
                         "keys": [dict(asdict(r), used=r.skipped is None) for r in reports]})
    else:
        (err if args.out == "-" else out).print(key_table(reports))
    if args.out:
        text = judge.dumps(value) + "\n"
        if args.out == "-":
            sys.stdout.write(text)
        else:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(text)
    return 0


def packet_line(text: str) -> str:
    """The set's size, and what it takes in a startup packet on its own."""
    try:
        size = startup_packet_size({"options": startup_options(jwk=text)})
    except StartupPacketTooLarge as e:
        size = e.size
    fits = "fits" if size <= STARTUP_PACKET_LIMIT else "does NOT fit"
    return (f"{len(text.encode()):,} bytes; as a startup option, a packet of at least {size:,} bytes: "
            f"{fits} PostgreSQL's limit of {STARTUP_PACKET_LIMIT:,}")


def run_compact(args: argparse.Namespace) -> int:
    original = read_text(args.file)
    try:
        value, _ = judge.checked(original)
    except JWTError as e:
        err.print(f"pg-session-jwt jwks compact: {escape(_refusal(e))}")
        return 1
    text = judge.dumps(value)
    sys.stdout.write(text + "\n")
    err.print(f"was {len(original.strip().encode()):,} bytes, now {escape(packet_line(text))}")
    return 0


def _show_change(change: apply.Change, dry_run: bool) -> None:
    if not change.changed:
        out.print(f"{change.target}: unchanged; nothing applied")
        return
    added = ", ".join(map(repr, change.added)) or "none"
    removed = ", ".join(map(repr, change.removed)) or "none"
    verb = "would apply" if dry_run else "applied"
    out.print(f"{change.target}: {verb}; kids added: {escape(added)}; removed: {escape(removed)}")


def run_apply(args: argparse.Namespace) -> int:
    text = read_text(args.file)
    try:
        value = judge.load(text)
        judge.judge(text)
    except JWTError as e:
        err.print(f"pg-session-jwt jwks apply: {escape(_refusal(e))}")
        return 1
    try:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            change = apply.plan(conn, _target(args), value)
            if change.changed and not args.dry_run:
                change.target.write(conn, change.text)
    except psycopg.Error as e:
        err.print(f"pg-session-jwt jwks apply: {escape(str(e).strip())}")
        return 1
    _show_change(change, args.dry_run)
    return 0


def run_sync(args: argparse.Namespace) -> int:
    if args.count is not None and not args.watch:
        raise UsageError("--count goes with --watch")
    if args.min_interval <= 0 or args.max_interval < args.min_interval:
        raise UsageError("need 0 < --min-interval <= --max-interval")

    def one_round() -> sync.Outcome:
        outcome = sync.sync_once(args.url, args.dsn, _target(args), args.dry_run, **_fetch_kwargs(args))
        skipped = [r for r in outcome.reports if r.skipped is not None]
        if skipped:
            err.print(key_table(skipped))
        _show_change(outcome.change, args.dry_run)
        return outcome

    def report(e: Exception) -> None:
        text = _refusal(e) if isinstance(e, JWTError) else str(e).strip()
        err.print(f"pg-session-jwt jwks sync: {escape(text)}; nothing applied")

    failures = sync.watch(one_round, args.min_interval, args.max_interval,
                          count=(args.count if args.watch else 1), on_error=report)
    return 1 if failures else 0
