"""Shared pieces of the scale tests: RLS tables, the pooled workload, /proc readings.

``notes_bare`` and ``notes_initplan`` hold the same rows, each behind one
form of the policy (``owner = auth.user_id()`` and
``owner = (SELECT auth.user_id())``).  The tables belong to the superuser;
the application role only reads them, so RLS applies to it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Set

from psycopg import sql

POLICIES = {"notes_bare": "owner = auth.user_id()", "notes_initplan": "owner = (SELECT auth.user_id())"}


def user(i: int) -> str:
    return f"u{i:02d}"


def rows_of(i: int) -> int:
    """How many rows user ``i`` owns (1 to 5, so counts tell users apart)."""
    return i % 5 + 1


def org_of(sub: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, sub + ".org.example"))


def set_key(cluster, target: str, public_jwk: dict, dbname: str = "postgres") -> None:
    """``ALTER DATABASE x SET`` / ``ALTER ROLE x SET`` the key: ``target`` is the
    rest of the statement after ALTER, e.g. ``DATABASE app``."""
    with cluster.connect(dbname=dbname) as su:
        su.execute(sql.SQL("ALTER {} SET pg_session_jwt.jwk = {}").format(
            sql.SQL(target), sql.Literal(json.dumps(public_jwk))))


def prepare_notes(cluster, dbname: str, readers: List[str], users: int = 40) -> None:
    """The two RLS tables in ``dbname``, readable by ``readers``."""
    with cluster.connect(dbname=dbname) as su:
        for table, policy in POLICIES.items():
            su.execute(f"DROP TABLE IF EXISTS {table}")
            su.execute(f"CREATE TABLE {table} (owner text NOT NULL, body text NOT NULL)")
            su.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            su.execute(f"CREATE POLICY own ON {table} USING ({policy})")
            for reader in readers:
                su.execute(f'GRANT SELECT ON {table} TO "{reader}"')
            with su.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {table} VALUES (%s, %s)",
                    [(user(i), f"note {k} of {user(i)}") for i in range(users) for k in range(rows_of(i))],
                )


# One transaction's reads: who the session says it is, and what RLS shows.
READ = """
SELECT auth.user_id(), auth.session() ->> 'sub', auth.organization_id()::text,
       (SELECT json_object_agg(owner, n) FROM (SELECT owner, count(*) AS n FROM notes_bare GROUP BY owner) b),
       (SELECT json_object_agg(owner, n) FROM (SELECT owner, count(*) AS n FROM notes_initplan GROUP BY owner) i),
       pg_backend_pid()
"""
# Outside any session: no identity, JSON null, no rows through either policy.
EMPTY = """
SELECT auth.user_id(), auth.session() = 'null'::jsonb, auth.organization_id()::text,
       (SELECT count(*) FROM notes_bare), (SELECT count(*) FROM notes_initplan), pg_backend_pid()
"""
NOTHING = (None, True, None, 0, 0)


@dataclasses.dataclass
class Stats:
    transactions: int = 0
    errors: List[str] = dataclasses.field(default_factory=list)
    # a transaction that, before its own login, saw an identity or rows
    foreign_at_start: List[tuple] = dataclasses.field(default_factory=list)
    # a transaction whose reads after its login were not exactly its own
    wrong_inside: List[tuple] = dataclasses.field(default_factory=list)
    # a read right after COMMIT, on the same client connection, that saw something
    left_after_commit: List[tuple] = dataclasses.field(default_factory=list)
    subjects_by_backend: Dict[int, Set[str]] = dataclasses.field(default_factory=lambda: defaultdict(set))

    @property
    def backends(self) -> Set[int]:
        return set(self.subjects_by_backend)

    def summary(self) -> str:
        shared = Counter(len(s) for s in self.subjects_by_backend.values())
        return (f"{self.transactions} transactions, {len(self.errors)} errors, "
                f"{len(self.foreign_at_start)} saw an identity at start, "
                f"{len(self.wrong_inside)} wrong inside, {len(self.left_after_commit)} left after COMMIT, "
                f"{len(self.backends)} server backends (subjects per backend: {dict(shared)})")


def run_workload(connect, minter, clients: int, per_client: int, local: bool = True,
                 users: int = 40) -> Stats:
    """``clients`` threads, one client connection each (through the pooler that
    ``connect`` reaches), ``per_client`` transactions each:

        BEGIN; <read: nothing>; SELECT auth.jwt_session_init(tok, local);
        <read: own identity, own rows>; COMMIT;  then <read: nothing> outside a transaction

    Client ``c`` is user ``c % users``; a new token every transaction, except
    every third one reuses the previous token (tokens legitimately return).
    With ``local=False`` the one-argument, session-level init is used; its
    connection-wide jti order needs tokens to reach every backend in minting
    order, so minting and the init statement are serialized.
    """
    stats = Stats()
    lock = threading.Lock()
    mint_lock = threading.Lock()
    start = threading.Barrier(clients, timeout=60)

    def client(c: int) -> None:
        sub = user(c % users)
        expected_rows = {sub: rows_of(c % users)}
        org = org_of(sub)
        token: Optional[str] = None
        try:
            conn = connect()
        except Exception as e:
            with lock:
                stats.errors.append(f"client {c} connect: {e!r}")
            start.abort()
            return
        with conn:
            try:
                start.wait()
            except threading.BrokenBarrierError:
                with lock:
                    stats.errors.append(f"client {c}: another client could not connect")
                return
            for t in range(per_client):
                try:
                    conn.execute("BEGIN")
                    before = conn.execute(EMPTY).fetchone()
                    if local:
                        if token is None or t % 3 != 2:
                            token = minter.token(sub, o={"id": org})
                        conn.execute("SELECT auth.jwt_session_init(%s, true)", [token])
                    else:
                        with mint_lock:
                            token = minter.token(sub, o={"id": org})
                            conn.execute("SELECT auth.jwt_session_init(%s)", [token])
                    who, claim_sub, org_id, bare, initplan, pid = conn.execute(READ).fetchone()
                    conn.execute("COMMIT")
                    after = conn.execute(EMPTY).fetchone()
                except Exception as e:
                    with lock:
                        stats.errors.append(f"client {c} transaction {t}: {type(e).__name__}: {e}")
                    try:
                        conn.execute("ROLLBACK")
                    except Exception:
                        return
                    continue
                with lock:
                    stats.transactions += 1
                    stats.subjects_by_backend[pid].add(sub)
                    if before[:5] != NOTHING:
                        stats.foreign_at_start.append((c, t, sub, before))
                    if (who, claim_sub, org_id, bare, initplan) != (sub, sub, org, expected_rows, expected_rows):
                        stats.wrong_inside.append((c, t, sub, who, claim_sub, org_id, bare, initplan))
                    if after[:5] != NOTHING:
                        stats.left_after_commit.append((c, t, sub, after))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return stats
