"""The PL/Python adapter: what the extension's SQL functions call.

Loaded inside the backend only (it imports ``plpy``).  Each SQL-callable
function here takes the settings it needs as arguments, which the SQL
wrappers pass in with ``current_setting()``, so the hot path does no SPI.

PL/Python prefixes the message of any error that leaves Python with the
exception's type name, and the error messages are part of the contract.  So
a refusal does not raise: :func:`_refuse` stores it in the transaction-local
setting ``pg_session_jwt.error`` and returns NULL; the SQL wrapper that sees
the NULL (``coalesce(…, auth._raise_pending())``) raises it from PL/pgSQL,
verbatim.
"""

from __future__ import annotations

import plpy

from . import settings, strictjson
from .claims import Claims
from .errors import JWTError
from .session import Session

STATE_KEY = "pg_session_jwt.session"  # in GD; version-independent on purpose

_session: Session | None = None
_plans: dict[str, object] = {}


def _plan(sql: str, types=()):
    plan = _plans.get(sql)
    if plan is None:
        plan = _plans[sql] = plpy.prepare(sql, list(types))
    return plan


def start(gd: dict[str, object]) -> None:
    """Called by ``auth._load()`` once the modules run: fix the session, so
    that every entry point finds it made.

    It lives in PL/Python's GD, where it outlives a module upgrade: an older
    version's session is taken over, otherwise a new one is made from the
    connection-start settings.
    """
    global _session
    previous = gd.get(STATE_KEY)
    if isinstance(previous, Session):
        _session = previous
    elif previous is not None:
        # An older version ran in this backend: take over its state, so an
        # upgrade neither forgets the last jti nor picks up a new key.
        _session = Session.restore(previous.snapshot())
    else:
        found = startup_settings()
        forced = settings.pg_bool(found["audit_log"])
        if not forced and found["audit_log"] is not None:
            # Some configuration named the setting, and a client may have
            # overridden it at startup: ask what the configuration says.
            configured = plpy.execute("SELECT auth._audit_log_config() AS c")[0]["c"]
            forced = any(settings.pg_bool(v) for v in configured)
        _session = Session(found["jwk"], forced, found["audience"], found["issuer"], found["replay"])
    _session.on_skipped = _warn_skipped
    gd[STATE_KEY] = _session


def _warn_skipped(keys) -> None:
    """One WARNING per key of the set that cannot be used, when this
    connection parses the set; with auditing on, one LOG line for all."""
    for key in keys.skipped:
        plpy.warning(key.warning())
    if _session.audit_forced or settings.pg_bool(
            plpy.execute("SELECT pg_catalog.current_setting('pg_session_jwt.audit_log', true) AS a")[0]["a"]):
        plpy.log(f"pg_session_jwt: key set: {len(keys.keys)} key(s) in use, {len(keys.skipped)} skipped: "
                 + "; ".join(map(str, keys.skipped)))


# The settings that only the connection start may give (configuration, the
# startup packet), and the query that reads their values as of then.
# set_config(name, NULL, true) is SET LOCAL name TO DEFAULT, and returns the
# value it restored; a setting that nothing ever named stays unnamed (NULL),
# since naming it would create it.  set_config() is PARALLEL UNSAFE, so not
# even force_parallel_mode runs this in a worker.
STARTUP_SETTINGS = ("jwk", "audit_log", "audience", "issuer", "replay")
_STARTUP_QUERY = "SELECT " + ", ".join(
    f"CASE WHEN pg_catalog.current_setting('pg_session_jwt.{name}', true) IS NOT NULL"
    f" THEN pg_catalog.set_config('pg_session_jwt.{name}', NULL, true) END AS {name}"
    for name in STARTUP_SETTINGS)


def startup_settings() -> dict[str, str | None]:
    """The settings' connection-start values, whatever SET did since.

    The query restores each setting's start value and reads it; running it
    inside a subtransaction that is then rolled back leaves the session's
    current values exactly as they were.  (A query of its own, not a SQL
    function: 0.09 ms less for a new connection.)
    """

    class Undo(Exception):
        pass

    found: dict[str, str | None] = {}
    try:
        with plpy.subtransaction():
            found = dict(plpy.execute(_STARTUP_QUERY)[0])
            raise Undo
    except Undo:
        pass
    return found


def _refuse(e: JWTError) -> None:
    """Hand the error to ``auth._raise_pending()`` (see module docstring)."""
    payload = {"sqlstate": e.sqlstate, "message": e.message}
    if e.detail is not None:
        payload["detail"] = e.detail
    plpy.execute(
        _plan("SELECT pg_catalog.set_config('pg_session_jwt.error', $1, true)", ["text"]),
        [strictjson.dumps(payload)],
    )
    return None


def _audit(s: Session, audit: str | None, found: Claims | None) -> None:
    if (s.audit_forced or settings.pg_bool(audit)) and (found is not None or s.fallback):
        plpy.log(s.audit_line(found))


def _audit_refusal(s: Session, audit: str | None, e: JWTError) -> None:
    if s.audit_forced or settings.pg_bool(audit):
        plpy.log(f"pg_session_jwt: JWT refused: {e.message}" + (f" ({e.detail})" if e.detail else ""))


def _current(jwt: str | None, claims: str | None, audit: str | None) -> Claims | None:
    s = _session
    try:
        found = s.current(jwt, claims)
    except JWTError as e:
        _audit_refusal(s, audit, e)
        raise
    _audit(s, audit, found)
    return found


# --- entry points: one per SQL function -------------------------------------


def init() -> str | None:
    """Fix the settings and parse the keys; any text means done (see ``auth.init()``)."""
    try:
        s = _session
        s.keys()
        s.replay_rule()
        return "ok"
    except JWTError as e:
        return _refuse(e)


def jwt_session_init(jwt: str, audit: str | None, local: bool) -> str | None:
    """Validate and take ``jwt``; any text means accepted (see ``auth.jwt_session_init()``)."""
    s = _session
    try:
        found = s.validate_local(jwt) if local else s.validate(jwt)
    except JWTError as e:
        _audit_refusal(s, audit, e)
        return _refuse(e)
    _audit(s, audit, found)
    return "ok"


def _reader(pick):
    """An entry point for a reading function: ``pick`` maps claims to its value."""

    def read(jwt: str | None, claims: str | None, audit: str | None):
        try:
            return pick(_current(jwt, claims, audit))
        except JWTError as e:
            return _refuse(e)

    return read


session = _reader(lambda c: "null" if c is None else c.json)
user_id = _reader(lambda c: None if c is None else c.user_id())
uid = _reader(lambda c: None if c is None else c.user_uuid())
organization = _reader(lambda c: None if c is None else c.organization)
organization_id = _reader(lambda c: None if c is None else c.organization_id)
