"""``keygen``: a new signing key; the private JWK to a 0600 file, the public one to stdout."""

from __future__ import annotations

import argparse
import json
import os

from .. import keys
from ..signing import public_jwk
from .common import UsageError, err, print_json_line


def add_parser(commands) -> None:
    p = commands.add_parser(
        "keygen",
        help="make a key pair: private JWK to a file, public JWK to stdout",
        description="Make a signing key. The private JWK goes to FILE (mode 0600); the public JWK, "
        "the value for pg_session_jwt.jwk, is printed as one line of JSON.",
    )
    p.add_argument("--alg", choices=keys.ALGORITHMS, default="EdDSA", help="signature algorithm (default: EdDSA)")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the private JWK")
    p.add_argument("--kid", help="key id (default: the key's RFC 7638 thumbprint)")
    p.add_argument("--bits", type=int, default=keys.DEFAULT_RSA_BITS,
                   help=f"RSA modulus size (default: {keys.DEFAULT_RSA_BITS}; ignored for other keys)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--json", action="store_true", help="print alg, kid, file and public JWK as one JSON object")
    p.set_defaults(run=run)


def write_private(path: str, jwk: dict, force: bool) -> None:
    """Created with mode 0600 from the start, so the key is never readable by others."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} exists; use --force to replace it") from None
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
        f.write(json.dumps(jwk, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    try:
        with err.status(f"generating an {args.alg} key"):
            private = keys.generate(args.alg, args.kid, args.bits)
    except ValueError as e:
        raise UsageError(str(e)) from None
    write_private(args.out, private, args.force)
    public = public_jwk(private)
    if args.json:
        print_json_line({"alg": args.alg, "kid": public["kid"], "private_key_file": os.path.abspath(args.out),
                         "public_jwk": public})
    else:
        print_json_line(public)
    return 0
