"""3. Cold connection: a new connection that starts a JWT session, against PL/Python's floor.

Three variants, each a fresh connection as ``app`` with the key in the
startup packet, timed client-side from before ``connect()`` to the last
result (closing is not timed):

  ours       connect; SELECT auth.init(); SELECT auth.jwt_session_init(tok);
             SELECT auth.user_id()      (three statements, as a client sends them)
  py_floor   connect; SELECT public.py_floor()   (a PL/Python function returning 1:
             the interpreter start that any PL/Python code pays)
  py_verify  connect; SELECT bench.py_cold_verify(tok)   (a bare PL/Python Ed25519
             verifier: the floor plus what any verifier loads, PyNaCl's libsodium,
             and one crypto_sign_open; reported beside the target, not in it)
  select1    connect; SELECT 1

The variants are interleaved connection by connection (the order rotates),
so load changes hit them alike; medians.  Each ``ours`` connection gets a
new pre-minted token.

Also, optionally: which modules the server path imports (the difference in
``sys.modules`` around the three statements, in a fresh backend), and what
``/usr/bin/python3 -X importtime`` says they cost when imported cold.

Target: ours at most 1.25x the PL/Python floor.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Dict, List, Optional, Tuple

import psycopg

from common import (BenchEnv, Section, Sizes, Table, TargetRow, median, paired_difference, paired_note, paired_ratio,
                    quantile, rotated, tampered)

TITLE = "Cold connection"
SYSTEM_PYTHON = "/usr/bin/python3"


def session_start_seconds(dsn: str, token: str) -> float:
    """A new connection's init, jwt_session_init and user_id, from before connect() to the last result."""
    start = time.perf_counter()
    conn = psycopg.connect(dsn, autocommit=True)
    try:
        conn.execute("SELECT auth.init()").fetchone()
        conn.execute("SELECT auth.jwt_session_init(%s)", [token]).fetchone()
        user = conn.execute("SELECT auth.user_id()").fetchone()[0]
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    assert user == "user5", user
    return elapsed


def statement_seconds(dsn: str, sql: str, params: Optional[List[str]] = None) -> float:
    """A new connection and one statement that returns 1."""
    start = time.perf_counter()
    conn = psycopg.connect(dsn, autocommit=True)
    try:
        assert conn.execute(sql, params).fetchone()[0] == 1
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return elapsed


# Where the difference goes: each a fresh connection that first runs
# public.py_floor() (so PL/Python is up), then the timed statement(s).
STEPS = {
    "one more round trip (`SELECT 1`)": ["SELECT 1"],
    "loading our code, fixing the settings (`auth._load()`)": ["SELECT auth._load()"],
    "PyNaCl's libsodium through cffi (`from nacl._sodium import ffi, lib`)": ["SELECT bench.py_import_nacl()"],
    "ours, step by step: `auth.init()` / `jwt_session_init()` / `user_id()`":
        ["SELECT auth.init()", "SELECT auth.jwt_session_init(%s)", "SELECT auth.user_id()"],
}
PY_IMPORT_NACL = """
CREATE OR REPLACE FUNCTION bench.py_import_nacl() RETURNS int LANGUAGE plpython3u AS $py$
from nacl._sodium import ffi, lib
lib.sodium_init()
return 1
$py$"""


def _steps(env: BenchEnv, statements: List[str], token: str) -> List[float]:
    """Milliseconds per statement, after PL/Python's start in a new connection."""
    conn = env.connect()
    try:
        conn.execute("SELECT public.py_floor()").fetchone()
        times = []
        for sql in statements:
            start = time.perf_counter()
            conn.execute(sql, [token] if "%s" in sql else None)
            times.append((time.perf_counter() - start) * 1e3)
        return times
    finally:
        conn.close()


def breakdown(env: BenchEnv, rounds: int, tokens: List[str]) -> Table:
    with env.superuser() as su:
        su.execute(PY_IMPORT_NACL)
    samples: Dict[str, List[List[float]]] = {label: [] for label in STEPS}
    labels = list(STEPS)
    for i in range(rounds):
        for label in rotated(labels, i):
            samples[label].append(_steps(env, STEPS[label], tokens[i]))
    rows = []
    for label, runs in samples.items():
        per_statement = [median([run[k] for run in runs]) for k in range(len(STEPS[label]))]
        rows.append([label, len(runs), " / ".join(f"{ms:.2f}" for ms in per_statement)])
    return Table(["after PL/Python's start, a new connection's first …", "connections", "median ms"], rows,
                 align="lrr")


