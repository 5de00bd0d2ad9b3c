"""``token``: sign a session token with a private JWK, for tests and custom issuers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

from ..signing import Minter
from .common import UsageError, read_jwk


def add_parser(commands) -> None:
    p = commands.add_parser(
        "token",
        help="print a signed session token",
        description="Print a token signed with the private JWK in FILE (as keygen writes it): "
        "a fresh, strictly increasing jti, iat now, exp now + TTL.",
    )
    p.add_argument("--key", required=True, metavar="FILE", help="private JWK file")
    p.add_argument("--sub", required=True, help="subject: what auth.user_id() returns")
    p.add_argument("--ttl", type=int, default=300, metavar="SECONDS", help="lifetime (default: 300)")
    p.add_argument("--aud", help="audience claim (for pg_session_jwt.audience)")
    p.add_argument("--iss", help="issuer claim (for pg_session_jwt.issuer)")
    p.add_argument("--claim", action="append", default=[], metavar="K=V",
                   help="extra claim, repeatable; V is parsed as JSON when it is JSON "
                   "(o='{\"id\":\"...\"}', n=5), else kept as a string; it overrides a default (jti=7)")
    p.set_defaults(run=run)


def parse_claims(items: List[str]) -> Dict[str, Any]:
    claims: Dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--claim {item!r}: expected NAME=VALUE")
        try:
            claims[name] = json.loads(text)
        except ValueError:
            claims[name] = text
    return claims


def run(args: argparse.Namespace) -> int:
    key = read_jwk(args.key)
    if "d" not in key:
        raise UsageError(f"{args.key} holds no private key (no 'd' member); keygen writes one")
    try:
        minter = Minter(key, ttl=args.ttl, audience=args.aud, issuer=args.iss)
    except (ValueError, KeyError) as e:
        raise UsageError(f"{args.key}: unusable key: {e}") from None
    sys.stdout.write(minter.token(args.sub, **parse_claims(args.claim)) + "\n")
    return 0
