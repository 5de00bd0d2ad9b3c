"""Coverage-guided fuzzing of pg_session_jwt's parsers of untrusted input (atheris).

The contract under test: on bad input ``session``, ``jws``, ``jwk`` and
``claims`` raise only ``JWTError``; ``strictjson`` and ``b64url`` raise only
``ValueError``.  Any other exception, or an input that runs past
``-timeout``, is a crash: libFuzzer stops and saves the input as
``crash-<sha1>`` (or ``timeout-<sha1>``) under ``-artifact_prefix``.

Run it from the repository root with the venv's Python (``pip install atheris``)::

    # long run; new inputs go to fuzz/out/corpus, fuzz/corpus (the seeds) is only read
    mkdir -p fuzz/out/corpus
    .venv/bin/python fuzz/fuzz_parsers.py -dict=fuzz/jwt.dict -max_total_time=600 -timeout=10 \\
        -artifact_prefix=fuzz/out/ fuzz/out/corpus fuzz/corpus
    # replay a reproducer (prints the target and the input, then the traceback)
    .venv/bin/python fuzz/fuzz_parsers.py fuzz/out/crash-...
    # rewrite the seed corpus
    .venv/bin/python fuzz/fuzz_parsers.py --make-corpus fuzz/corpus

Set ``FUZZ_ONLY=jwk_parse,jws_verify`` (target function names) to fuzz only those.

Input layout: FuzzedDataProvider takes integers from the *end*, so the last
byte picks the target (``byte % len(TARGETS)``), the one before it is a flag
byte, and everything before those is the body (see :func:`seed`).
"""

import json
import os
import random
import sys

import atheris

import nacl.signing
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# Coverage guides through our package only, not the crypto libraries' wrappers.
with atheris.instrument_imports(include=["pg_session_jwt"]):
    from pg_session_jwt import b64url, claims, jwk, jws, strictjson
    from pg_session_jwt.errors import JWTError
    from pg_session_jwt.session import Session
    from pg_session_jwt.signing import ed25519_keypair

# --- keys, made once per process ----------------------------------------------

ED_PRIVATE, ED_PUBLIC = ed25519_keypair(kid="ed")
ED_PUBLIC_TEXT = json.dumps(ED_PUBLIC)
ED_SIGNER = nacl.signing.SigningKey(b64url.decode(ED_PRIVATE["d"]))


def _int_b64(n: int, size: int) -> str:
    return b64url.encode(n.to_bytes(size, "big"))


def _rsa_jwk(private, kid):
    numbers = private.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "n": _int_b64(numbers.n, 256), "e": _int_b64(numbers.e, 3)}


def _ec_jwk(private, crv, size, kid):
    numbers = private.public_key().public_numbers()
    return {"kty": "EC", "crv": crv, "kid": kid, "x": _int_b64(numbers.x, size), "y": _int_b64(numbers.y, size)}


RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_PRIVATE = ec.generate_private_key(ec.SECP256R1())
PUBLIC_JWKS = [_rsa_jwk(RSA_PRIVATE, "rsa"), _ec_jwk(EC_PRIVATE, "P-256", 32, "ec"), ED_PUBLIC]
KEY_SETS = [jwk.parse(json.dumps({"keys": PUBLIC_JWKS}))] + [jwk.parse(json.dumps(k)) for k in PUBLIC_JWKS]


# --- targets: each takes (body bytes, flag byte) ---------------------------------


def _text(body: bytes) -> str:
    """Any str, lone surrogates included (invalid UTF-8 bytes become U+DC80..U+DCFF)."""
    return body.decode("utf-8", "surrogateescape")


def _session(flags: int) -> Session:
    """A fresh session trusting the Ed25519 key.  Flag bit 0 adds the audience
    and issuer checks; bit 1 picks the ``once`` replay rule instead of ``jti``
    (bit 2, read by :func:`_use`, validates for one transaction)."""
    checks = {"audience": "api", "issuer": "https://issuer.example"} if flags & 1 else {}
    return Session(ED_PUBLIC_TEXT, replay="once" if flags & 2 else "jti", **checks)


def _read(found) -> None:
    """Every reader of a Claims, each on its own: any of them may refuse."""
    readers = [found.user_id, found.user_uuid, found.audit_fields, lambda: found.json, lambda: found.organization]
    for read in readers:
        try:
            read()
        except JWTError:
            pass


def _use(s: Session, token: str, flags: int) -> None:
    """Validate (session-wide, or with flag bit 2 transaction-local), then read the result."""
    if flags & 4:
        found = s.validate_local(token)
        assert s.validate_local(token) is found  # the cached path
    else:
        found = s.validate(token)
        assert s.current(token, None) is found  # the cached path
    s.audit_line(found)
    _read(found)