# The least a PL/Python Ed25519 verifier loads and does on a new connection:
# the binding ours uses (with sodium_init(), as ours calls it), base64url by
# binascii, one crypto_sign_open against a key baked into the body.
PY_COLD_VERIFY = """
CREATE OR REPLACE FUNCTION bench.py_cold_verify(token text) RETURNS int LANGUAGE plpython3u AS $py$
import binascii
from nacl._sodium import ffi, lib
lib.sodium_init()
signing_input, _, sig = token.rpartition(".")
sm = binascii.a2b_base64(sig.replace("-", "+").replace("_", "/") + "=" * (-len(sig) % 4)) + signing_input.encode()
return int(lib.crypto_sign_open(ffi.new("unsigned char[]", len(sm)), ffi.NULL, sm, len(sm),
                               bytes.fromhex("{pk}")) == 0)
$py$"""
PY_COLD_VERIFY_CALL = "SELECT bench.py_cold_verify(%s)"


def create_cold_verifier(env: BenchEnv, token: str) -> None:
    """Create the bare verifier and check that it verifies: a valid token passes, a tampered one does not."""
    with env.superuser() as su:
        su.execute(PY_COLD_VERIFY.replace("{pk}", env.public_key.hex()))
    with env.connect() as conn:
        answers = [conn.execute(PY_COLD_VERIFY_CALL, [t]).fetchone()[0] for t in (token, tampered(token))]
    if answers != [1, 0]:
        raise AssertionError(f"bench.py_cold_verify answered {answers} for a valid and a forged token")


VARIANTS = {
    "ours": "connect + `auth.init()` + `auth.jwt_session_init()` + `auth.user_id()`",
    "py_floor": "connect + `SELECT public.py_floor()` (PL/Python floor)",
    "py_verify": "connect + a bare PL/Python Ed25519 verify (`bench.py_cold_verify(tok)`)",
    "select1": "connect + `SELECT 1`",
}


