"""Row-Level Security driven by auth.user_id(), as an application uses it.

The tables belong to the superuser, and the tests query them as ``rls_user``,
a plain login role that neither owns them nor has BYPASSRLS, so the policies
really apply (a table's owner bypasses RLS unless FORCE ROW LEVEL SECURITY).
Two tables differ only in the policy's form:

* ``notes``:          ``owner = auth.user_id()``, the wrapper inlined per row;
* ``notes_initplan``: ``owner = (SELECT auth.user_id())``, evaluated once per
  query as an InitPlan.

Every test uses fresh subjects, so rows left by other tests never match.
"""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from psycopg import sql

from helpers import scalar, sql_error
from pg_session_jwt.signing import Minter, ed25519_keypair

ROLE = "rls_user"
TABLES = {
    "notes": "owner = auth.user_id()",
    "notes_initplan": "owner = (SELECT auth.user_id())",
}
RLS_REFUSED = "42501"


@pytest.fixture(scope="module")
def rls_tables(cluster):
    with cluster.connect(dbname="app") as su:
        su.execute(
            f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        for table, predicate in TABLES.items():
            su.execute(f"DROP TABLE IF EXISTS {table}")
            su.execute(
                f"CREATE TABLE {table} (id serial PRIMARY KEY,"
                f" owner text NOT NULL DEFAULT auth.user_id(), body text)"
            )
            su.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            su.execute(f"CREATE POLICY own ON {table} USING ({predicate}) WITH CHECK ({predicate})")
            su.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ROLE}")
            su.execute(f"GRANT USAGE ON SEQUENCE {table}_id_seq TO {ROLE}")
        # The set-up is only meaningful if rls_user is subject to RLS.
        row = su.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [ROLE]
        ).fetchone()
        assert row == (False, False)
    return cluster


@pytest.fixture
def superuser(rls_tables):
    conn = rls_tables.connect(dbname="app")
    yield conn
    conn.close()


@pytest.fixture
def as_user(rls_tables, connect, minter):
    """as_user(sub) -> a connection as rls_user whose session is ``sub``."""

    def _as_user(sub=None, **kw):
        conn = connect(user=ROLE, **kw)
        if sub is not None:
            login(conn, minter, sub)
        return conn

    return _as_user


_counter = itertools.count()


@pytest.fixture
def subs():
    """Fresh subject names for this test: subs('alice', 'bob')."""
    tag = f"{next(_counter)}-{uuid.uuid4().hex[:6]}"
    return lambda *names: [f"{n}-{tag}" for n in names]


def login(conn, minter, sub):
    conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(sub)])


def visible(conn, table):
    """(owner, body) of every row this connection may see, sorted."""
    return sorted(conn.execute(f"SELECT owner, body FROM {table}").fetchall())


def all_rows(su, table, owners):
    return sorted(
        su.execute(f"SELECT owner, body FROM {table} WHERE owner = ANY(%s)", [list(owners)]).fetchall()
    )


@pytest.fixture(params=sorted(TABLES))
def table(request):
    return request.param


def test_each_user_sees_only_their_own_rows(table, as_user, subs, superuser):
    alice, bob = subs("alice", "bob")
    a, b = as_user(alice), as_user(bob)
    a.execute(f"INSERT INTO {table} (body) VALUES ('a1'), ('a2')")
    b.execute(f"INSERT INTO {table} (body) VALUES ('b1')")

    # The column default filled in the owner from the session.
    assert all_rows(superuser, table, [alice, bob]) == [(alice, "a1"), (alice, "a2"), (bob, "b1")]
    assert visible(a, table) == [(alice, "a1"), (alice, "a2")]
    assert visible(b, table) == [(bob, "b1")]
    # An explicit filter on the other owner finds nothing either.
    assert scalar(a, f"SELECT count(*) FROM {table} WHERE owner = %s", [bob]) == 0


