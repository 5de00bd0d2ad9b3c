"""`make bench BENCH_ARGS=--quick` runs end to end and writes its report.

Only that it runs: the numbers are not checked (a shared 2-core machine is
too noisy for timing assertions in a test suite).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def bench_common():
    """bench/common.py, imported by path (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_common", RUN.parent / "common.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.mark.parametrize("value, text, met", [
    (1.00, "1.00x", True),
    (1.054, "1.054x", False),  # "1.05x" beside "≤ 1.05x" would hide the miss
    (1.046, "1.046x", True),
    (1.05, "1.05x", True),
    (1.29, "1.29x", False),
])
def test_summary_ratio_shows_which_side_of_the_limit(bench_common, value, text, met):
    row = bench_common.TargetRow(workload="w", ours="", peers="", value=value, limit=1.05)
    assert (row.value_text, row.met) == (text, met)
