"""`meetbot serve` says it listens only once it answers; ``meetbot migrate``; JSON log lines
from the server and its delivery child; /metrics and /readyz of a real server on SQLite."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from meetbot.lab.serve import MEETBOT

LISTENING = re.compile(r"meetbot listening on (http://127\.0\.0\.1:\d+) ")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``meetbot serve --port 0`` with JSON logs: its URL (read from the line) and log file."""
    env = {**os.environ, "MEETBOT_LAUNCHER": "fake", "MEETBOT_LOG_FORMAT": "json"}
    errors = tmp_path / "stderr.log"
    with errors.open("w") as err:
        proc = subprocess.Popen(
            [*MEETBOT, "serve", "--port", "0", "--data-dir", str(tmp_path / "data")],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            if (found := LISTENING.search(line)) is not None:
                url = found.group(1)
                break
        assert url is not None, errors.read_text()
        yield url, errors
    finally:
        proc.terminate()
        proc.wait(15)


def test_the_listening_line_comes_when_requests_are_answered(
    served: tuple[str, Path],
) -> None:
    url, _ = served
    answer = httpx.get(f"{url}/healthz", timeout=5)  # at once, no retry
    assert answer.status_code == 200
    ready = httpx.get(f"{url}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text


def test_metrics_of_a_real_server_parse_back(served: tuple[str, Path]) -> None:
    url, _ = served
    httpx.get(f"{url}/api/v1/bot/", timeout=5)  # 401: no key
    text = httpx.get(f"{url}/metrics", timeout=5).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "meetbot_http_requests",
        "meetbot_bots",
        "meetbot_slots_needed",
        "meetbot_webhook_deliveries_due",
    } <= names
    assert 'route="/api/v1/bot/",status="401"' in text


def test_log_lines_are_json_objects(served: tuple[str, Path]) -> None:
    url, errors = served
    httpx.get(f"{url}/healthz", headers={"X-Request-Id": "probe-1"}, timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "Application startup complete" not in errors.read_text():
        time.sleep(0.05)
    lines = [line for line in errors.read_text().splitlines() if line.strip()]
    assert lines
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed)


def test_migrate_applies_the_schema_and_exits(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for _ in range(2):  # a second run finds nothing to do
        done = subprocess.run(
            [*MEETBOT, "migrate", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert re.fullmatch(r"database at schema version \d+\n", done.stdout)
    assert (data / "meetbot.db").exists()