def test_insert_for_another_owner_is_refused(table, as_user, subs, superuser):
    alice, bob = subs("alice", "bob")
    a = as_user(alice)
    with sql_error(RLS_REFUSED, f'new row violates row-level security policy for table "{table}"'):
        a.execute(f"INSERT INTO {table} (owner, body) VALUES (%s, 'forged')", [bob])
    # Naming oneself explicitly is fine.
    a.execute(f"INSERT INTO {table} (owner, body) VALUES (%s, 'mine')", [alice])
    assert all_rows(superuser, table, [alice, bob]) == [(alice, "mine")]


def test_update_cannot_give_a_row_away(table, as_user, subs, superuser):
    alice, bob = subs("alice", "bob")
    a = as_user(alice)
    a.execute(f"INSERT INTO {table} (body) VALUES ('a1')")
    with sql_error(RLS_REFUSED, f'new row violates row-level security policy for table "{table}"'):
        a.execute(f"UPDATE {table} SET owner = %s", [bob])
    assert all_rows(superuser, table, [alice, bob]) == [(alice, "a1")]


def test_update_and_delete_cannot_touch_other_rows(table, as_user, subs, superuser):
    alice, bob = subs("alice", "bob")
    a, b = as_user(alice), as_user(bob)
    a.execute(f"INSERT INTO {table} (body) VALUES ('a1'), ('a2')")
    b.execute(f"INSERT INTO {table} (body) VALUES ('b1'), ('b2')")

    assert b.execute(f"UPDATE {table} SET body = 'hacked' WHERE owner = %s", [alice]).rowcount == 0
    assert b.execute(f"DELETE FROM {table} WHERE owner = %s", [alice]).rowcount == 0
    # Unqualified statements reach the caller's rows only.
    assert b.execute(f"UPDATE {table} SET body = body || '!'").rowcount == 2
    assert b.execute(f"DELETE FROM {table} WHERE body = 'b1!'").rowcount == 1
    assert b.execute(f"DELETE FROM {table}").rowcount == 1

    assert all_rows(superuser, table, [alice, bob]) == [(alice, "a1"), (alice, "a2")]


def test_no_session_sees_nothing_and_cannot_insert(table, as_user, subs, superuser):
    (alice,) = subs("alice")
    as_user(alice).execute(f"INSERT INTO {table} (body) VALUES ('a1')")
    assert all_rows(superuser, table, [alice]) == [(alice, "a1")]

    for conn in (as_user(), as_user(jwk=None)):  # key but no JWT; no key, no claims
        assert scalar(conn, "SELECT auth.user_id()") is None
        assert visible(conn, table) == []
        # The default owner is NULL; RLS's WITH CHECK runs before NOT NULL.
        with sql_error(RLS_REFUSED, f'new row violates row-level security policy for table "{table}"'):
            conn.execute(f"INSERT INTO {table} (body) VALUES ('anonymous')")
    assert scalar(superuser, f"SELECT count(*) FROM {table} WHERE body = 'anonymous'") == 0


def test_switching_tokens_switches_the_visible_rows(table, as_user, subs, minter):
    alice, bob = subs("alice", "bob")
    as_user(alice).execute(f"INSERT INTO {table} (body) VALUES ('a1')")
    as_user(bob).execute(f"INSERT INTO {table} (body) VALUES ('b1'), ('b2')")

    conn = as_user(alice)
    assert visible(conn, table) == [(alice, "a1")]
    login(conn, minter, bob)
    assert visible(conn, table) == [(bob, "b1"), (bob, "b2")]
    login(conn, minter, alice)
    assert visible(conn, table) == [(alice, "a1")]
    # A prepared statement re-reads the identity on every execution.
    query = f"SELECT owner, body FROM {table} ORDER BY body"
    for sub, expected in [(bob, [(bob, "b1"), (bob, "b2")]), (alice, [(alice, "a1")])] * 3:
        login(conn, minter, sub)
        assert conn.execute(query, prepare=True).fetchall() == expected


