"""Ed25519 verification cost: libsodium (PyNaCl) vs OpenSSL (cryptography).

Times the verification of one 64-byte signature over a ~300-byte message,
the size of a typical JWS signing input, three ways:

  (a) nacl.bindings.crypto_sign_open   what the extension uses (jwk.py)
  (b) nacl.signing.VerifyKey.verify     PyNaCl's high-level API
  (c) cryptography Ed25519PublicKey.verify   OpenSSL

Run it with the Python the SERVER embeds (PL/Python), not the project's
virtualenv, since that is where the extension's verification runs; on Debian:

    /usr/bin/python3 bench/ed25519_primitives.py [--number N] [--repeat R]

It needs python3-nacl and python3-cryptography (Debian packages).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import platform
import statistics
import timeit

import cryptography
import nacl
import nacl.bindings
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError


def libsodium_version() -> str:
    name = ctypes.util.find_library("sodium")
    if not name:
        return "?"
    try:
        lib = ctypes.CDLL(name)
        lib.sodium_version_string.restype = ctypes.c_char_p
        return lib.sodium_version_string().decode()
    except (OSError, AttributeError):
        return "?"


def openssl_version() -> str:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        return backend.openssl_version_text()
    except Exception:  # noqa: BLE001 - informational only
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--number", type=int, default=2000, help="verifications per timing (default 2000)")
    ap.add_argument("--repeat", type=int, default=7, help="timings per method (default 7)")
    args = ap.parse_args()

    signing_key = nacl.signing.SigningKey(bytes(range(32)))  # fixed: reproducible
    public = bytes(signing_key.verify_key)
    message = (b"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9." + b"x" * 300)[:300]
    signature = signing_key.sign(message).signature
    assert len(signature) == 64 and len(message) == 300

    verify_key = nacl.signing.VerifyKey(public)
    openssl_key = Ed25519PublicKey.from_public_bytes(public)
    sign_open = nacl.bindings.crypto_sign_open

    methods = {
        "nacl.bindings.crypto_sign_open": lambda: sign_open(signature + message, public),
        "nacl.signing.VerifyKey.verify": lambda: verify_key.verify(message, signature),
        "cryptography Ed25519PublicKey.verify": lambda: openssl_key.verify(signature, message),
    }

    # Each must accept the signature and refuse a tampered message, or the
    # timings would compare different work.
    tampered = message[:-1] + b"y"
    for name, fn in methods.items():
        fn()
    for check, exc in [
        (lambda: sign_open(signature + tampered, public), BadSignatureError),
        (lambda: verify_key.verify(tampered, signature), BadSignatureError),
        (lambda: openssl_key.verify(signature, tampered), InvalidSignature),
    ]:
        try:
            check()
        except exc:
            pass
        else:
            raise SystemExit("a tampered message verified")

    results = {}
    for name, fn in methods.items():
        times = timeit.Timer(fn).repeat(repeat=args.repeat, number=args.number)
        results[name] = statistics.median(times) / args.number * 1e6

    fastest = min(results.values())
    print(f"Python {platform.python_version()}, PyNaCl {nacl.__version__} (system libsodium {libsodium_version()}),"
          f" cryptography {cryptography.__version__} ({openssl_version()})")
    print(f"message {len(message)} bytes, signature {len(signature)} bytes;"
          f" median of {args.repeat} x {args.number} verifications\n")
    width = max(len(n) for n in results)
    print(f"| {'method':<{width}} | µs/verify | vs fastest |")
    print(f"|{'-' * (width + 2)}|----------:|-----------:|")
    for name, us in sorted(results.items(), key=lambda kv: kv[1]):
        print(f"| {name:<{width}} | {us:9.1f} | {us / fastest:9.2f}x |")


if __name__ == "__main__":
    main()