def session_token(body: bytes, flags: int) -> None:
    """Session.validate on an arbitrary token text (signature almost always bad)."""
    _use(_session(flags), _text(body), flags)


def session_signed(body: bytes, flags: int) -> None:
    """Body is ``header NUL payload``: both base64url-encoded and validly signed with
    the trusted key, so the header, payload and claim checks all see fuzz bytes."""
    header, _, payload = body.partition(b"\0")
    signing_input = b64url.encode(header) + "." + b64url.encode(payload)
    signature = ED_SIGNER.sign(signing_input.encode()).signature
    _use(_session(flags), signing_input + "." + b64url.encode(signature), flags)


def jwk_parse(body: bytes, flags: int) -> None:
    keys = jwk.parse(_text(body))
    assert keys.keys


def strictjson_loads(body: bytes, flags: int) -> None:
    """Bytes or str input; an accepted value must survive dumps() and parse back equal."""
    value = strictjson.loads(body if flags & 1 else _text(body))
    assert strictjson.loads(strictjson.dumps(value)) == value


def b64url_decode(body: bytes, flags: int) -> None:
    text = _text(body)
    assert b64url.encode(b64url.decode(text)) == text


def claims_setting(body: bytes, flags: int) -> None:
    """PostgREST's request.jwt.claims, directly and through a key-less Session."""
    text = _text(body)
    found = claims.from_setting(text)
    if found is not None:
        _read(found)
    s = Session(None)
    assert (s.current(None, text) is None) == (found is None)


def jws_verify(body: bytes, flags: int) -> None:
    """jws.verify against the RSA+EC+Ed25519 set (flags 0) or one of its keys alone."""
    jws.verify(_text(body), KEY_SETS[flags % len(KEY_SETS)])


ALL_TARGETS = [
    (session_token, JWTError),
    (session_signed, JWTError),
    (jwk_parse, JWTError),
    (strictjson_loads, ValueError),
    (b64url_decode, ValueError),
    (claims_setting, JWTError),
    (jws_verify, JWTError),
]


# FUZZ_ONLY=jwk_parse,jws_verify fuzzes only those targets (the seeds still run,
# each body fed to whichever of them its last byte now picks).
ONLY = [name for name in os.environ.get("FUZZ_ONLY", "").split(",") if name]
TARGETS = [t for t in ALL_TARGETS if t[0].__name__ in ONLY] if ONLY else ALL_TARGETS
assert TARGETS, f"FUZZ_ONLY={ONLY} names none of {[t.__name__ for t, _ in ALL_TARGETS]}"


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target, allowed = TARGETS[fdp.ConsumeIntInRange(0, 255) % len(TARGETS)]
    flags = fdp.ConsumeIntInRange(0, 255)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    try:
        target(body, flags)
    except allowed:
        pass
    except BaseException:
        print(f"\n== target {target.__name__}, flags {flags}, body {body!r}", file=sys.stderr)
        raise


# --- a JSON-aware mutator ------------------------------------------------------------
# Byte mutations rarely turn '"P-256"' into '[]'; type confusion in parsed JSON
# is the likeliest bug here, so half the mutations edit the JSON tree instead.

NAMES = ["keys", "kty", "crv", "alg", "kid", "use", "key_ops", "x", "y", "n", "e", "crit", "typ",
         "jti", "exp", "nbf", "iat", "aud", "iss", "sub", "o", "id"]
VALUES = [None, True, 0, -1, 2**63, 2**64, 1.5, -0.0, "", "x", "sig", "EdDSA", "RS256", "ES256",
          "\ud800", [], {}, [[]], {"": None}, ["verify"], list(range(20))]  # "\ud800": a lone surrogate


def _paths(value, path=()):
    yield path
    if isinstance(value, (dict, list)):
        for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
            yield from _paths(item, path + (key,))


def _at(value, path):
    for key in path:
        value = value[key]
    return value


def _mutate_tree(value, rng):
    """Add a member to an object, or replace a node with a stock value or a copy of another node."""
    paths = list(_paths(value))
    target = rng.choice(paths)
    node, choice = _at(value, target), rng.random()
    if choice < 0.3 and isinstance(node, dict):
        node[rng.choice(NAMES)] = rng.choice(VALUES)
        return value
    new = rng.choice(VALUES) if choice < 0.8 else json.loads(json.dumps(_at(value, rng.choice(paths))))
    if not target:
        return new
    _at(value, target[:-1])[target[-1]] = new
    return value


