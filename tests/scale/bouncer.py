"""A throwaway PgBouncer in front of a :class:`pg_session_jwt.cluster.Cluster`.

Like ``Cluster``: a temporary directory, a Unix socket there (and
127.0.0.1) on a random port, and as root the daemon runs as the
``postgres`` OS user.  Server connections go to the cluster's Unix socket.
Pools are transaction-mode by default; each entry of ``databases`` is a
pool alias (``name -> extra connection parameters``, e.g.
``{"app": "dbname=app", "one": "dbname=app pool_size=1"}``).

It is stopped by the process id in its own pid file, never by name.
"""

from __future__ import annotations

import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

import psycopg
from psycopg import conninfo

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def pgbouncer_version() -> Tuple[int, ...]:
    """(1, 24, 1) for PgBouncer 1.24.1: what it does differs by version."""
    out = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True, check=True).stdout
    return tuple(int(n) for n in re.search(r"PgBouncer (\d+(?:\.\d+)+)", out).group(1).split("."))


class PgBouncer:
    def __init__(self, cluster, databases: Mapping[str, str], users=("postgres", "app"),
                 settings: Optional[Dict[str, str]] = None):
        self.cluster = cluster
        self.databases = dict(databases)
        self.users = list(users)
        self.settings = {
            "listen_addr": "127.0.0.1",
            "auth_type": "trust",
            "pool_mode": "transaction",
            "default_pool_size": "4",
            "min_pool_size": "0",
            "reserve_pool_size": "0",
            "max_client_conn": "200",
            "max_db_connections": "0",
            "server_login_retry": "1",
            "admin_users": "postgres",
            # what psycopg and pgbench may send; the key in `options` is dropped (see docs/poolers.md)
            "ignore_startup_parameters": "extra_float_digits,options",
            **(settings or {}),
        }
        self.root = Path(tempfile.mkdtemp(prefix="pg_session_jwt-bouncer-"))
        self.port = 0
        self.pidfile = self.root / "pgbouncer.pid"
        self.logfile = self.root / "pgbouncer.log"
        self.ini = self.root / "pgbouncer.ini"
        self._as_user = []
        self._owner = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._owner = (pw.pw_uid, pw.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o755)

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        if self._owner:
            os.chown(path, *self._owner)

    def _config(self) -> str:
        lines = ["[databases]"]
        for alias, params in self.databases.items():
            lines.append(f"{alias} = host={self.cluster.root} port={self.cluster.port} {params}")
        lines += ["", "[pgbouncer]",
                  f"listen_port = {self.port}",
                  f"unix_socket_dir = {self.root}",
                  f"auth_file = {self.root / 'userlist.txt'}",
                  f"logfile = {self.logfile}",
                  f"pidfile = {self.pidfile}"]
        lines += [f"{k} = {v}" for k, v in self.settings.items()]
        return "\n".join(lines) + "\n"

    def start(self) -> "PgBouncer":
        if self._owner:
            os.chown(self.root, *self._owner)
        self._write(self.root / "userlist.txt", "".join(f'"{u}" ""\n' for u in self.users))
        for _ in range(20):
            self.port = random.randint(20000, 60000)
            if _port_free(self.port):
                break
        self._write(self.ini, self._config())
        subprocess.run(self._as_user + [PGBOUNCER, "-d", str(self.ini)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(self.dsn("postgres", "pgbouncer"), autocommit=True) as admin:
                    admin.execute("SHOW VERSION")
                return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError("pgbouncer did not start:\n" + self.log_text())
                time.sleep(0.05)

    def pid(self) -> Optional[int]:
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None and _alive(pid):
            os.kill(pid, signal.SIGTERM)  # "fast exit"
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PgBouncer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_text(self) -> str:
        try:
            return self.logfile.read_text()
        except OSError:
            return ""

    def dsn(self, user: str = "app", dbname: str = "app", **params: str) -> str:
        return conninfo.make_conninfo(host=str(self.root), port=self.port, user=user, dbname=dbname, **params)

    def connect(self, user: str = "app", dbname: str = "app", **kw) -> psycopg.Connection:
        """An autocommit connection.  No server-side prepared statements: a
        transaction pooler may run the next statement on another backend."""
        kw.setdefault("prepare_threshold", None)
        return psycopg.connect(self.dsn(user, dbname), autocommit=True, **kw)

    def admin(self, command: str):
        """Rows of an admin console command (SHOW POOLS, SHOW SERVERS, …) as dicts."""
        with psycopg.connect(self.dsn("postgres", "pgbouncer"), autocommit=True) as admin:
            cur = admin.execute(command)
            names = [d.name for d in cur.description or []]
            return [dict(zip(names, row)) for row in cur.fetchall()]


def _alive(pid: int) -> bool:
    """Running (a daemon's zombie, left for init to reap, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