def test_rolled_back_switch_does_not_keep_the_other_identity(table, as_user, subs, minter):
    alice, bob = subs("alice", "bob")
    as_user(alice).execute(f"INSERT INTO {table} (body) VALUES ('a1')")
    as_user(bob).execute(f"INSERT INTO {table} (body) VALUES ('b1')")

    conn = as_user(alice)
    with conn.transaction(force_rollback=True):
        login(conn, minter, bob)
        assert visible(conn, table) == [(bob, "b1")]
    # pg_session_jwt.jwt is alice's older token again: its jti is below the
    # last one validated, so reading it fails instead of showing any rows.
    with sql_error("23514", "Token ID must be strictly monotonically increasing."):
        visible(conn, table)
    login(conn, minter, alice)
    assert visible(conn, table) == [(alice, "a1")]


def test_a_token_set_directly_must_still_verify(table, as_user, subs, minter):
    alice, bob = subs("alice", "bob")
    as_user(bob).execute(f"INSERT INTO {table} (body) VALUES ('b1')")
    conn = as_user(alice)

    forged = Minter(ed25519_keypair()[0]).token(bob)
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [forged])
    with sql_error("23514", "invalid JWT signature"):
        visible(conn, table)
    # A genuine token set the same way is validated on read and works.
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [minter.token(bob)])
    assert visible(conn, table) == [(bob, "b1")]


@pytest.mark.parametrize("first_use", [False, True], ids=["before-first-use", "after-first-use"])
def test_a_key_set_after_connection_start_is_never_trusted(table, as_user, subs, first_use):
    (bob,) = subs("bob")
    as_user(bob).execute(f"INSERT INTO {table} (body) VALUES ('b1')")
    attacker_private, attacker_public = ed25519_keypair()
    forged = Minter(attacker_private).token(bob)

    conn = as_user()
    if first_use:
        conn.execute("SELECT auth.init()")
    conn.execute("SELECT set_config('pg_session_jwt.jwk', %s, false)", [json.dumps(attacker_public)])
    with sql_error("23514", "invalid JWT signature"):
        conn.execute("SELECT auth.jwt_session_init(%s)", [forged])
    assert visible(conn, table) == []

    # With no key at connection start, a key SET later does not create one.
    conn = as_user(jwk=None)
    if first_use:
        assert scalar(conn, "SELECT auth.user_id()") is None
    conn.execute(sql.SQL("SET pg_session_jwt.jwk = {}").format(json.dumps(attacker_public)))
    with sql_error("02000", "Missing runtime parameter: pg_session_jwt.jwk"):
        conn.execute("SELECT auth.jwt_session_init(%s)", [forged])
    conn.execute("SELECT set_config('pg_session_jwt.jwt', %s, false)", [forged])
    assert visible(conn, table) == []


def explain(conn, sql):
    return [line for (line,) in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}")]


def filter_lines(plan):
    return [line for line in plan if line.strip().startswith("Filter:")]


def test_explain_shows_the_wrapper_inlined_per_row(as_user, subs):
    (alice,) = subs("alice")
    plan = explain(as_user(alice), "SELECT body FROM notes")
    text = "\n".join(plan)
    (filt,) = filter_lines(plan)
    # The SQL wrapper is gone: the filter calls the PL/Python function itself.
    assert "auth._user_id(" in filt, text
    assert "auth.user_id(" not in text, text
    assert "InitPlan" not in text, text


def test_explain_shows_the_initplan_form_evaluated_once(as_user, subs):
    (alice,) = subs("alice")
    conn = as_user(alice)
    plan = explain(conn, "SELECT body FROM notes_initplan")
    text = "\n".join(plan)
    (filt,) = filter_lines(plan)
    assert "InitPlan" in text, text
    # The per-row filter compares with the InitPlan's output parameter, which
    # EXPLAIN prints as $0 before PostgreSQL 17 and as (InitPlan 1).col1 since ...
    initplan_output = "(InitPlan 1).col1" if conn.info.server_version >= 170000 else "$0"
    assert "_user_id" not in filt and f"owner = {initplan_output})" in filt, text
    # ... which is the inlined wrapper, evaluated once.
    assert "auth._user_id(" in text and "auth.user_id(" not in text, text
