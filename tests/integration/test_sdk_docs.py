"""Every ``python`` block of docs/sdk.md runs, as a user's script, against a real server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from client_server import api_key, served

from meetbot.lab.serve import Server

__all__ = ["api_key", "served"]  # fixtures

DOC = Path(__file__).parents[2] / "docs" / "sdk.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Each block in a fresh namespace, in order; a failure names its block.
RUN_BLOCKS = """
import json, sys, traceback
for n, code in enumerate(json.load(sys.stdin)):
    try:
        exec(compile(code, f"docs/sdk.md block {n}", "exec"), {"__name__": "__main__"})
    except BaseException:
        traceback.print_exc()
        sys.exit(f"block {n} failed: " + code.splitlines()[0])
"""


def test_every_example_runs(served: Server, api_key: str, tmp_path: Path) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 6
    env = {
        **served.env,
        "MEETBOT_SERVER": served.url,
        "MEETBOT_API_KEY": api_key,
        "HOOK_URL": "http://127.0.0.1:9/hook",  # the doc's host does not resolve here
        "ICS_URL": "http://127.0.0.1:9/team.ics",  # nothing answers: the calendar connects
    }
    result = subprocess.run(
        [sys.executable, "-c", RUN_BLOCKS],
        input=json.dumps(blocks),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not_admitted manually_stopped" in result.stdout
    assert result.stdout.count("not_admitted manually_stopped") >= 2  # the stream's example too
