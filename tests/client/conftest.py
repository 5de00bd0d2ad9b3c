"""Fixtures for the client library and CLI tests: the CLI in-process, old servers."""

from __future__ import annotations

from typing import Callable, NamedTuple

import pytest

from pg_session_jwt import cli

LOCAL_OVERLOAD = "SELECT to_regprocedure('auth.jwt_session_init(text, boolean)') IS NOT NULL"


class Result(NamedTuple):
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys) -> Callable[..., Result]:
    """run_cli("keygen", "--out", f) -> (exit status, stdout, stderr) of pg-session-jwt in-process."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as e:  # argparse: --help, usage errors
            code = e.code if isinstance(e.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def server_has_local(cluster) -> bool:
    """Whether the installed extension has auth.jwt_session_init(jwt text, local boolean)."""
    with cluster.connect(dbname="app") as conn:
        return conn.execute(LOCAL_OVERLOAD).fetchone()[0]


@pytest.fixture(scope="session")
def old_server_dsn(cluster) -> str:
    """A database whose auth schema predates the local overload: stand-ins for the
    one-argument functions only, so the client's version check can be tested on
    any server."""
    with cluster.connect() as su:
        su.execute("CREATE DATABASE client_old_extension")
    with cluster.connect(dbname="client_old_extension") as su:
        su.execute("""
            CREATE SCHEMA auth;
            CREATE FUNCTION auth.init() RETURNS void LANGUAGE sql AS '';
            CREATE FUNCTION auth.jwt_session_init(jwt text) RETURNS void LANGUAGE sql
                AS $$ SELECT set_config('pg_session_jwt.jwt', jwt, false) $$;
            CREATE FUNCTION auth.user_id() RETURNS text LANGUAGE sql
                AS $$ SELECT NULLIF(current_setting('pg_session_jwt.jwt', true), '') $$;
            GRANT USAGE ON SCHEMA auth TO PUBLIC;
        """)
    return cluster.dsn("app", "client_old_extension")


