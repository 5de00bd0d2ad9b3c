"""Packaging: a trusted extension that a non-superuser creates, owned safely.

`make install` put the control file and the generated script into the
server's extension directory (the suite runs after it).
"""

from __future__ import annotations

import psycopg
import pytest
from helpers import code_file, scalar, sql_error

from pg_session_jwt import __version__


@pytest.fixture
def scratch_db(cluster):
    """A database where `app` has CREATE, but no plpython3u yet."""
    name = "install_test"
    with cluster.connect() as su:
        su.execute(f"DROP DATABASE IF EXISTS {name}")
        su.execute(f"CREATE DATABASE {name}")
        su.execute(f"GRANT CREATE ON DATABASE {name} TO app")
    yield name
    with cluster.connect() as su:
        su.execute(f"DROP DATABASE {name}")


def test_installed_version_is_the_package_version(connect):
    conn = connect()
    row = conn.execute(
        "SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'pg_session_jwt'"
    ).fetchone()
    assert row == (__version__, __version__)


def test_plain_role_creates_it_once_plpython3u_exists(cluster, scratch_db):
    with cluster.connect(user="app", dbname=scratch_db) as app:
        assert scalar(app, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        with sql_error("42704", 'required extension "plpython3u" is not installed'):
            app.execute("CREATE EXTENSION pg_session_jwt")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE EXTENSION pg_session_jwt CASCADE")
    with cluster.connect(dbname=scratch_db) as su:
        su.execute("CREATE EXTENSION plpython3u")
    with cluster.connect(user="app", dbname=scratch_db) as app:
        app.execute("CREATE EXTENSION pg_session_jwt")
        assert scalar(app, "SELECT extrelocatable FROM pg_extension WHERE extname = 'pg_session_jwt'") is False
        assert scalar(app, "SELECT auth.session() = 'null'::jsonb") is True
        app.execute("DROP EXTENSION pg_session_jwt")
        assert scalar(app, "SELECT count(*) FROM pg_namespace WHERE nspname = 'auth'") == 0


def test_the_creator_cannot_tamper_with_the_internals(connect):
    """Schema and functions belong to the superuser that ran the script, so
    the role that created the extension cannot swap the code RLS relies on."""
    conn = connect()
    assert scalar(conn, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'auth'") == "postgres"
    with sql_error("42501", "must be owner of function auth._raise_pending"):
        conn.execute("DROP FUNCTION auth._raise_pending()")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE FUNCTION auth.user_id2() RETURNS text LANGUAGE sql RETURN 'x'")


@pytest.mark.parametrize("statement", [
    "CREATE OR REPLACE FUNCTION auth._load() RETURNS void LANGUAGE sql RETURN NULL",
    "ALTER FUNCTION auth._load() RENAME TO _load_old",
    "COPY (SELECT 'x') TO '{code}'",
    "SELECT pg_catalog.lo_export(pg_catalog.lo_from_bytea(0, 'x'), '{code}')",
])
def test_the_creator_cannot_touch_the_server_code(connect, statement):
    """auth._load() runs what its code file holds, in an untrusted language:
    the role that created the extension can neither point the loader
    elsewhere nor write the file."""
    conn = connect()
    path = code_file(conn)
    before = path.read_bytes()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement.format(code=path))
    assert path.read_bytes() == before
    assert code_file(conn) == path


def test_not_even_a_superuser_can_write_the_code_file(cluster):
    """The file belongs to whoever ran make install, not to the server's OS
    user: nothing done inside the database rewrites the code."""
    with cluster.connect(dbname="app") as su:
        path = code_file(su)
        assert path.stat().st_mode & 0o022 == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="Permission denied"):
            su.execute(f"COPY (SELECT 'x') TO '{path}'")


GC_STATE = """CREATE OR REPLACE FUNCTION public.gc_state(disable boolean) RETURNS text LANGUAGE plpython3u AS $py$
import gc
if disable:
    gc.disable()
return f"enabled={gc.isenabled()} frozen={gc.get_freeze_count() > 0}"
$py$"""


@pytest.mark.parametrize("disabled_before", [False, True])
def test_loading_leaves_garbage_collection_as_it_was(connect, disabled_before):
    """The loader freezes what it loaded for the garbage collector; whether
    the connection collects garbage afterwards is what it was before."""
    conn = connect(user="postgres")
    conn.execute(GC_STATE)
    assert scalar(conn, "SELECT public.gc_state(%s)", [disabled_before]) == \
        f"enabled={not disabled_before} frozen=False"
    conn.execute("SELECT auth.init()")
    assert scalar(conn, "SELECT public.gc_state(false)") == f"enabled={not disabled_before} frozen=True"


SERVER_PYTHON = """CREATE OR REPLACE FUNCTION public.server_python() RETURNS bytea LANGUAGE plpython3u AS $py$
import sys
return sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
$py$"""


def test_the_code_file_is_bytecode_of_the_servers_python(connect):
    """make install compiles the modules with the Python that PL/Python runs
    (3.11, 3.13 and 3.14 across the matrix), so a new connection unmarshals
    them; another magic number would send every connection to compiling the
    sources (test_update shows that fallback works, not that it is avoided)."""
    conn = connect(user="postgres")
    conn.execute(SERVER_PYTHON)
    magic = scalar(conn, "SELECT public.server_python()")
    assert code_file(conn).read_bytes()[:len(magic)] == magic
