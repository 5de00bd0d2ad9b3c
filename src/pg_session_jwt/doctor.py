"""Check that a server can run pg_session_jwt, and say how to fix what is missing.

Most set-up problems only show at the first login (PL/Python not installed,
the server's Python lacking PyNaCl, no key or a malformed one), and then as
a bare SQLSTATE.  :func:`run` walks the chain from connection to key on one
fresh connection, as an application would open it, and turns each failure
into a sentence with its fix.  It changes nothing on the server.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import psycopg
from psycopg import conninfo

from . import __version__, jwk, settings
from .errors import JWTError
from .options import (STARTUP_PACKET_LIMIT, StartupPacketTooLarge, startup_packet_size, startup_parameters,
                      with_settings)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

# Runs in the server's Python (superusers only: plpython3u is untrusted), in
# a transaction that is rolled back.
CRYPTO_PROBE = """
CREATE FUNCTION pg_temp.pg_session_jwt_doctor() RETURNS text LANGUAGE plpython3u AS $py$
import json, sys
found = {"python": sys.version.split()[0]}
for name in ("nacl", "cryptography"):
    try:
        found[name] = getattr(__import__(name), "__version__", "unknown version")
    except Exception as e:
        found[name] = None
        found[name + "_error"] = str(e)
return json.dumps(found)
$py$
"""


@dataclass
class Check:
    """One line of the report: what was checked, how it went, how to fix it."""

    name: str
    status: str
    message: str
    fix: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def failed(checks: List[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


def _scalar(conn: psycopg.Connection, sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _error_text(e: psycopg.Error) -> str:
    detail = e.diag.message_detail
    return f"{e.sqlstate} {e.diag.message_primary}" + (f" ({detail})" if detail else "")


def check_plpython(conn: psycopg.Connection, major: int) -> Check:
    if _scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'plpython3u'"):
        return Check("plpython", OK, "plpython3u is installed in this database")
    if _scalar(conn, "SELECT 1 FROM pg_available_extensions WHERE name = 'plpython3u'"):
        return Check("plpython", FAIL, "plpython3u is available but not installed in this database",
                     "as a superuser, in this database: CREATE EXTENSION plpython3u")
    return Check("plpython", FAIL, "PL/Python (plpython3u) is not available on this server",
                 f"install it on the server host: apt-get install postgresql-plpython3-{major}"
                 f" (RHEL/PGDG: postgresql{major}-plpython3; Alpine: postgresql-plpython3)")


def check_extension(conn: psycopg.Connection) -> Check:
    installed = _scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'pg_session_jwt'")
    default = _scalar(conn, "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_session_jwt'")
    if installed is None and default is None:
        return Check("extension", FAIL, "pg_session_jwt is not installed on this server",
                     "on the server host, in the project: make install PG_CONFIG=/path/to/pg_config")
    if installed is None:
        return Check("extension", FAIL, f"pg_session_jwt {default} is available but not created in this database",
                     "CREATE EXTENSION pg_session_jwt (after a superuser ran CREATE EXTENSION plpython3u)")
    if default and installed != default:
        return Check("extension", WARN, f"pg_session_jwt {installed} is installed; the server has {default}",
                     "ALTER EXTENSION pg_session_jwt UPDATE")
    return Check("extension", OK, f"pg_session_jwt {installed} (this client: {__version__})")


def crypto_from_probe(found: Dict[str, Any]) -> Check:
    """The server-Python check, from what :data:`CRYPTO_PROBE` reported."""
    python = found.get("python", "?")
    if not found.get("nacl"):
        return Check("server python", FAIL, f"the server's Python {python} cannot import nacl (PyNaCl): "
                     f"{found.get('nacl_error', '')}".rstrip(": "),
                     "install PyNaCl for the Python PL/Python uses, e.g. apt-get install python3-nacl")
    if not found.get("cryptography"):
        return Check("server python", WARN, f"Python {python} has PyNaCl {found['nacl']} but not cryptography:"
                     " Ed25519 keys work, RSA and EC keys will not",
                     "for RSA/EC keys: apt-get install python3-cryptography (or pip install it for that Python)")
    return Check("server python", OK, f"Python {python}, PyNaCl {found['nacl']}, cryptography {found['cryptography']}")


def describe_keys(text: str) -> str:
    """``2 keys: EdDSA kid='a', RS256 kid='b'`` for a configured key setting."""
    parsed = jwk.parse(text)
    names = [f"{'/'.join(sorted(k.algs))}" + (f" kid={k.kid!r}" if k.kid is not None else "") for k in parsed.keys]
    return f"{len(names)} key{'s' if len(names) != 1 else ''}: " + ", ".join(names)


def try_init(conn: psycopg.Connection) -> Tuple[Optional[psycopg.Error], List[str]]:
    """``auth.init()``: loads the key as the connection started with it.

    Returns its error (None: fine) and the WARNINGs it raised, one per key of
    the set that the server skipped.
    """
    warnings: List[str] = []

    def collect(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
            warnings.append(diag.message_primary)

    conn.add_notice_handler(collect)
    try:
        with conn.transaction():
            conn.execute("SELECT auth.init()")
    except psycopg.Error as e:
        return e, warnings
    finally:
        conn.remove_notice_handler(collect)
    return None, warnings


def check_key(conn: psycopg.Connection, error: Optional[psycopg.Error], warnings: Sequence[str] = ()) -> Check:
    if error is None:
        text = _scalar(conn, "SELECT current_setting('pg_session_jwt.jwk', true)")
        try:
            summary = describe_keys(text)
        except (JWTError, ImportError):
            summary = "the server accepts it"  # this client lacks what the server has (e.g. cryptography)
        if warnings:
            return Check("jwk", WARN, f"key set in use ({summary}); the server skips {len(warnings)}: "
                         + "; ".join(w.split(": skipped key ", 1)[-1] for w in warnings),
                         "nothing, if the provider publishes keys this server need not use; else give the server"
                         " a usable form of those keys")
        return Check("jwk", OK, f"key configured and valid ({summary})")
    if error.sqlstate == "02000":
        return Check("jwk", WARN, "no key configured: the functions read PostgREST's request.jwt.claims",
                     "to verify tokens, set pg_session_jwt.jwk to the issuer's public JWK: postgresql.conf,"
                     " ALTER DATABASE ... SET, or the startup packet (PGOPTIONS='-c pg_session_jwt.jwk=...')")
    if error.sqlstate == "58P01":
        return Check("jwk", SKIP, "not checked: the server's Python cannot load the key's crypto (see above)")
    if error.sqlstate == "42501":
        return Check("jwk", SKIP, f"not checked: {error.diag.message_primary}",
                     "run doctor as a role that may use schema auth")
    return Check("jwk", FAIL, f"the configured key is refused: {_error_text(error)}",
                 "configure the issuer's public JWK (`pg-session-jwt keygen` makes a key pair)")


def check_crypto(conn: psycopg.Connection, superuser: bool, error: Optional[psycopg.Error]) -> Check:
    """With a superuser, import the packages in the server's Python; else judge by auth.init()."""
    if superuser:
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(CRYPTO_PROBE)
                found = json.loads(_scalar(conn, "SELECT pg_temp.pg_session_jwt_doctor()"))
        except psycopg.Error as e:
            return Check("server python", FAIL, f"could not run PL/Python: {_error_text(e)}",
                         "check that plpython3u works: DO $$ plpy.notice('hi') $$ LANGUAGE plpython3u")
        return crypto_from_probe(found)
    if error is None:
        return Check("server python", OK, "the server's Python loaded the crypto the configured key needs")
    if error.sqlstate == "58P01":
        return Check("server python", FAIL, f"{error.sqlstate} {error.diag.message_primary}",
                     error.diag.message_detail)
    return Check("server python", SKIP, "not checked: needs a superuser, or a configured key",
                 "run doctor as a superuser to check PyNaCl and cryptography in the server's Python")


