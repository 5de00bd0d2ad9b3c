"""``inspect``: what a token says, and with a key, whether the server would accept it."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from rich.markup import escape
from rich.table import Table

from .. import verify
from ..errors import JWTError
from ..signing import public_jwk
from .common import out, print_json_line, read_jwk

TIME_CLAIMS = ("iat", "nbf", "exp")


def add_parser(commands) -> None:
    p = commands.add_parser(
        "inspect",
        help="show a token's header and claims; with --jwk, verify it as the server would",
        description="Print a token's header and claims. With --jwk, verify it exactly as the server "
        "would on a fresh connection with these settings; exit 1 with the server's error if it would refuse.",
    )
    p.add_argument("token", metavar="TOKEN", help="the token, or - to read it from stdin")
    p.add_argument("--jwk", metavar="FILE", help="public JWK or JWK set (a private JWK is reduced to its public half)")
    p.add_argument("--aud", help="as pg_session_jwt.audience")
    p.add_argument("--iss", help="as pg_session_jwt.issuer")
    p.add_argument("--replay", choices=("jti", "once"), help="as pg_session_jwt.replay (default: jti)")
    p.add_argument("--json", action="store_true", help="one JSON object: header, payload, verified, error")
    p.set_defaults(run=run)


def _error(e: JWTError) -> Dict[str, Optional[str]]:
    return {"sqlstate": e.sqlstate, "message": e.message, "detail": e.detail}


def _key(path: str) -> Dict[str, Any]:
    key = read_jwk(path)
    return public_jwk(key) if "d" in key else key


def when(seconds: Any, now: float) -> str:
    """``2024-05-01 12:00:00 UTC (in 4 min)`` for a NumericDate claim."""
    if type(seconds) is not int:
        return "not an integer"
    try:
        stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"
    delta = int(seconds - now)
    minutes, secs = divmod(abs(delta), 60)
    span = f"{minutes} min {secs} s" if minutes else f"{secs} s"
    return f"{stamp} ({'in ' + span if delta >= 0 else span + ' ago'})"


def show(header: Dict[str, Any], payload: Any, verified: Optional[bool]) -> None:
    out.print("[bold]header[/]")
    out.print_json(data=header)
    label = {None: "[yellow]not verified[/]", True: "[green]verified[/]", False: "[red]refused[/]"}[verified]
    out.print(f"[bold]claims[/] ({label})")
    out.print_json(data=payload)
    if isinstance(payload, dict) and any(c in payload for c in TIME_CLAIMS):
        table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
        now = time.time()
        for claim in TIME_CLAIMS:
            if claim in payload:
                table.add_row(claim, when(payload[claim], now))
        out.print(table)


def run(args: argparse.Namespace) -> int:
    token = (sys.stdin.read() if args.token == "-" else args.token).strip()
    key = _key(args.jwk) if args.jwk else None
    result: Dict[str, Any] = {"header": None, "payload": None, "verified": None, "error": None}
    try:
        result["header"], result["payload"] = verify.decode(token)
        if key is not None:
            verify.verify(token, key, audience=args.aud, issuer=args.iss, replay=args.replay)
            result["verified"] = True
    except JWTError as e:
        result["verified"] = False
        result["error"] = _error(e)
    if args.json:
        print_json_line(result)
    else:
        if result["header"] is not None:
            show(result["header"], result["payload"], result["verified"])
        if result["verified"]:
            out.print("[green]✔ the server would accept this token[/]")
        elif result["error"]:
            refusal = result["error"]
            detail = f" [dim]({escape(refusal['detail'])})[/]" if refusal["detail"] else ""
            out.print(f"[red]✘ the server would refuse this token: {refusal['sqlstate']} "
                      f"{escape(refusal['message'])}[/]{detail}")
        else:
            out.print("[yellow]signature not checked: pass --jwk FILE to verify[/]")
    return 1 if result["verified"] is False else 0
