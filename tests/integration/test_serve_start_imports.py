"""What ``meetbot serve`` and its webhook delivery child import before they answer (issue 17 §4:
the time from start to the first answered request kept short). Heavy libraries are imported
where they are used: numpy when samples are made, icalendar when a feed is parsed, the speech
and browser and S3 libraries by the runner, the media pipeline or the S3 driver; the CLI
imports the agent (httpx) only for ``meetbot agent``. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_NEVER = (
    "numpy",
    "icalendar",
    "recurring_ical_events",
    "faster_whisper",
    "ctranslate2",
    "playwright",
    "boto3",
    "botocore",
)


def imported_after(statement: str, names: tuple[str, ...]) -> list[str]:
    found = f"[n for n in {list(names)!r} if n in sys.modules]"
    code = f"import json, sys; {statement}; print(json.dumps({found}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return imported


def test_the_server_imports_no_heavy_library_it_needs_only_later() -> None:
    assert imported_after("import meetbot.cli, meetbot.control.server", SERVER_NEVER) == []


def test_the_cli_imports_neither_the_agent_nor_the_server() -> None:
    names = ("httpx", "meetbot.agent.agent", "fastapi", "sqlalchemy", *SERVER_NEVER)
    assert imported_after("import meetbot.cli", names) == []
