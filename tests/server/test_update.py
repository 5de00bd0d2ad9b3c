"""ALTER EXTENSION pg_session_jwt UPDATE: new code loads, session state survives.

The test builds an update script to a scratch version with the same tool
and template a real release uses, installs it next to the extension, and
updates a live session's database.
"""

from __future__ import annotations

import marshal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from helpers import code_file, loader_body, scalar, sql_error

from pg_session_jwt import __version__
from pg_session_jwt.client import startup_options
from pg_session_jwt.cluster import extension_dir

ROOT = Path(__file__).resolve().parents[2]
NEXT = __version__ + "-next"


@pytest.fixture
def update_script():
    """The update script to NEXT and NEXT's code file, in the server's extension directory."""
    directory = extension_dir()
    path = directory / f"pg_session_jwt--{__version__}--{NEXT}.sql"
    code = directory / f"pg_session_jwt--{NEXT}.marshal"
    subprocess.run([sys.executable, str(ROOT / "tools" / "build_sql.py"), "--template",
                    str(ROOT / "sql" / "update.sql.in"), "--version", NEXT, "--out", str(path),
                    "--code-dir", str(directory), "--code-out", str(code)], check=True)
    yield path
    path.unlink()
    code.unlink()


def test_update_keeps_the_session_and_loads_new_code(cluster, keypair, minter, update_script):
    cluster.create_app_database("update_test", "app")
    dsn = cluster.dsn("app", "update_test", options=startup_options(jwk=keypair[1]))
    with psycopg.connect(dsn, autocommit=True) as conn:
        stale = minter.token("alice")
        conn.execute("SELECT auth.jwt_session_init(%s)", [stale])
        current = minter.token("bob")
        conn.execute("SELECT auth.jwt_session_init(%s)", [current])

        conn.execute(f"ALTER EXTENSION pg_session_jwt UPDATE TO '{NEXT}'")

        assert scalar(conn, "SELECT extversion FROM pg_extension WHERE extname = 'pg_session_jwt'") == NEXT
        assert NEXT in scalar(conn, "SELECT prosrc FROM pg_proc WHERE oid = 'auth._user_id'::regproc")
        # Replay first: had the update forgotten the last jti, this would log in as alice.
        conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [stale])
        with sql_error("23514", "Token ID must be strictly monotonically increasing."):
            conn.execute("SELECT auth.user_id()")
        conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [current])
        assert scalar(conn, "SELECT auth.user_id()") == "bob"

    with psycopg.connect(dsn, autocommit=True) as fresh:
        fresh.execute("SELECT auth.jwt_session_init(%s)", [minter.token("carol")])
        assert scalar(fresh, "SELECT auth.user_id()") == "carol"


def test_reloading_the_code_does_not_fork_the_state(connect, minter):
    """auth._load() is callable by anyone; calling it mid-session must not
    leave two copies of the state that a replay could play against each other."""
    conn = connect()
    stale = minter.token("alice")
    conn.execute("SELECT auth.jwt_session_init(%s)", [stale])
    conn.execute("SELECT auth._load()")
    conn.execute("SELECT auth.session()")  # first call of this function since the reload
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("bob")])
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [stale])
    with sql_error("23514", "Token ID must be strictly monotonically increasing."):
        conn.execute("SELECT auth.session()")


def _loader_reading(su, path: Path) -> str:
    """auth._load()'s body, reading ``path`` instead of the installed code file."""
    installed = code_file(su)
    assert installed.is_file()
    return loader_body(su).replace(str(installed), str(path))


def test_loader_compiles_the_sources_when_bytecode_does_not_fit(cluster, keypair, minter):
    """The code file carries bytecode for the Python that built it, after
    that Python's magic number; a server whose Python has another magic
    number compiles the embedded sources instead.  Simulated with a copy of
    the loader that reads a code file of another magic number, run first
    thing in a fresh connection."""
    foreign = cluster.root / "foreign.marshal"
    foreign.write_bytes(b"\x00\x00\r\n" + marshal.dumps({"not": "code"}))
    foreign.chmod(0o644)
    cluster.create_app_database("loader_test", "app")
    with cluster.connect(dbname="loader_test") as su:
        su.execute("CREATE FUNCTION public.load_from_sources() RETURNS void LANGUAGE plpython3u AS $py$"
                   + _loader_reading(su, foreign) + "$py$")
    dsn = cluster.dsn("app", "loader_test", options=startup_options(jwk=keypair[1]))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT public.load_from_sources()")
        conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
        assert scalar(conn, "SELECT auth.user_id()") == "alice"


def test_a_missing_code_file_is_a_clear_error(cluster):
    """An install script without its code file (copied alone, or a failed
    make install) says what is wrong, and the connection stays usable."""
    cluster.create_app_database("missing_code_test", "app")
    with cluster.connect(dbname="missing_code_test") as su:
        su.execute("CREATE FUNCTION public.load_missing() RETURNS void LANGUAGE plpython3u AS $py$"
                   + _loader_reading(su, cluster.root / "no-such.marshal") + "$py$")
        with pytest.raises(psycopg.errors.ExternalRoutineException) as info:
            su.execute("SELECT public.load_missing()")
        assert "cannot read its code, reinstall it: [Errno 2] No such file" in info.value.diag.message_primary
        assert scalar(su, "SELECT 1") == 1
