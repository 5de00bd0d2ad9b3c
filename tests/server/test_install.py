"""Packaging: a trusted extension that a non-superuser creates, owned safely.

`make install` put the control file and the generated script into the
server's extension directory (the suite runs after it).
"""

from __future__ import annotations

import psycopg
import pytest
from helpers import scalar, sql_error

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
    "UPDATE auth._module_code SET code = ''::bytea",
    "INSERT INTO auth._module_code VALUES (''::bytea)",
    "DELETE FROM auth._module_code",
    "TRUNCATE auth._module_code",
    "ALTER TABLE auth._module_code RENAME TO x",
    "DROP TABLE auth._module_code",
])
def test_the_creator_cannot_touch_the_server_code(connect, statement):
    """auth._load() runs what auth._module_code holds, in an untrusted
    language: only the superuser that ran the install script may write it."""
    conn = connect()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)
    assert scalar(conn, "SELECT length(code) > 10000 FROM auth._module_code") is True
    assert scalar(conn, "SELECT count(*) FROM auth._module_code") == 1
