"""Shared fixtures: one throwaway cluster per test run, keys, tokens, connections.

Server tests connect as the plain login role ``app``, which created the
extension itself (a superuser only created plpython3u), as applications do.
"""

from __future__ import annotations

from typing import Iterator, List

import psycopg
import pytest

from pg_session_jwt.client import startup_options
from pg_session_jwt.cluster import Cluster
from pg_session_jwt.signing import Minter, ed25519_keypair

APP_DB = APP_ROLE = "app"


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with Cluster() as c:
        c.create_app_database(APP_DB, APP_ROLE)
        yield c


@pytest.fixture(scope="session")
def keypair():
    """(private JWK, public JWK) that the default connections trust."""
    return ed25519_keypair()


@pytest.fixture
def minter(keypair) -> Minter:
    return Minter(keypair[0])


@pytest.fixture
def connect(cluster, keypair):
    """connect(jwk=<key or None>, **startup settings) -> autocommit connection as ``app``.

    By default the startup packet carries the session key pair's public JWK;
    ``jwk=None`` connects with no key (PostgREST fallback mode).
    """
    opened: List[psycopg.Connection] = []
    default = object()

    def _connect(jwk=default, user: str = APP_ROLE, dbname: str = APP_DB, **settings) -> psycopg.Connection:
        if jwk is default:
            jwk = keypair[1]
        if jwk is not None:
            settings["jwk"] = jwk
        params = {"options": startup_options(**settings)} if settings else {}
        conn = psycopg.connect(cluster.dsn(user, dbname, **params), autocommit=True)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()
