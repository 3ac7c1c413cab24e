"""`meetbot serve` killed with -9 in the middle of webhook deliveries loses no event and never
reorders a bot's events (at least once: a redelivery repeats the same ``webhook-id``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from webhook_receiver import Receiver, dedupe_consecutive, streams

from harness.waiting import wait_until
from meetbot.lab.serve import Server, free_port

BOTS = 12


class ThreadedReceiver:
    """The receiver on its own event loop in a thread (the test blocks on subprocesses)."""

    def __init__(self, delay: float) -> None:
        self.receiver = Receiver(delay=delay)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    threaded = ThreadedReceiver(delay=0.5)
    yield threaded.receiver
    threaded.stop()


@pytest.fixture
def server(tmp_path: Path, sql_url: str) -> Iterator[Server]:
    env = {
        "MEETBOT_DATABASE_URL": sql_url,
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_HEARTBEAT_TIMEOUT": "600",
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
        "MEETBOT_WEBHOOK_TIMEOUT": "3",
    }
    srv = Server(tmp_path / "data", free_port(), env)
    yield srv
    srv.stop()


def test_kill9_mid_delivery_loses_nothing(server: Server, receiver: Receiver) -> None:
    server.start()
    headers = {"Authorization": f"Token {server.first_key()}"}
    join_at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    with httpx.Client(base_url=server.url, headers=headers) as c:
        ep = c.post("/api/v1/webhook_endpoints/", json={"url": receiver.url})
        assert ep.status_code == 201, ep.text
        receiver.secrets.append(ep.json()["secret"])
        for _ in range(BOTS):  # two events per bot: created (scheduled), deleted
            bot = c.post(
                "/api/v1/bot/",
                json={"meeting_url": "https://meet.google.com/abc-defg-hij", "join_at": join_at},
            )
            assert bot.status_code == 201, bot.text
            assert c.delete(f"/api/v1/bot/{bot.json()['id']}/").status_code in (200, 204)
    wait_until(lambda: len(receiver.requests) >= 3, 20, what="the first deliveries")
    server.kill9()  # answers take 0.5 s: deliveries are in flight
    assert len(receiver.accepted) < 2 * BOTS

    server.start()
    with httpx.Client(base_url=server.url, headers=headers) as c:
        feed: list[dict[str, Any]] = c.get("/api/v1/events/?limit=500").json()["results"]
        assert len(feed) == 2 * BOTS
        want: dict[tuple[str, str], list[str]] = {}
        for event in feed:
            want.setdefault(("/hook", event["data"]["bot_id"]), []).append(event["id"])

        def all_arrived() -> bool:
            got = streams(list(receiver.accepted))
            return {k: dedupe_consecutive(v) for k, v in got.items()} == want

        wait_until(all_arrived, 40, what="every event after the restart")
        path = f"/api/v1/webhook_endpoints/{ep.json()['id']}/deliveries/?limit=200"

        def all_recorded() -> bool:
            deliveries = c.get(path).json()["results"]
            return {d["status"] for d in deliveries} == {"delivered"}

        wait_until(all_recorded, 10, what="every delivery recorded as delivered")
    assert receiver.bad_signatures == 0
    types = [[e["type"] for e in feed if e["data"]["bot_id"] == bot] for _, bot in want]
    assert all(t == ["status_update", "bot.deleted"] for t in types)


def test_a_killed_delivery_process_is_started_again(server: Server, receiver: Receiver) -> None:
    """MEETBOT_DELIVERY=process (the default): the child that delivers is restarted if it dies,
    and delivers what was queued meanwhile; it stops with the server."""
    server.start()
    assert server.proc is not None
    (child,) = psutil.Process(server.proc.pid).children()
    assert "deliver" in child.cmdline()
    receiver.delay = 0.0
    headers = {"Authorization": f"Token {server.first_key()}"}
    join_at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    with httpx.Client(base_url=server.url, headers=headers) as c:
        ep = c.post("/api/v1/webhook_endpoints/", json={"url": receiver.url})
        receiver.secrets.append(ep.json()["secret"])
        child.kill()
        bot = c.post(
            "/api/v1/bot/",
            json={"meeting_url": "https://meet.google.com/abc-defg-hij", "join_at": join_at},
        )
        assert bot.status_code == 201, bot.text
    wait_until(lambda: len(receiver.accepted) >= 1, 20, what="the delivery after the restart")
    (again,) = psutil.Process(server.proc.pid).children()
    assert again.pid != child.pid
    server.stop()
    assert not again.is_running() or again.status() == psutil.STATUS_ZOMBIE
