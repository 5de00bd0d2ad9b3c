"""The RLS demo behind `make demo`: two users, one table, forged and replayed tokens.

Runs a throwaway cluster, installs the extension the way an application
database would (a superuser creates plpython3u, the app role the rest), and
narrates each step.  Everything it starts, it stops.
"""

from __future__ import annotations

import json
from typing import Callable, List, Sequence

import psycopg
from rich.console import Console
from rich.table import Table

from .client import startup_options
from .cluster import Cluster
from .signing import Minter, ed25519_keypair

console = Console(highlight=False)

SCHEMA = """
CREATE TABLE todos (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner text NOT NULL DEFAULT auth.user_id(),
    task  text NOT NULL
);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_todos ON todos
    USING (owner = (SELECT auth.user_id()))
    WITH CHECK (owner = (SELECT auth.user_id()));
GRANT SELECT, INSERT ON todos TO web;
"""


def step(title: str) -> None:
    console.print(f"\n[bold cyan]▶ {title}[/]")


def show_sql(sql: str) -> None:
    console.print(f"  [dim]{sql}[/]")


def rows_table(title: str, rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for col in ("id", "owner", "task"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    return table


def refused(action: Callable[[], object]) -> None:
    """Run ``action``, which must fail, and show the server's error."""
    try:
        action()
    except psycopg.Error as e:
        console.print(f"  [bold red]refused[/] [red]{e.sqlstate} {e.diag.message_primary}[/]"
                      + (f" [dim]({e.diag.message_detail})[/]" if e.diag.message_detail else ""))
    else:
        raise SystemExit("demo: the server accepted what it should have refused")


def run(cluster: Cluster) -> None:
    step("Install: a superuser creates plpython3u; the app role creates pg_session_jwt (trusted)")
    cluster.create_app_database("demo", "app")
    with cluster.connect() as su:
        su.execute("CREATE ROLE web LOGIN")
    with cluster.connect(user="app", dbname="demo") as app:
        app.execute(SCHEMA)
        version = app.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_session_jwt'").fetchone()[0]
    console.print(f"  pg_session_jwt {version} in database demo; table todos with policy "
                  "[green]owner = (SELECT auth.user_id())[/]")

    step("The auth provider makes a key pair; the proxy gets the public half")
    private, public = ed25519_keypair(kid="demo-1")
    console.print(f"  public JWK: {json.dumps(public)}")
    minter = Minter(private)

    def session_for(sub: str) -> psycopg.Connection:
        """What a trusted proxy does: JWK in the startup packet, then the user's token."""
        conn = psycopg.connect(cluster.dsn("web", "demo", options=startup_options(jwk=public)), autocommit=True)
        conn.execute("SELECT auth.jwt_session_init(%s)", [minter.token(sub)])
        return conn

    step("Alice and Bob each get a token and add their todos")
    conns = {sub: session_for(sub) for sub in ("alice", "bob")}
    tasks = {"alice": ["buy milk", "call mum"], "bob": ["fix the bike"]}
    for sub, conn in conns.items():
        for task in tasks[sub]:
            conn.execute("INSERT INTO todos (task) VALUES (%s)", [task])
    show_sql("SELECT auth.jwt_session_init($token); INSERT INTO todos (task) VALUES (...)")

    step("Each sees only their own rows (same query, same table)")
    show_sql("SELECT * FROM todos ORDER BY id")
    for sub, conn in conns.items():
        rows: List = conn.execute("SELECT id, owner, task FROM todos ORDER BY id").fetchall()
        console.print(rows_table(f"as {sub}", rows))

    alice = conns["alice"]
    step("Alice tries to write a row as Bob: WITH CHECK refuses it")
    refused(lambda: alice.execute("INSERT INTO todos (owner, task) VALUES ('bob', 'pay alice 100€')"))

    step("Mallory forges a token for Bob with her own key")
    mallory_private, _ = ed25519_keypair()
    forged = Minter(mallory_private).token("bob")
    refused(lambda: alice.execute("SELECT auth.jwt_session_init(%s)", [forged]))

    step("Someone replays Alice's older token after a newer one was accepted")
    old = minter.token("alice")
    alice.execute("SELECT auth.jwt_session_init(%s)", [minter.token("alice")])
    refused(lambda: alice.execute("SELECT auth.jwt_session_init(%s)", [old]))
    console.print(f"  still alice: auth.user_id() = {alice.execute('SELECT auth.user_id()').fetchone()[0]!r}")

    step("PostgREST fallback: no JWK configured, claims come from request.jwt.claims")
    with psycopg.connect(cluster.dsn("web", "demo"), autocommit=True) as postgrest:
        claims = '{"sub": "bob", "role": "web"}'
        postgrest.execute("SELECT set_config('request.jwt.claims', %s, false)", [claims])
        show_sql(f"SET request.jwt.claims = '{claims}'")
        rows = postgrest.execute("SELECT id, owner, task FROM todos ORDER BY id").fetchall()
        console.print(rows_table("as the PostgREST request", rows))
    for conn in conns.values():
        conn.close()


def main() -> None:
    with console.status("starting a throwaway PostgreSQL cluster"):
        cluster = Cluster().start()
    try:
        with cluster.connect() as su:
            server = su.execute("SHOW server_version").fetchone()[0]
        console.print(f"[bold]pg_session_jwt demo[/] on PostgreSQL {server}, socket in {cluster.root}")
        run(cluster)
    finally:
        cluster.stop()
    console.print("\n[bold green]done[/]: the cluster is stopped and removed.")


if __name__ == "__main__":
    main()
