"""What every workload shares: sizes, the bench database, keys, tokens, results.

:class:`BenchEnv` wraps one throwaway :class:`~pg_session_jwt.cluster.Cluster`
with a database ``bench`` in which the plain login role ``app`` created the
extension (as applications do), and the superuser added what the peers need
(``pgcrypto``, a schema ``bench`` for PL/Python and PL/pgSQL helpers, and
``public.py_floor()``).  ``app`` connections carry the Ed25519 public key in
the startup packet, as a proxy would send it.

A workload module exposes ``TITLE`` and ``run(env, sizes) -> Section``; the
:class:`Section` holds its target rows (ours against a peer, with a target),
its detail tables and notes, which :mod:`report` turns into Markdown and a
chart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import psycopg

from pg_session_jwt.client import startup_options
from pg_session_jwt.cluster import Cluster
from pg_session_jwt.signing import Minter, ed25519_keypair

DB = "bench"
ROLE = "app"
SUB = "user5"


@dataclass(frozen=True)
class Sizes:
    """How much of each workload to run (``FULL`` or ``QUICK``)."""

    rls_rows: int              # rows in the RLS table
    rls_rounds: int            # interleaved rounds over the six predicates
    rls_cheap_reps: int        # extra runs of the cheap three per round (they are ~50x cheaper)
    session_calls: int         # jwt_session_init calls (and as many per peer)
    session_chunks: int        # the calls are split in chunks, variants interleaved per chunk
    cold_connections: int      # connections per cold-start variant
    memory_connections: int    # connections per memory variant
    scaling_calls: int         # session starts per concurrency level and pass (split across connections)
    scaling_seconds: float     # ... or until this much time passed, whichever comes first
    scaling_passes: int        # passes over the levels, alternately up and down; median per level


FULL = Sizes(rls_rows=1_000_000, rls_rounds=7, rls_cheap_reps=6, session_calls=1000, session_chunks=10,
             cold_connections=50, memory_connections=5, scaling_calls=8000, scaling_seconds=5.0,
             scaling_passes=3)
QUICK = Sizes(rls_rows=20_000, rls_rounds=3, rls_cheap_reps=2, session_calls=50, session_chunks=5,
              cold_connections=5, memory_connections=2, scaling_calls=400, scaling_seconds=0.5,
              scaling_passes=1)


# --- results ------------------------------------------------------------------

@dataclass
class TargetRow:
    """One line of the results table: ours against a peer, with a target.

    ``value`` is what the target limits (a ratio, or MiB for memory) and
    ``limit`` the most it may be; ``unit`` is ``"x"`` or ``"MiB"``.
    """

    workload: str
    ours: str
    peers: str
    value: float
    limit: float
    unit: str = "x"
    short: str = ""  # the chart's label

    @property
    def met(self) -> bool:
        return self.value <= self.limit

    @property
    def value_text(self) -> str:
        """Two decimals; three when two would round the value onto its limit and hide which side it is on."""
        digits = 3 if round(self.value, 2) == round(self.limit, 2) and self.value != self.limit else 2
        return f"{self.value:.{digits}f}x" if self.unit == "x" else f"{self.value:+.{digits}f} MiB"

    @property
    def target_text(self) -> str:
        return f"≤ {self.limit:.2f}x" if self.unit == "x" else f"≤ +{self.limit:g} MiB"


@dataclass
class Table:
    headers: Sequence[str]
    rows: List[Sequence[Any]]
    align: str = ""  # one of "l"/"r" per column; default: first left, the rest right


@dataclass
class Section:
    number: int
    title: str
    method: str                                   # what is measured and how (Markdown)
    targets: List[TargetRow] = field(default_factory=list)
    tables: List[Table] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    chart: Dict[str, Any] = field(default_factory=dict)  # extra series for the chart (scaling)
    error: Optional[str] = None
    seconds: float = 0.0


# --- numbers ------------------------------------------------------------------

def rotated(items: Sequence[Any], i: int) -> List[Any]:
    """``items`` starting at position ``i`` (modulo their number): interleaved
    variants take turns at going first, so none always runs right after
    the same neighbour."""
    k = i % len(items)
    return list(items[k:]) + list(items[:k])


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def step_median(values: Sequence[float], step: float = 1.0) -> float:
    """The median of values read from a clock that ticks every ``step``.

    Such values are multiples of the step, so their plain median is too; this
    one interpolates within the step holding the middle (the median of
    grouped data: each reading k stands for [k - step/2, k + step/2)), which
    resolves differences smaller than a tick when there are many readings.
    """
    data = sorted(values)
    n = len(data)
    mid = median(data)
    below = sum(1 for v in data if v < mid - step / 2)
    inside = sum(1 for v in data if mid - step / 2 <= v < mid + step / 2)
    if inside == 0:
        return mid
    return mid - step / 2 + (n / 2 - below) / inside * step


def paired_ratio(ours: Sequence[float], peer: Sequence[float]) -> float:
    """The median of ``ours[i] / peer[i]``, for samples taken back to back.

    This machine's speed drifts by tens of percent for seconds at a time;
    two samples taken moments apart saw the same speed, so their ratio
    does not depend on which variant's samples fell into a slow stretch,
    as the ratio of two medians does.
    """
    if len(ours) != len(peer):
        raise ValueError(f"unpaired samples: {len(ours)} against {len(peer)}")
    return median([o / p for o, p in zip(ours, peer)])


def paired_difference(ours: Sequence[float], peer: Sequence[float]) -> float:
    """The median of ``ours[i] - peer[i]``, for samples taken back to back (see :func:`paired_ratio`)."""
    if len(ours) != len(peer):
        raise ValueError(f"unpaired samples: {len(ours)} against {len(peer)}")
    return median([o - p for o, p in zip(ours, peer)])


def paired_note(what: str, paired: float, of_medians: float, digits: int = 2) -> str:
    """The sentence that says how a target's ratio was taken, beside the ratio of the medians."""
    return (f"The ratio against the target is the median of {what}: {paired:.{digits}f}x; the ratio of the "
            f"medians is {of_medians:.{digits}f}x. They differ when the machine's speed changed during the run.")


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), linear between order statistics."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = q * (len(data) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