def _mutate_body(body: bytes, rng):
    """Mutate the JSON in a body: itself, one side of ``header NUL payload``, or a token part."""
    if b"\0" in body:
        parts, sep, decode, encode = body.split(b"\0", 1), b"\0", bytes, bytes
    elif body.count(b".") == 2:
        parts, sep = body.split(b"."), b"."
        decode, encode = (lambda b: b64url.decode(b.decode())), (lambda b: b64url.encode(b).encode())
    else:
        parts, sep, decode, encode = [body], b"", bytes, bytes
    i = rng.randrange(min(len(parts), 2))
    try:
        parts[i] = encode(json.dumps(_mutate_tree(json.loads(decode(parts[i])), rng)).encode())
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to walk
        return None
    return sep.join(parts)


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if len(data) > 2 and rng.random() < 0.5:
        mutated = _mutate_body(data[:-2], rng)
        if mutated is not None and len(mutated) + 2 <= max_size:
            return mutated + data[-2:]
    return atheris.Mutate(data, max_size)


# --- seeds ---------------------------------------------------------------------------


def seed(target, body: bytes, flags: int = 0) -> bytes:
    """The fuzz input that runs ``target`` on ``body`` with ``flags`` (inverse of TestOneInput)."""
    index = [t for t, _ in ALL_TARGETS].index(target)
    return body + bytes([flags, index])


def make_corpus(directory: str) -> None:
    from pg_session_jwt.signing import sign

    def j(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    def part(value) -> bytes:
        return b64url.encode(j(value)).encode()

    now = 1_700_000_000
    claim_set = {"jti": 1, "sub": "alice", "aud": ["api"], "iss": "https://issuer.example",
                 "nbf": now, "exp": 4_000_000_000, "o": {"id": "00000000-0000-0000-0000-000000000001"}}
    seeds = {
        # signed with this run's key, so later runs see a bad signature (session_signed signs for real)
        "token": seed(session_token, sign(ED_PRIVATE, claim_set).encode()),
        "signed": seed(session_signed, j({"alg": "EdDSA", "kid": "ed"}) + b"\0" + j(claim_set), flags=1),
        "signed-minimal": seed(session_signed, b"{}\0" + j({"jti": 2})),
        "signed-once": seed(session_signed, b"{}\0" + j({"exp": 4_000_000_000}), flags=2),
        "signed-local": seed(session_signed, b"{}\0" + j({"jti": 3, "sub": "bob", "exp": 4_000_000_000}), flags=4),
        "jwk-ed25519": seed(jwk_parse, ED_PUBLIC_TEXT.encode()),
        "jwks": seed(jwk_parse, j({"keys": PUBLIC_JWKS[1:] + [{"kty": "EC", "use": "enc"}]})),
        "jwk-rsa": seed(jwk_parse, j(dict(PUBLIC_JWKS[0], alg="RS256"))),
        # regressions: unhashable 'crv' / 'alg' raised TypeError (fixed in c61ce10)
        "jwk-ec-crv-list": seed(jwk_parse, b'{"keys":[{"kty":"EC","crv":[]}]}'),
        "jwk-rsa-alg-list": seed(jwk_parse, j(dict(PUBLIC_JWKS[0], alg=[]))),
        "json": seed(strictjson_loads, b'{"a":[1,-2.5e3,true,null,"\\u00e9\\n"],"b":{}}'),
        "json-bytes": seed(strictjson_loads, b'["x",1e308,{"k":0}]', flags=1),
        "json-deep": seed(strictjson_loads, b"[" * 70 + b"]" * 70),
        "json-deeper": seed(claims_setting, b"[" * 1500),
        "b64url": seed(b64url_decode, b"eyJhbGciOiJFZERTQSJ9"),
        "claims": seed(claims_setting, j({"sub": "00000000-0000-0000-0000-000000000002", "role": "web"})),
        # all-zero signatures of the right length: RSA 2048 (set of all keys), ES256 (EC key alone)
        "jws-rs256": seed(jws_verify, part({"alg": "RS256", "kid": "rsa"}) + b".e30." + b"A" * 342),
        "jws-es256": seed(jws_verify, part({"alg": "ES256"}) + b".e30." + b"A" * 86, flags=2),
    }
    os.makedirs(directory, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def main() -> None:
    if sys.argv[1:2] == ["--make-corpus"]:
        make_corpus(sys.argv[2])
        return
    atheris.Setup(sys.argv, TestOneInput, custom_mutator=CustomMutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
