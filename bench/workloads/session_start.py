"""2. Session start: ``auth.jwt_session_init()`` against a bare Ed25519 verify and HS256 in SQL.

Every variant gets one pre-minted token per call (Ed25519, realistic ~500-byte
claims, ``jti`` strictly increasing) and runs on the same ``app`` connection:

  ours        PERFORM auth.jwt_session_init(tok)  (the full path: key, signature,
              jti, nbf/exp, set_config; the first call, which loads the code, is
              in the warm-up)
  bindings    a bare PL/Python function (superuser-created): split the token,
              base64url-decode the signature, nacl.bindings.crypto_sign_open
  ffi         the same with ``from nacl._sodium import ffi, lib``:
              lib.crypto_sign_open into a preallocated buffer
  hs256_sql   what pgjwt does: split in SQL, base64url-decode header and payload
              to json, compare the decoded signature with pgcrypto's
              hmac(header.payload, secret, 'sha256'); the token is the same
              payload under an HS256 header

Timing is server-side: a PL/pgSQL function per variant loops over an array
of tokens and records ``clock_timestamp()`` before and after each call
(microsecond resolution), so the client round trip is not in the numbers.
Every variant is called as a statement (PERFORM, SELECT ... INTO), the way
a client's query reaches it: ours returns void and has no other form, and
an assignment (``ok := f(tok)``) would let the peers skip the executor,
3-4 µs that ours cannot skip.
Medians are interpolated within the clock's 1 µs steps (common.step_median),
so differences below a microsecond still show over 1,000 calls.
The calls are split in chunks and the variants interleaved chunk by chunk.
The peers' answers are checked (every valid token accepted; a tampered one
refused before timing).  The loop's own cost (an empty body) is reported.

Target: the median of ``ours`` at most 1.3x that of the faster bare verify.
"""

from __future__ import annotations

from typing import Dict, List

from common import (BenchEnv, Section, Sizes, Table, TargetRow, paired_note, paired_ratio, quantile, rotated,
                    step_median, tampered)

TITLE = "Session start"

# name -> (statement timed per token, statement checking it afterwards)
CALLS = {
    "ours": ("PERFORM auth.jwt_session_init(tok)", ""),
    "bindings": ("SELECT bench.py_verify_bindings(tok) INTO ok",
                 "IF NOT ok THEN RAISE 'bindings refused a valid token'; END IF;"),
    "ffi": ("SELECT bench.py_verify_ffi(tok) INTO ok", "IF NOT ok THEN RAISE 'ffi refused a valid token'; END IF;"),
    "hs256_sql": ("SELECT v.valid INTO ok FROM bench.hs256_verify(tok, secret) v",
                  "IF NOT ok THEN RAISE 'hs256 refused a valid token'; END IF;"),
    "empty": ("ok := true", ""),
}

LABELS = {
    "ours": "`auth.jwt_session_init(tok)`",
    "bindings": "bare PL/Python: `nacl.bindings.crypto_sign_open`",
    "ffi": "bare PL/Python: `nacl._sodium` `lib.crypto_sign_open`",
    "hs256_sql": "HS256 in SQL (pgjwt style, pgcrypto `hmac`)",
    "empty": "the timing loop alone (empty body)",
}

LOOP = """
CREATE FUNCTION bench.time_{name}(tokens text[], secret text) RETURNS float8[]
LANGUAGE plpgsql AS $f$
DECLARE
  tok text;
  ok boolean;
  t0 timestamptz;
  t1 timestamptz;
  out float8[] := '{{}}';
BEGIN
  FOREACH tok IN ARRAY tokens LOOP
    t0 := clock_timestamp();
    {call};
    t1 := clock_timestamp();
    out := out || (extract(epoch FROM t1 - t0) * 1e6)::float8;
    {check}
  END LOOP;
  RETURN out;
END
$f$"""

