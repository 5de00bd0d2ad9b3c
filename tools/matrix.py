#!/usr/bin/env python3
"""Run the whole suite on each Debian suite that ships a PostgreSQL.

    tools/matrix.py [SUITE ...]        (default: bookworm trixie sid; as root)

Each leg is a root filesystem made with ``debootstrap --variant=minbase``
and kept in ``$MATRIX_DIR`` (default ``.matrix/``, ignored by git).  Every
run starts from a fresh copy of that pristine root, puts a clean copy of the
work tree's files in it (what git tracks or would track, not ``.venv``), and
runs ``make test`` there as a new user would: the project's own
``tools/bootstrap`` installs the server, PL/Python, PgBouncer and the Python
packages.  Downloaded .deb files and pip's cache are kept per suite, so a
cached run skips the downloads but not the installs.

Prints one table (suite, PostgreSQL, Python, PgBouncer, PyNaCl, result, times)
and exits non-zero when any leg failed or could not run: a leg whose root
could not be built (no route to the Debian mirror) is reported as such,
never as passed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
SUITES = ("bookworm", "trixie", "sid")
# Release files that may be past their Valid-Until on a mirror (sid's is
# re-signed often, and a mirror that lags serves an expired one).
UNCHECKED_VALIDITY = {"sid"}
# What a minbase root lacks before a new user's `git clone` and `make test`;
# the rest is bootstrap's.
BASE_PACKAGES = "ca-certificates,git,make"
IN_ROOT_REPO = "/root/pg_session_jwt"


def log(msg: str) -> None:
    print(f"matrix: {msg}", file=sys.stderr, flush=True)


def host_mirror() -> str:
    """The Debian mirror the host's apt uses, so the roots reach the same one
    ($MATRIX_MIRROR overrides)."""
    if os.environ.get("MATRIX_MIRROR"):
        return os.environ["MATRIX_MIRROR"]
    for src in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(Path("/etc/apt/sources.list.d").glob("*")):
        if not src.is_file():
            continue
        text = src.read_text(errors="replace")
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    raise SystemExit("matrix: no Debian mirror in /etc/apt; set MATRIX_MIRROR")


def run(cmd: List[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


# --- mounts: always undone, also when a leg fails or is interrupted ----------

def mounts_under(path: Path) -> List[str]:
    """Mount points at or below ``path``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path.resolve())
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all(root: Path) -> None:
    for point in mounts_under(root):
        if subprocess.run(["umount", point]).returncode != 0:
            subprocess.run(["umount", "-l", point])
    left = mounts_under(root)
    if left:
        raise RuntimeError(f"still mounted: {left}")


def remove_root(root: Path) -> None:
    """rm -r a root, refusing while anything is mounted in it (a bound /dev
    would be emptied on the host)."""
    if root.exists():
        unmount_all(root)
        shutil.rmtree(root)


def end_processes_in(root: Path) -> None:
    """Kill, by pid, what the run left running inside ``root`` (a server or a
    pgbouncer of a test that crashed): they would keep the mounts busy."""
    target = str(root.resolve())
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(pid_dir / "root") == target:
                os.kill(int(pid_dir.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


class Mounted:
    """proc, /dev, /dev/pts and the leg's download caches mounted in a root."""

    def __init__(self, root: Path, binds: Optional[Dict[Path, str]] = None):
        self.root = root
        self.binds = binds or {}

    def __enter__(self) -> "Mounted":
        try:
            run(["mount", "-t", "proc", "proc", str(self.root / "proc")])
            run(["mount", "--bind", "/dev", str(self.root / "dev")])
            run(["mount", "--bind", "/dev/pts", str(self.root / "dev/pts")])
            for host, inside in self.binds.items():
                host.mkdir(parents=True, exist_ok=True)
                (self.root / inside.lstrip("/")).mkdir(parents=True, exist_ok=True)
                run(["mount", "--bind", str(host), str(self.root / inside.lstrip("/"))])
        except BaseException:
            unmount_all(self.root)
            raise
        return self

    def __exit__(self, *exc) -> None:
        end_processes_in(self.root)
        unmount_all(self.root)


def chroot(root: Path, script: str, **kw) -> subprocess.CompletedProcess:
    """``sh -c script`` in ``root`` with a new login's environment, plus the
    host's PIP_* settings (how pip reaches the registry from here)."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb",
           # the root's bundle, with the host's local CAs: an older pip reads certifi's otherwise
           "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt"}
    # not PIP_FIND_LINKS: host paths
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_") and k != "PIP_FIND_LINKS"})
    env_args = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(["chroot", str(root), "/usr/bin/env", "-i", *env_args, "/bin/sh", "-c", script], **kw)


class LegNotRun(Exception):
    """The leg's root could not be built (e.g. no route to the mirror)."""


# --- a leg ---------------------------------------------------------------------

@dataclass
class Leg:
    suite: str
    versions: Dict[str, str] = field(default_factory=dict)
    result: str = "not run"
    ok: bool = False
    cold: bool = False  # its root was built by this run
    build_s: float = 0.0
    test_s: float = 0.0

    @property
    def dir(self) -> Path:
        return Path(os.environ.get("MATRIX_DIR", REPO / ".matrix")) / self.suite


def build_base(leg: Leg, mirror: str) -> Path:
    """The pristine root of a suite, built once: minbase, plus the host's
    locally added CAs (pip must trust the registry's certificate as the host
    does) and the host's pip configuration."""
    base, done = leg.dir / "base", leg.dir / "base.ok"
    if done.exists() and done.read_text() == BASE_PACKAGES:
        return base
    remove_root(base)  # none yet, or made with other packages
    leg.cold = True
    tmp = leg.dir / "base.tmp"
    remove_root(tmp)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    log(f"{leg.suite}: debootstrap --variant=minbase (cold)")
    made = subprocess.run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", leg.suite, str(tmp),
                           mirror], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if made.returncode != 0:
        sys.stderr.write("".join(made.stdout.splitlines(keepends=True)[-10:]))
        raise LegNotRun(f"debootstrap {leg.suite} from the host's Debian mirror failed (exit {made.returncode})")
    for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy2(crt, tmp / "usr/local/share/ca-certificates" / crt.name)
    for conf in (Path("/etc/pip.conf"),):
        if conf.exists():
            shutil.copy2(conf, tmp / "etc" / conf.name)
    if leg.suite in UNCHECKED_VALIDITY:
        (tmp / "etc/apt/apt.conf.d/99matrix-valid-until").write_text('Acquire::Check-Valid-Until "false";\n')
    with Mounted(tmp):
        chroot(tmp, "update-ca-certificates >/dev/null 2>&1", check=True)  # exit status kept
    tmp.rename(base)
    done.write_text(BASE_PACKAGES)
    return base


def clone_work_tree(dest: Path) -> None:
    """A fresh clone (the suite reads git history: bench/compare.py archives a
    revision), then the work tree's files that git tracks or would track (not
    ignored) over it: this change as it is, without .venv or build output."""
    run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(dest)])
    out = run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
              capture_output=True).stdout
    for rel in filter(None, out.decode().split("\0")):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


