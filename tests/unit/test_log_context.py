"""Logs: ``MEETBOT_LOG_FORMAT=json`` writes one JSON object per line with the request id, bot id
and workspace of the request the line belongs to; ``X-Request-Id`` is echoed or made."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter

from harness.plane import TestPlane, build_test_plane
from meetbot import logs
from meetbot.control.api.app import create_app
from meetbot.control.api.deps import WorkspaceId
from meetbot.testing.memory_store import MemoryStore

BOT = "0f8fad5b-d9cb-469f-a165-70867728950e"
probe = APIRouter()
log = logging.getLogger("meetbot.test.probe")


@probe.get("/api/v1/bot/{bot_id}/probe")
async def logs_a_line(bot_id: str, workspace_id: WorkspaceId) -> dict[str, str]:
    log.info("probing https://zoom.us/j/1?pwd=hunter2")
    return {"ok": bot_id}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logs.handler("json", stream=out)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield out
    finally:
        log.removeHandler(handler)


@pytest.fixture
async def plane() -> TestPlane:
    plane = await build_test_plane(MemoryStore())
    plane.app = create_app(plane.services, routers=[probe])
    return plane


def test_a_json_line_carries_the_bound_context() -> None:
    record = logging.LogRecord(
        "meetbot.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None
    )
    with logs.bound(request_id="r-1", bot_id="b-1"):
        logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["level"] == "warning"
    assert line["logger"] == "meetbot.x"
    assert (line["request_id"], line["bot_id"]) == ("r-1", "b-1")
    assert "workspace_id" not in line
    assert logs.context() == {}  # unbound after the block


def test_a_text_line_ends_with_the_context() -> None:
    record = logging.LogRecord("meetbot.x", logging.INFO, __file__, 1, "hello", (), None)
    with logs.bound(bot_id="b-1"):
        logs.ContextFilter().filter(record)
    assert logs.TextFormatter("%(message)s").format(record) == "hello [bot_id=b-1]"


async def test_every_line_of_a_request_has_its_ids(plane: TestPlane, captured: io.StringIO) -> None:
    async with plane.client() as client:
        answer = await client.get(f"/api/v1/bot/{BOT}/probe", headers={"X-Request-Id": "req-42"})
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "req-42"
    (line,) = [json.loads(text) for text in captured.getvalue().splitlines()]
    assert line["request_id"] == "req-42"
    assert line["bot_id"] == BOT
    assert line["workspace_id"] == plane.workspace_id
    assert "hunter2" not in line["message"]  # passcodes are redacted in JSON too


@pytest.mark.parametrize("given", [None, "x" * 129, "two words"])
async def test_a_request_id_is_made_when_none_sane_is_given(
    plane: TestPlane, given: str | None
) -> None:
    headers = {"X-Request-Id": given} if given else {}
    async with plane.client() as client:
        answer = await client.get("/api/v1/bot/", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


async def test_an_error_answer_has_a_request_id_too(plane: TestPlane) -> None:
    transport = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        answer = await client.get("/api/v1/bot/")
    assert answer.status_code == 401
    assert answer.headers["x-request-id"]


def test_runners_get_the_log_format() -> None:
    from meetbot.config import Settings
    from meetbot.control.launchers.runner_env import settings_environment

    env = settings_environment(Settings(log_format="json"))
    assert env["MEETBOT_LOG_FORMAT"] == "json"
