"""The systemd unit and the cron line in examples/jwks_sync run commands this CLI accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from pg_session_jwt.cli import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jwks_sync"
URL = "https://id.example/.well-known/jwks.json"


def parsed(command: str):
    argv = shlex.split(command)
    assert Path(argv[0]).name == "pg-session-jwt", argv
    return build_parser().parse_args(argv[1:])


def test_service_execstart_is_a_sync_to_the_configured_database():
    unit = (EXAMPLES / "pg-session-jwt-jwks-sync.service").read_text()
    (line,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    args = parsed(line.replace("${JWKS_URL}", URL).replace("${PGDATABASE_TARGET}", "app"))
    assert (args.command, args.jwks_command, args.url, args.database, args.watch) == ("jwks", "sync", URL, "app", False)
    assert "OnUnitActiveSec=" in (EXAMPLES / "pg-session-jwt-jwks-sync.timer").read_text()


def test_cron_line_in_the_readme_is_a_sync():
    readme = (EXAMPLES / "README.md").read_text()
    (line,) = re.findall(r"^\*/15 \* \* \* \* postgres (.*)$", readme, re.M)
    args = parsed(line.replace("https://YOUR_DOMAIN/.well-known/jwks.json", URL))
    assert (args.jwks_command, args.url, args.database) == ("sync", URL, "app")