PY_BINDINGS = """
CREATE FUNCTION bench.py_verify_bindings(token text) RETURNS boolean
LANGUAGE plpython3u AS $py$
f = SD.get("f")
if f is None:
    import base64
    from nacl.bindings import crypto_sign_open
    f = SD["f"] = (crypto_sign_open, base64.urlsafe_b64decode, bytes.fromhex("{pk}"))
sign_open, b64decode, pk = f
signing_input, _, sig = token.rpartition(".")
try:
    sign_open(b64decode(sig + "=" * (-len(sig) % 4)) + signing_input.encode(), pk)
except Exception:
    return False
return True
$py$"""

PY_FFI = """
CREATE FUNCTION bench.py_verify_ffi(token text) RETURNS boolean
LANGUAGE plpython3u AS $py$
f = SD.get("f")
if f is None:
    import base64
    from nacl._sodium import ffi, lib
    f = SD["f"] = (lib.crypto_sign_open, ffi.new("unsigned char[]", 65536), ffi.new("unsigned long long *"),
                   base64.urlsafe_b64decode, bytes.fromhex("{pk}"))
sign_open, buf, mlen, b64decode, pk = f
signing_input, _, sig = token.rpartition(".")
try:
    sm = b64decode(sig + "=" * (-len(sig) % 4)) + signing_input.encode()
except Exception:
    return False
return len(sm) <= 65536 and sign_open(buf, mlen, sm, len(sm), pk) == 0
$py$"""

# pgjwt's url_decode and verify, reduced to the HS256 case.
HS256_SQL = [r"""
CREATE FUNCTION bench.url_decode(data text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  WITH t AS (SELECT translate(data, '-_', '+/') AS trans),
       rem AS (SELECT length(t.trans) % 4 AS remainder FROM t)
  SELECT decode(t.trans || CASE WHEN rem.remainder > 0 THEN repeat('=', 4 - rem.remainder) ELSE '' END,
                'base64')
  FROM t, rem
$$""", r"""
CREATE FUNCTION bench.hs256_verify(token text, secret text)
RETURNS TABLE(header json, payload json, valid boolean) LANGUAGE sql IMMUTABLE AS $$
  SELECT convert_from(bench.url_decode(r[1]), 'utf8')::json,
         convert_from(bench.url_decode(r[2]), 'utf8')::json,
         bench.url_decode(r[3]) = public.hmac(r[1] || '.' || r[2], secret, 'sha256')
  FROM regexp_split_to_array(token, '\.') r
$$"""]


def create_functions(env: BenchEnv) -> None:
    with env.superuser() as su:
        pk = env.public_key.hex()
        su.execute(PY_BINDINGS.replace("{pk}", pk))
        su.execute(PY_FFI.replace("{pk}", pk))
        for sql in HS256_SQL:
            su.execute(sql)
        for name, (call, check) in CALLS.items():
            su.execute(LOOP.format(name=name, call=call, check=check))


def check_peers(conn, env: BenchEnv, token: str) -> None:
    """Each peer must accept the token and refuse a tampered one, or they would time different work."""
    hs = env.hs256_twin(token)
    for sql, good, bad in [
        ("SELECT bench.py_verify_bindings(%s)", token, tampered(token)),
        ("SELECT bench.py_verify_ffi(%s)", token, tampered(token)),
        ("SELECT valid FROM bench.hs256_verify(%s, %s)", hs, tampered(hs)),
    ]:
        args = lambda tok: [tok, env.hs256_secret] if "hs256" in sql else [tok]  # noqa: E731
        if conn.execute(sql, args(good)).fetchone()[0] is not True:
            raise AssertionError(f"{sql}: a valid token was refused")
        if conn.execute(sql, args(bad)).fetchone()[0] is not False:
            raise AssertionError(f"{sql}: a tampered token was accepted")


