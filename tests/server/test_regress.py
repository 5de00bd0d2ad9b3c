"""The pg_regress suite (`make installcheck`) passes against the test cluster."""

import os
import subprocess
from pathlib import Path

from pg_session_jwt.cluster import default_bindir

ROOT = Path(__file__).resolve().parents[2]


def test_installcheck(cluster):
    env = dict(os.environ, PGHOST=str(cluster.root), PGPORT=str(cluster.port), PGUSER="postgres")
    run = subprocess.run(["make", "-s", "installcheck", f"PG_CONFIG={default_bindir()}/pg_config"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    diffs = ROOT / "regression.diffs"
    assert run.returncode == 0, run.stdout + run.stderr + (diffs.read_text() if diffs.exists() else "")
