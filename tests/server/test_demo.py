"""`make demo` runs end to end and shows what it promises."""

import subprocess
import sys


def test_demo_transcript():
    out = subprocess.run([sys.executable, "-m", "pg_session_jwt.demo"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    for expected in [
        "buy milk", "fix the bike",
        'new row violates row-level security policy for table "todos"',
        "23514 invalid JWT signature",
        "Token ID must be strictly monotonically increasing.",
        "as the PostgREST request",
        "the cluster is stopped and removed",
    ]:
        assert expected in out, expected
    alice_table = out.split("as alice")[1].split("as bob")[0]
    assert "buy milk" in alice_table and "fix the bike" not in alice_table