def run(env: BenchEnv, sizes: Sizes) -> Section:
    n = sizes.cold_connections
    tokens = env.tokens(n + 2)
    create_cold_verifier(env, tokens[-1])
    samples: Dict[str, List[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    dsn = env.dsn()

    def measure(name: str, i: int) -> float:
        if name == "ours":
            return session_start_seconds(dsn, tokens[i])
        if name == "py_verify":
            return statement_seconds(dsn, PY_COLD_VERIFY_CALL, [tokens[i]])
        return statement_seconds(dsn, "SELECT public.py_floor()" if name == "py_floor" else "SELECT 1")

    for i in range(2):  # warm-up: page cache, the catalog caches of a new database
        for name in names:
            measure(name, n + i)
    for i in range(n):
        for name in rotated(names, i):
            samples[name].append(measure(name, i) * 1e3)

    med = {name: median(v) for name, v in samples.items()}
    paired = paired_ratio(samples["ours"], samples["py_floor"])  # per round: measured back to back
    section = Section(3, TITLE, method=_method(sizes))
    section.targets.append(TargetRow(
        workload="Cold connection: connect + init + jwt_session_init + user_id",
        ours=f"{med['ours']:.1f} ms",
        peers=f"connect + PL/Python floor {med['py_floor']:.1f} ms; connect + select 1 {med['select1']:.1f} ms",
        value=paired,
        limit=1.25, short="cold connection\nvs PL/Python floor"))
    rows = []
    for name, label in VARIANTS.items():
        v = samples[name]
        rows.append([label, len(v), f"{med[name]:.2f}", f"{quantile(v, 0.1):.2f}", f"{quantile(v, 0.9):.2f}",
                     f"{med[name] / med['py_floor']:.2f}x", f"{med[name] / med['select1']:.2f}x"])
    section.tables.append(Table(["variant", "connections", "median ms", "p10 ms", "p90 ms", "vs PL/Python floor",
                                 "vs select 1"], rows, align="lrrrrrr"))
    section.notes.append(paired_note(f"the {n} per-round ratios (ours over the floor measured in the same round)",
                                     paired, med["ours"] / med["py_floor"]))
    section.notes.append(f"Beyond the PL/Python floor, our session start costs "
                         f"{med['ours'] - med['py_floor']:.2f} ms on a cold connection; PL/Python's own start "
                         f"costs {med['py_floor'] - med['select1']:.2f} ms over `select 1`.")
    section.notes.append(
        f"Against the bare PL/Python verifier (the floor, PyNaCl's libsodium and one Ed25519 verify: the least "
        f"any PL/Python verifier pays on a new connection), ours is "
        f"{paired_ratio(samples['ours'], samples['py_verify']):.2f}x (per-round ratios; "
        f"{paired_difference(samples['ours'], samples['py_verify']):.2f} ms more). Not a target: reported so the "
        "cost of the binding can be told apart from ours.")

    section.tables.append(breakdown(env, max(1, n // 2), env.tokens(max(1, n // 2))))
    section.notes.append("The second table splits the difference: each row is a new connection whose "
                         "PL/Python already ran `public.py_floor()`, timing the statements named. A round "
                         "trip is in every statement's time.")

    imports = server_imports(env, tokens[-1])
    if imports is not None:
        table, note = importtime(imports)
        if table is not None:
            section.tables.append(table)
        section.notes.append(note)
    return section


def server_imports(env: BenchEnv, token: str) -> Optional[List[str]]:
    """Modules, loaded from files, that the three statements import in a fresh backend."""
    try:
        with env.superuser() as su:
            su.execute("""
                CREATE OR REPLACE FUNCTION bench.py_new_modules(snapshot boolean) RETURNS text[]
                LANGUAGE plpython3u AS $py$
import os, sys
if snapshot:
    GD["bench.modules"] = set(sys.modules)
    return []
names = []
for name in set(sys.modules) - GD.get("bench.modules", set()):
    spec = getattr(sys.modules[name], "__spec__", None)
    if spec is not None and isinstance(spec.origin, str) and os.path.isfile(spec.origin):
        names.append(name)
return sorted(names)
$py$""")
        with env.superuser(jwk=True) as conn:
            conn.execute("SELECT bench.py_new_modules(true)")
            conn.execute("SELECT auth.init()")
            conn.execute("SELECT auth.jwt_session_init(%s)", [token])
            conn.execute("SELECT auth.user_id()")
            return conn.execute("SELECT bench.py_new_modules(false)").fetchone()[0]
    except Exception:  # noqa: BLE001 - optional extra
        return None


_MARK = "-- bench: start --"
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def importtime(modules: List[str]) -> Tuple[Optional[Table], str]:
    """Cold import cost of ``modules`` in the system Python (PL/Python's, on Debian)."""
    if not modules:
        return None, "The server path imported no module from a file beyond what PL/Python had loaded."
    if not os.path.exists(SYSTEM_PYTHON):
        return None, f"{SYSTEM_PYTHON} not found: import times skipped."
    # The marker separates the interpreter's own start-up imports from ours in the output.
    # __import__, not importlib.import_module: the latter bypasses the C import that -X importtime times.
    code = (f"import sys\nsys.stderr.write('{_MARK}\\n')\nsys.stderr.flush()\n"
            f"for m in {modules!r}:\n    try:\n        __import__(m)\n    except ImportError:\n        pass")
    cmd = [SYSTEM_PYTHON, "-X", "importtime", "-c", code]
    try:
        subprocess.run(cmd, capture_output=True, timeout=30)  # warm the page cache
        err = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"importtime failed: {e}"
    entries = []
    for line in err.partition(_MARK)[2].splitlines():
        m = _LINE.match(line)
        if m:
            entries.append((m.group(4), int(m.group(1)), int(m.group(2)), len(m.group(3)) == 0))
    total = sum(cum for _, _, cum, top in entries if top)
    top = sorted(entries, key=lambda e: -e[2])[:10]
    table = Table(["module (cold import, `python3 -X importtime`)", "self µs", "cumulative µs"],
                  [[f"`{name}`", self_us, cum] for name, self_us, cum, _ in top], align="lrr")
    note = (f"The server path imports {len(modules)} modules from files "
            f"({', '.join('`' + m + '`' for m in modules)}); importing them all cold with "
            f"`{SYSTEM_PYTHON} -X importtime` takes {total / 1000:.1f} ms "
            "(top entries by cumulative time in the table; PL/Python's interpreter may differ).")
    return table, note


def _method(sizes: Sizes) -> str:
    return (f"{sizes.cold_connections} connections per variant, interleaved; client-side time from before "
            "`connect()` to the last result (Unix socket, key in the startup packet). Medians; the ratio "
            "against the target is the median of per-round ratios.")
