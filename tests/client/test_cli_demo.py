"""pg-session-jwt demo is `make demo`: the same narrated run, through the installed script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "pg-session-jwt"


def test_demo_command_runs_the_demo():
    done = subprocess.run([str(SCRIPT), "demo"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    for expected in ["pg_session_jwt demo on PostgreSQL", "buy milk", "23514 invalid JWT signature",
                     "Token ID must be strictly monotonically increasing.", "the cluster is stopped and removed"]:
        assert expected in done.stdout, expected