VERSIONS = r"""
echo "PostgreSQL=$(ls -d /usr/lib/postgresql/*/bin/postgres | head -n1 | xargs -r sh -c '"$0" --version' | awk '{print $3}')"
echo "Python=$(python3 -c 'import platform; print(platform.python_version())')"
echo "PgBouncer=$(pgbouncer --version | head -n1 | awk '{print $2}')"
echo "PyNaCl=$(python3 -c 'import nacl; print(nacl.__version__)')"
"""


def summary(log_text: str) -> Optional[str]:
    """pytest's last line, e.g. ``1303 passed in 104.54s``."""
    found = re.findall(r"^=* ?(\d+ (?:passed|failed|error).*?) in [\d.]+s", log_text, re.M)
    return found[-1] if found else None


def run_leg(leg: Leg, mirror: str, pytest_args: str) -> None:
    leg.dir.mkdir(parents=True, exist_ok=True)
    logfile = leg.dir / "make-test.log"
    started = time.monotonic()
    try:
        base = build_base(leg, mirror)
    except (LegNotRun, subprocess.CalledProcessError, OSError) as e:
        leg.result = f"NOT RUN: {e}"
        return
    work = leg.dir / "run"
    remove_root(work)
    log(f"{leg.suite}: fresh copy of the root")
    run(["cp", "-a", "--reflink=auto", str(base), str(work)])
    shutil.copy2("/etc/resolv.conf", work / "etc/resolv.conf")
    clone_work_tree(work / IN_ROOT_REPO.lstrip("/"))
    leg.build_s = time.monotonic() - started
    binds = {leg.dir / "cache/apt": "/var/cache/apt/archives", leg.dir / "cache/pip": "/root/.cache/pip"}
    started = time.monotonic()
    try:
        with Mounted(work, binds):
            log(f"{leg.suite}: make test (log: {logfile})")
            with open(logfile, "w") as out:
                rc = chroot(work, f"cd {IN_ROOT_REPO} && make test PYTEST_ARGS={shlex.quote(pytest_args)}",
                            stdout=out, stderr=subprocess.STDOUT).returncode
            versions = chroot(work, VERSIONS, capture_output=True, text=True).stdout
    finally:
        leg.test_s = time.monotonic() - started
    leg.versions = dict(line.split("=", 1) for line in versions.splitlines() if "=" in line)
    text = logfile.read_text(errors="replace")
    found = summary(text)
    # make's status is pytest's (5, "no tests ran", is a failure too); a zero
    # status without a pytest summary that passed something is not a pass.
    leg.ok = rc == 0 and bool(found) and "passed" in found and not re.search(r"failed|error", found)
    leg.result = ("passed: " if leg.ok else f"FAILED (exit {rc}): ") + (found or "no pytest summary")
    if not leg.ok:
        sys.stderr.write("".join(text.splitlines(keepends=True)[-40:]))


def table(legs: List[Leg]) -> str:
    head = ["suite", "PostgreSQL", "Python", "PgBouncer", "PyNaCl", "result", "root", "make test"]
    rows = [[leg.suite, *(leg.versions.get(k, "-") for k in head[1:5]), leg.result,
             f"{'built' if leg.cold else 'cached'}, {leg.build_s:.0f} s", f"{leg.test_s:.0f} s"] for leg in legs]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(row: List[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    return "\n".join([fmt(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows)])


def main(argv: List[str]) -> int:
    suites = argv or list(SUITES)
    if os.geteuid() != 0:
        raise SystemExit("matrix: debootstrap, mount and chroot need root")
    if not shutil.which("debootstrap"):
        log("apt-get install debootstrap")
        run(["apt-get", "update", "-qq"])
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    # SIGTERM (CI's timeout) unwinds like Ctrl-C, so the mounts are undone.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mirror = host_mirror()
    legs = [Leg(s) for s in suites]
    for leg in legs:
        try:
            run_leg(leg, mirror, os.environ.get("PYTEST_ARGS", ""))
        except (subprocess.CalledProcessError, OSError, RuntimeError) as e:
            leg.ok, leg.result = False, f"ERROR: {e}"
        log(f"{leg.suite}: {leg.result}")
    print(table(legs), flush=True)
    return 0 if all(leg.ok for leg in legs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
