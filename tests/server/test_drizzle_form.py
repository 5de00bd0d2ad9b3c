"""docs/rls.md's Drizzle helper, run as a policy: the initplan form that it
produces calls auth.user_id() once per statement, the form of drizzle-orm/neon's
``authUid`` once per row, and both let a user see exactly the same rows.

The helper's template is read from the TypeScript in docs/rls.md, so the
page cannot drift from what is tested. Both policies are rendered as Drizzle
renders a column in a policy (``"table"."column"``). The tables belong to the
superuser and are read as ``drizzle_user``, a plain login role, so the
policies apply.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from helpers import scalar

RLS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "rls.md"
ROLE = "drizzle_user"
ROWS = 60  # 20 for each of three owners
OWNERS = ("alice", "bob", "carol")
# drizzle-orm/neon: export const authUid = (userIdColumn) => sql`(select auth.user_id() = ${userIdColumn})`
AUTH_UID = "(select auth.user_id() = ${col})"


def documented_helper() -> str:
    """The sql`…` template of the helper ``ownedBy`` that docs/rls.md tells Drizzle users to define."""
    found = re.findall(r"export const ownedBy = \(col: AnyPgColumn\) => sql`([^`]*)`;", RLS_PAGE.read_text())
    assert len(found) == 1, "docs/rls.md should define the helper ownedBy exactly once"
    return found[0]


def render(template: str, table: str) -> str:
    return template.replace("${col}", f'"{table}"."owner"')


FORMS = {"helper": documented_helper(), "drizzle": AUTH_UID}


@pytest.fixture(scope="module")
def tables(cluster):
    with cluster.connect(dbname="app") as su:
        su.execute(f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        for form, template in FORMS.items():
            table = f"todos_{form}"
            predicate = render(template, table)
            su.execute(f"DROP TABLE IF EXISTS {table}")
            su.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, owner text NOT NULL, task text NOT NULL)")
            su.execute(f"INSERT INTO {table} SELECT i, (%s::text[])[1 + i %% 3], 'task ' || i"
                       f" FROM generate_series(1, {ROWS}) i", [list(OWNERS)])
            su.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            su.execute(f"CREATE POLICY own ON {table} USING ({predicate}) WITH CHECK ({predicate})")
            su.execute(f"GRANT SELECT, INSERT ON {table} TO {ROLE}")
            su.execute(f"ANALYZE {table}")
        assert su.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
                          [ROLE]).fetchone() == (False, False)
    return {form: f"todos_{form}" for form in FORMS}


@pytest.fixture
def as_user(tables, connect, minter):
    def _as_user(sub=None):
        conn = connect(user=ROLE)
        conn.execute("SET max_parallel_workers_per_gather = 0")
        if sub is not None:
            conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(sub)])
        return conn

    return _as_user


def subplans(conn, sql):
    """[(relationship, loops, output)] of every InitPlan and SubPlan node of the executed plan."""
    doc = scalar(conn, f"EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, FORMAT JSON) {sql}")
    if isinstance(doc, str):
        doc = json.loads(doc)
    found = []

    def walk(node):
        if node.get("Parent Relationship") in ("InitPlan", "SubPlan"):
            found.append((node["Parent Relationship"], node["Actual Loops"], " ".join(node.get("Output", []))))
        for child in node.get("Plans", []):
            walk(child)

    walk(doc[0]["Plan"])
    return found


def text_plan(conn, sql):
    return "\n".join(line for (line,) in conn.execute(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}"))


def test_the_documented_helper_is_the_initplan_form():
    assert render(FORMS["helper"], "t") == '("t"."owner" = (select auth.user_id()))'


def test_the_helper_calls_auth_user_id_once_through_an_initplan(tables, as_user):
    conn = as_user("alice")
    sql = f"SELECT * FROM {tables['helper']}"
    (node,) = subplans(conn, sql)
    relationship, loops, output = node
    assert (relationship, loops) == ("InitPlan", 1), node
    assert "_user_id(" in output, node  # the inlined auth.user_id(), run by the InitPlan
    plan = text_plan(conn, sql)
    assert re.search(r"^\s*InitPlan\b", plan, re.M), plan
    (filt,) = [line for line in plan.splitlines() if line.strip().startswith("Filter:")]
    assert "_user_id(" not in filt, plan  # each row compares with the InitPlan's result


def test_the_drizzle_form_calls_auth_user_id_for_every_row(tables, as_user):
    conn = as_user("alice")
    sql = f"SELECT * FROM {tables['drizzle']}"
    (node,) = subplans(conn, sql)
    relationship, loops, output = node
    assert (relationship, loops) == ("SubPlan", ROWS), node
    assert "_user_id(" in output, node
    assert not re.search(r"^\s*InitPlan\b", text_plan(conn, sql), re.M)


@pytest.mark.parametrize("sub", [*OWNERS, "dave", None])
def test_both_forms_return_the_same_rows(tables, as_user, cluster, sub):
    conn = as_user(sub)
    seen = {form: conn.execute(f"SELECT id, owner, task FROM {table} ORDER BY id").fetchall()
            for form, table in tables.items()}
    with cluster.connect(dbname="app") as su:
        owned = su.execute(f"SELECT id, owner, task FROM {tables['helper']} WHERE owner = %s ORDER BY id",
                           [sub]).fetchall()
    assert seen["helper"] == seen["drizzle"] == owned
    assert len(owned) == (ROWS // len(OWNERS) if sub in OWNERS else 0)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_both_forms_check_new_rows_alike(tables, as_user, form):
    conn = as_user("alice")
    with conn.transaction(force_rollback=True):  # the other tests count the rows
        conn.execute(f"INSERT INTO {tables[form]} VALUES (1000, 'alice', 'mine')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        conn.execute(f"INSERT INTO {tables[form]} VALUES (1001, 'bob', 'not mine')")