# --- tokens -------------------------------------------------------------------

def realistic_claims(sub: str = SUB) -> Dict[str, Any]:
    """PostgREST/Supabase-shaped claims, about 500 bytes of JSON."""
    now = int(time.time())
    return {
        "aud": "authenticated", "exp": now + 3600, "iat": now, "iss": "https://auth.example.com/auth/v1",
        "sub": sub, "email": f"{sub}@example.com", "phone": "", "role": "authenticated",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"name": "User Five"}, "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}], "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tampered(token: str) -> str:
    """``token`` with one payload character changed (not the last, whose
    spare bits could make the change invisible): a verifier must refuse it."""
    head, payload, sig = token.split(".")
    return head + "." + payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + sig


# --- the environment ------------------------------------------------------------

class BenchEnv:
    """The cluster, the ``bench`` database, the key, and token minting."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.private_jwk, self.public_jwk = ed25519_keypair()
        self.public_key = b64url_decode(self.public_jwk["x"])
        self.minter = Minter(self.private_jwk, ttl=3600)
        self.hs256_secret = "bench-hs256-secret-" + uuid.uuid4().hex
        # Claims for every token: the realistic ones, less what the minter sets.
        self._extra = {k: v for k, v in realistic_claims().items() if k not in ("sub", "iat", "exp")}
        self._server_info: Optional[Dict[str, str]] = None

    def setup(self, dbname: str = DB, version: Optional[str] = None) -> None:
        """The bench database (or another, with another version of the extension) and its peers' set-up."""
        self.cluster.create_app_database(dbname, ROLE, version)
        with self.cluster.connect(dbname=dbname) as su:
            su.execute("CREATE EXTENSION pgcrypto")
            su.execute("CREATE SCHEMA bench")
            su.execute(f"GRANT USAGE ON SCHEMA bench TO {ROLE}")
            su.execute("CREATE FUNCTION public.py_floor() RETURNS int LANGUAGE plpython3u AS 'return 1'")

    # connections
    def dsn(self, jwk: bool = True) -> str:
        params = {"options": startup_options(jwk=self.public_jwk)} if jwk else {}
        return self.cluster.dsn(ROLE, DB, **params)

    def connect(self, jwk: bool = True) -> psycopg.Connection:
        """An autocommit connection as ``app``, by default with the key in the startup packet."""
        return psycopg.connect(self.dsn(jwk), autocommit=True)

    def superuser(self, jwk: bool = False) -> psycopg.Connection:
        params = {"options": startup_options(jwk=self.public_jwk)} if jwk else {}
        return psycopg.connect(self.cluster.dsn("postgres", DB, **params), autocommit=True)

    # tokens
    def token(self) -> str:
        """A new Ed25519 token for ``user5`` with realistic claims; ``jti`` above every earlier one."""
        return self.minter.token(SUB, **self._extra)

    def tokens(self, n: int) -> List[str]:
        return [self.token() for _ in range(n)]

    def hs256_twin(self, token: str) -> str:
        """The same payload under an HS256 header, signed with the bench's secret (what pgjwt checks)."""
        payload = token.split(".")[1]
        signing_input = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()) + "." + payload
        mac = hmac.new(self.hs256_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64url(mac)

    # the server's side
    def server_info(self) -> Dict[str, str]:
        """PostgreSQL's version, and the Python, PyNaCl and libsodium that PL/Python uses."""
        if self._server_info is None:
            with self.superuser() as su:
                su.execute("""
                    CREATE OR REPLACE FUNCTION bench.py_env() RETURNS text LANGUAGE plpython3u AS $py$
import ctypes, ctypes.util, json, sys
import nacl
sodium = "?"
name = ctypes.util.find_library("sodium")
if name:
    try:
        lib = ctypes.CDLL(name)
        lib.sodium_version_string.restype = ctypes.c_char_p
        sodium = lib.sodium_version_string().decode()
    except (OSError, AttributeError):
        pass
return json.dumps({"python": sys.version.split()[0], "pynacl": nacl.__version__, "libsodium": sodium})
$py$""")
                info = json.loads(su.execute("SELECT bench.py_env()").fetchone()[0])
                info["postgresql"] = su.execute("SHOW server_version").fetchone()[0]
                info["postgresql_full"] = su.execute("SELECT version()").fetchone()[0]
            self._server_info = info
        return self._server_info
