"""A runner's ``media_lost`` report (its spool could not keep audio through a storage outage)
is accepted and kept with the bot's observations, on every store."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.reports import MediaLost

MEET = "https://meet.google.com/abc-defg-hij"
AT = "2026-01-01T12:00:00Z"


@pytest.fixture
async def plane(any_store: Any) -> TestPlane:
    return await build_test_plane(any_store)


async def test_media_lost_is_kept_as_an_observation(plane: TestPlane) -> None:
    async with plane.client() as client:
        bot_id = (await client.post("/api/v1/bot/", json={"meeting_url": MEET})).json()["id"]
    assignment = plane.launcher.assigned(bot_id)
    assert assignment is not None
    lost = {"type": "media_lost", "at": AT, "media": "audio", "reason": "spool_full",
            "first_seq": 40, "last_seq": 79, "offset_s": 60.0, "duration_s": 60.0}  # fmt: skip
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as runner:
        r = await runner.post(
            f"/internal/bots/{bot_id}/events",
            json={"events": [{"type": "joining", "at": AT}, {"type": "in_call", "at": AT}, lost]},
            headers={"Authorization": f"Bearer {assignment.token}"},
        )
    assert r.status_code == 200, r.text
    async with plane.services.store.transaction(write=False) as tx:
        kept = await tx.observations.list(bot_id, ["media_lost"])
    assert kept == [MediaLost.model_validate(lost)]