def check_settings(conn: psycopg.Connection) -> Check:
    values = {name: _scalar(conn, "SELECT current_setting(%s, true)", [f"pg_session_jwt.{name}"]) or None
              for name in ("audience", "issuer", "replay")}
    if values["replay"] not in (None, "jti", "once"):
        return Check("settings", FAIL, f"pg_session_jwt.replay = {values['replay']!r}",
                     "set pg_session_jwt.replay to 'jti' (the default) or 'once'")
    shown = ", ".join(f"{k}={v!r}" for k, v in values.items() if v is not None)
    return Check("settings", OK, shown or "no audience, issuer or replay setting (replay: jti)")


def check_audit(conn: psycopg.Connection) -> Check:
    session = settings.pg_bool(_scalar(conn, "SELECT current_setting('pg_session_jwt.audit_log', true)"))
    configured: List[str] = []
    if _scalar(conn, "SELECT to_regprocedure('auth._audit_log_config()') IS NOT NULL"):
        configured = _scalar(conn, "SELECT auth._audit_log_config()") or []
    forced = any(settings.pg_bool(v) for v in configured)
    if forced:
        return Check("audit log", OK, "on, set by the configuration (sessions cannot turn it off)")
    return Check("audit log", OK, "on for this connection" if session else "off")


def run(dsn: str = "", connect_timeout: int = 10, key: Optional[Dict[str, Any]] = None) -> List[Check]:
    """All checks against the server ``dsn`` names (libpq defaults when empty);
    with ``key``, passed in the startup packet as a proxy would."""
    if key is not None:
        dsn, packet = with_key(dsn, key)
        if packet.status == FAIL:
            return [packet]
        return [packet] + run(dsn, connect_timeout)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout)
    except psycopg.Error as e:
        return [Check("connection", FAIL, f"cannot connect: {str(e).strip()}",
                      "check --dsn (or PGHOST, PGPORT, PGUSER, PGDATABASE) and that the server is running")]
    with conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int / 10000,"
            " current_database(), current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        version, major, db, user, superuser = row  # type: ignore[misc]
        role = "superuser" if superuser else "not a superuser"
        checks = [Check("connection", OK, f"PostgreSQL {version}, database {db!r} as {user!r} ({role})")]
        checks.append(check_plpython(conn, major))
        if checks[-1].status != OK:
            return checks
        checks.append(check_extension(conn))
        if checks[-1].status == FAIL:
            return checks
        error, warnings = try_init(conn)
        checks += [check_crypto(conn, superuser, error), check_key(conn, error, warnings), check_settings(conn),
                   check_audit(conn)]
    return checks


PACKET_FIX = ("pg-session-jwt jwks compact FILE, or configure the key with ALTER DATABASE/ROLE ... SET"
              " (pg-session-jwt jwks apply)")


def with_key(dsn: str, key: Dict[str, Any]) -> Tuple[str, Check]:
    """``dsn`` with ``key`` in its startup packet, and how much of the packet's limit that takes."""
    try:
        dsn = with_settings(dsn, jwk=key)
    except StartupPacketTooLarge as e:
        return dsn, Check("startup packet", FAIL, f"{e.size:,} bytes with this key; PostgreSQL refuses more than"
                          f" {STARTUP_PACKET_LIMIT:,}", PACKET_FIX)
    size = startup_packet_size(startup_parameters(conninfo.conninfo_to_dict(dsn)))
    return dsn, Check("startup packet", OK, f"{size:,} of {STARTUP_PACKET_LIMIT:,} bytes with this key")
