"""The command bus holds the bots whose runners poll, not every bot ever run."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from harness.plane import TestPlane, build_test_plane
from harness.waiting import until
from meetbot.contract.lifecycle import StopReason
from meetbot.contract.reports import InCall, Joining, Leaving, Left, ReportBatch
from meetbot.control.service.lost_runners import runner_lost
from meetbot.control.service.runners import handle_reports
from meetbot.testing.fakes import FakeLauncher

MEET = "https://meet.google.com/abc-defg-hij"


async def _dispatched(plane: TestPlane, client: httpx.AsyncClient) -> tuple[str, str]:
    """A new ad-hoc bot whose runner has polled for commands once: (bot id, token)."""
    bot = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()
    assigned = plane.launcher.assigned(bot["id"])
    assert assigned is not None
    assert await _poll(client, bot["id"], assigned.token) == []
    return bot["id"], assigned.token


async def _poll(client: httpx.AsyncClient, bot_id: str, token: str) -> list[str]:
    r = await client.get(
        f"/internal/bots/{bot_id}/commands",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return [c["type"] for c in r.json()["commands"]]


async def test_a_bot_leaves_the_bus_when_its_runner_is_done(any_store: Any) -> None:
    """Regression: ``CommandBus.forget`` was never called, one entry per bot forever. The bus
    holds a bot only while its runner's long poll waits, and forgets it when the bot ends (the
    waiting poll is woken; its token ended with the bot, so it is answered 401)."""
    plane = await build_test_plane(any_store, launcher=FakeLauncher(auto_refill=True))
    bus = plane.services.commands
    async with plane.client() as client:
        for end in ("reports", "lost", "leave_call"):
            bot_id, token = await _dispatched(plane, client)
            assert len(bus) == 0  # a poll that returned at once keeps nothing
            poll = asyncio.ensure_future(
                client.get(
                    f"/internal/bots/{bot_id}/commands",
                    params={"wait": 10},
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            await until(lambda: len(bus) == 1)
            at = plane.clock.now()
            if end == "reports":
                life = [
                    Joining(at=at),
                    InCall(at=at),
                    Leaving(at=at, stop_reason=StopReason.MEETING_ENDED),
                    Left(at=at),
                ]
                await handle_reports(plane.services, bot_id, token, ReportBatch(events=life))
            elif end == "lost":
                await runner_lost(plane.services, bot_id)
            else:
                r = await client.post(f"/api/v1/bot/{bot_id}/leave_call/")
                assert (r.status_code, r.json()["status"]) == (200, "not_admitted")
            answer = await asyncio.wait_for(poll, 5)
            assert answer.status_code in (200, 401)  # "stop", or its token has ended
            assert len(bus) == 0, end

        recording, token = await _dispatched(plane, client)
        batch = ReportBatch(events=[Joining(at=at), InCall(at=at)])
        await handle_reports(plane.services, recording, token, batch)
    assert len(bus) == 0  # the bot still in its call has no poll waiting