def run(env: BenchEnv, sizes: Sizes) -> Section:
    create_functions(env)
    n, chunks = sizes.session_calls, max(1, min(sizes.session_chunks, sizes.session_calls))
    warm = env.tokens(20)
    tokens = env.tokens(n)   # minted after the warm-up ones: jti keeps increasing
    hs_warm = [env.hs256_twin(t) for t in warm]
    hs_tokens = [env.hs256_twin(t) for t in tokens]

    samples: Dict[str, List[float]] = {name: [] for name in CALLS}
    with env.connect() as conn:
        check_peers(conn, env, warm[0])

        def loop(name: str, ed: List[str], hs: List[str]) -> List[float]:
            toks = hs if name == "hs256_sql" else ed
            return conn.execute(f"SELECT bench.time_{name}(%s, %s)", [toks, env.hs256_secret]).fetchone()[0]

        for name in CALLS:  # warm-up: loads the extension's code, the peers' imports, plans
            loop(name, warm, hs_warm)
        names = list(CALLS)
        bounds = [round(i * n / chunks) for i in range(chunks + 1)]
        for c in range(chunks):
            ed, hs = tokens[bounds[c]:bounds[c + 1]], hs_tokens[bounds[c]:bounds[c + 1]]
            for name in rotated(names, c):
                samples[name].extend(loop(name, ed, hs))
        assert conn.execute("SELECT auth.user_id()").fetchone()[0] == "user5"

    med = {name: step_median(v, 1.0) for name, v in samples.items()}
    fastest = min(("bindings", "ffi"), key=lambda k: med[k])
    # A chunk of ours and the same chunk of the peer ran a fraction of a
    # second apart: the ratio is taken chunk by chunk.
    def chunk_medians(name: str) -> List[float]:
        return [step_median(samples[name][a:b]) for a, b in zip(bounds, bounds[1:])]

    paired = paired_ratio(chunk_medians("ours"), chunk_medians(fastest))
    section = Section(2, TITLE, method=_method(sizes))
    section.targets.append(TargetRow(
        workload="Session start: `auth.jwt_session_init()` per call",
        ours=f"{med['ours']:.1f} µs",
        peers=(f"bare Ed25519 verify in PL/Python {med[fastest]:.1f} µs ({fastest}; "
               f"{'ffi' if fastest == 'bindings' else 'bindings'} "
               f"{med['ffi' if fastest == 'bindings' else 'bindings']:.1f} µs); "
               f"HS256 in SQL {med['hs256_sql']:.1f} µs"),
        value=paired,
        limit=1.3, short="jwt_session_init()\nvs bare Ed25519 verify"))
    rows = []
    for name, v in samples.items():
        ratios = ["—", "—"] if name == "empty" else [f"{med[name] / med[fastest]:.2f}x",
                                                     f"{med['ours'] / med[name]:.2f}x"]
        rows.append([LABELS[name], len(v), f"{med[name]:.1f}", f"{quantile(v, 0.1):.1f}",
                     f"{quantile(v, 0.9):.1f}", *ratios])
    section.tables.append(Table(
        ["variant", "calls", "median µs", "p10 µs", "p90 µs", "vs fastest bare verify", "ours / this"],
        rows, align="lrrrrrr"))
    section.notes.append(paired_note(f"the {chunks} per-chunk ratios (ours over {fastest}, chunk by chunk)",
                                     paired, med["ours"] / med[fastest]))
    section.notes.append(f"Tokens are {len(tokens[0])} characters (EdDSA; the HS256 twins "
                         f"{len(hs_tokens[0])}). clock_timestamp() has 1 µs resolution; medians are interpolated "
                         "within its steps, p10/p90 are raw readings.")
    return section


def _method(sizes: Sizes) -> str:
    return (f"{sizes.session_calls:,} calls per variant on one connection, one new token per call "
            "(jti increasing), pre-minted. Server-side: a PL/pgSQL loop per variant records "
            "`clock_timestamp()` around each call, made as a statement (`PERFORM`, `SELECT … INTO`) "
            "like a client's query; variants interleaved in "
            f"{sizes.session_chunks} chunks. Medians; the peer is the faster of the two bare verifies.")
