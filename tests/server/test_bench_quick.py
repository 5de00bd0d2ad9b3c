"""`make bench BENCH_ARGS=--quick` runs end to end and writes its report.

Only that it runs: the numbers are not checked (a shared 2-core machine is
too noisy for timing assertions in a test suite).
"""

import subprocess
import sys
from pathlib import Path

from pg_session_jwt.cluster import extension_dir

RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"
SECTIONS = ["## 1. RLS filter", "## 2. Session start", "## 3. Cold connection", "## 4. Memory", "## 5. Scaling"]


def test_bench_quick(tmp_path):
    done = subprocess.run([sys.executable, str(RUN), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    md = (tmp_path / "results.md").read_text()
    for heading in SECTIONS:
        assert heading in md, heading
    assert "| workload | ours | peer(s) | ratio | target | met? |" in md
    assert "**Failed:**" not in md
    png = tmp_path / "results.png"
    assert png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


COMPARE = RUN.parent / "compare.py"


def test_compare_against_this_revision():
    """bench/compare.py builds a revision's script and code file beside this build's and removes them after."""
    done = subprocess.run([sys.executable, str(COMPARE), "--against", "HEAD", "--rounds", "2", "--chunks", "1",
                           "--calls", "2"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for row in ("| this |", "| ref |", "| PL/Python floor |"):
        assert row in done.stdout, row
    assert list(extension_dir().glob("pg_session_jwt--*-ref.*")) == []  # script, code file
