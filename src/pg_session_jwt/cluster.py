"""A throwaway PostgreSQL cluster for the demo, the tests and benchmarks.

initdb into a temporary directory, a Unix socket in that directory and no
TCP listener, a random port number.  PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` OS user (the Debian packages
create it); otherwise as the calling user.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

import psycopg
from psycopg import conninfo, sql


def default_bindir() -> str:
    """$PG_BIN, else what pg_config names."""
    if os.environ.get("PG_BIN"):
        return os.environ["PG_BIN"]
    return subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()


def extension_dir() -> Path:
    """The extension directory of the server :func:`default_bindir` names, where
    ``make install`` puts the scripts and the code file."""
    pg_config = Path(default_bindir()) / "pg_config"
    sharedir = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=True).stdout
    return Path(sharedir.strip()) / "extension"


def backend_memory(pid: int) -> Dict[str, int]:
    """The ``Vm*`` and ``Rss*`` lines of a server process's ``/proc/PID/status``, in KiB.

    The server runs as another OS user as soon as this process is root, so
    reading needs root or that user.
    """
    found = {}
    try:
        f = open(f"/proc/{pid}/status")
    except PermissionError as e:
        raise PermissionError(f"{e}: run as root or as the server's OS user") from e
    with f:
        for line in f:
            name, _, value = line.partition(":")
            if name.startswith(("Vm", "Rss")):
                found[name] = int(value.split()[0])
    return found


class Cluster:
    """One private PostgreSQL server; use as a context manager."""

    def __init__(self, settings: Optional[Dict[str, str]] = None, bindir: Optional[str] = None):
        self.bindir = Path(bindir or default_bindir())
        self.settings = {
            "listen_addresses": "''",
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": "100",
            "log_line_prefix": "'%m [%p] %u@%d '",
            **(settings or {}),
        }
        self.root = Path(tempfile.mkdtemp(prefix="pg_session_jwt-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = random.randint(20000, 60000)
        self._as_user = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        os.chmod(self.root, 0o755)

    def _run(self, *args: str) -> None:
        subprocess.run(self._as_user + [str(self.bindir / args[0]), *args[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)

    def start(self) -> "Cluster":
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            for name, value in self.settings.items():
                conf.write(f"{name} = {value}\n")
        return self._launch()

    def _launch(self) -> "Cluster":
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o",
                  f"-k {self.root} -p {self.port}", "start")
        return self

    def standby(self) -> "Cluster":
        """A started hot standby of this running cluster, streaming from it: a
        base backup (``pg_basebackup -R``: its settings, and the replication
        settings that follow this cluster) in a directory of its own, with its
        own socket and port.  Stop it like any cluster."""
        replica = Cluster(bindir=str(self.bindir))
        replica._run("pg_basebackup", "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast",
                     "-h", str(self.root), "-p", str(self.port), "-U", "postgres")
        return replica._launch()

    def wait_for_replay(self, standby: "Cluster", timeout: float = 30) -> None:
        """Until ``standby`` has replayed everything this cluster wrote so far
        (the insert position: with synchronous_commit off, a commit may not
        have reached the WAL files yet)."""
        with self.connect() as primary:
            lsn = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with standby.connect() as replica:
            while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the standby has not replayed {lsn} after {timeout} s")
                time.sleep(0.02)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-m", "fast", "-o",
                  f"-k {self.root} -p {self.port}", "restart")

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def dsn(self, user: str = "postgres", dbname: str = "postgres", **params: str) -> str:
        """A libpq connection string; ``options=`` carries startup settings."""
        return conninfo.make_conninfo(host=str(self.root), port=self.port, user=user, dbname=dbname, **params)

    def connect(self, user: str = "postgres", dbname: str = "postgres", **kw) -> psycopg.Connection:
        return psycopg.connect(self.dsn(user, dbname), autocommit=True, **kw)

    def create_app_database(self, dbname: str, role: str, version: Optional[str] = None) -> None:
        """A database where ``role`` (a plain login role) may CREATE EXTENSION
        pg_session_jwt, after the superuser-only step of creating plpython3u;
        ``role`` then creates it (its default version, or ``version``)."""
        with self.connect() as su:
            if not su.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                su.execute(f'CREATE ROLE "{role}" LOGIN')
            su.execute(f'CREATE DATABASE "{dbname}"')
            su.execute(f'GRANT CREATE ON DATABASE "{dbname}" TO "{role}"')
        with self.connect(dbname=dbname) as su:
            su.execute("CREATE EXTENSION plpython3u")
            su.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        with self.connect(user=role, dbname=dbname) as app:
            if version is None:
                app.execute("CREATE EXTENSION pg_session_jwt")
            else:
                app.execute(sql.SQL("CREATE EXTENSION pg_session_jwt VERSION {}").format(sql.Literal(version)))
