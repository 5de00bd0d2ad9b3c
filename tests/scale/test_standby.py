"""On a hot standby, where read replicas serve RLS reads: everything a reader needs.

A primary and a streaming standby (``pg_basebackup -R``) on this machine,
each with its own socket and port.  The standby is read-only: whatever the
extension does there must need no write.  The key and the audit setting are
set on the primary with ``ALTER DATABASE … SET`` and reach the standby
through replication, as they would a read replica; the RLS tables and rows
are written on the primary.  The tests connect to the standby as the plain
login role ``app``.  (The code file must be installed on every node: here
both nodes are one installation.)
"""

from __future__ import annotations

from typing import Iterator

import psycopg
import pytest
from helpers import log_lines, scalar, sql_error
from scale_helpers import prepare_notes, rows_of, set_key, user

from pg_session_jwt.cluster import Cluster
from pg_session_jwt.signing import ed25519_keypair, sign

# Through the policy ``owner = (SELECT auth.user_id())``: the rows this session sees.
SEEN = "SELECT count(*), count(*) FILTER (WHERE owner = auth.user_id()) FROM notes_initplan"


@pytest.fixture(scope="module")
def primary(keypair) -> Iterator[Cluster]:
    with Cluster() as c:
        c.create_app_database("app", "app")
        set_key(c, "DATABASE app", keypair[1])
        with c.connect() as su:
            su.execute("ALTER DATABASE app SET pg_session_jwt.audit_log = on")
        prepare_notes(c, "app", readers=["app"])
        yield c


@pytest.fixture(scope="module")
def standby(primary) -> Iterator[Cluster]:
    replica = primary.standby()
    try:
        primary.wait_for_replay(replica)
        yield replica
    finally:
        replica.stop()


@pytest.fixture
def reader(standby) -> Iterator[psycopg.Connection]:
    with standby.connect("app", "app") as conn:
        yield conn


def test_the_standby_is_a_read_only_replica(reader):
    """What makes the other tests mean something."""
    assert scalar(reader, "SELECT pg_is_in_recovery()") is True
    assert scalar(reader, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
    with sql_error("25006", "cannot execute INSERT in a read-only transaction"):
        reader.execute("INSERT INTO notes_initplan VALUES ('u01', 'x')")


def test_init_and_no_session(reader):
    reader.execute("SELECT auth.init()")
    assert scalar(reader, "SELECT auth.user_id()") is None
    assert reader.execute(SEEN).fetchone() == (0, 0)


def test_session_level_session(reader, minter):
    reader.execute("SELECT auth.jwt_session_init(%s)", [minter.token(user(3))])
    assert scalar(reader, "SELECT auth.user_id()") == user(3)
    assert reader.execute(SEEN).fetchone() == (rows_of(3), rows_of(3))
    assert reader.execute(SEEN).fetchone() == (rows_of(3), rows_of(3))  # it lasts past the statement


def test_transaction_local_session(reader, minter):
    reader.execute("BEGIN")
    reader.execute("SELECT auth.jwt_session_init(%s, true)", [minter.token(user(7))])
    assert scalar(reader, "SELECT auth.user_id()") == user(7)
    assert reader.execute(SEEN).fetchone() == (rows_of(7), rows_of(7))
    reader.execute("COMMIT")
    assert scalar(reader, "SELECT auth.user_id()") is None
    assert reader.execute(SEEN).fetchone() == (0, 0)


def test_a_forged_token_is_refused_and_logged(standby, reader, minter):
    forged = sign(ed25519_keypair()[0], minter.claims("mallory"))
    with sql_error("23514", "invalid JWT signature"):
        reader.execute("SELECT auth.jwt_session_init(%s)", [forged])
    assert scalar(reader, "SELECT auth.user_id()") is None
    (line,) = log_lines(standby, "pg_session_jwt: JWT refused: invalid JWT signature")
    assert "LOG:" in line


def test_validations_are_logged_on_the_standby(primary, standby, reader, minter):
    reader.execute("SELECT auth.jwt_session_init(%s)", [minter.token("audited-on-standby")])
    lines = log_lines(standby, 'sub="audited-on-standby"')
    assert lines and all("LOG:  pg_session_jwt: JWT accepted" in line for line in lines), lines
    assert not log_lines(primary, "audited-on-standby", wait=False)


def test_rows_written_on_the_primary_after_the_backup(primary, standby, reader, minter):
    with primary.connect(dbname="app") as su:
        su.execute("INSERT INTO notes_initplan VALUES ('late', 'one'), ('late', 'two')")
    primary.wait_for_replay(standby)
    reader.execute("SELECT auth.jwt_session_init(%s)", [minter.token("late")])
    assert reader.execute("SELECT body FROM notes_initplan ORDER BY body").fetchall() == [("one",), ("two",)]
