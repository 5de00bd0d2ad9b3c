"""A short, bounded run of the atheris fuzz target (fuzz/fuzz_parsers.py).

It runs in a subprocess (libFuzzer owns the process and exits when done),
on a copy of the seed corpus so the run never writes into the repository.
A crash shows the target, the input and the traceback in the failure message.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def test_fuzz_smoke(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(FUZZ / "corpus", corpus)
    command = [
        sys.executable, str(FUZZ / "fuzz_parsers.py"),
        "-runs=5000", "-max_total_time=30", "-timeout=10",
        f"-dict={FUZZ / 'jwt.dict'}", f"-artifact_prefix={tmp_path}/", str(corpus),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    log = "\n".join(line for line in run.stderr.splitlines() if not line.startswith("INFO: Instrumenting"))
    assert run.returncode == 0, f"fuzzer exit {run.returncode}; artifacts in {tmp_path}\n{log[-6000:]}"
    assert "Done " in run.stderr, log[-2000:]
