"""A runner's token stops working when its bot reaches a terminal status (issue 12)."""

from __future__ import annotations

from typing import Any

from harness.plane import build_test_plane
from meetbot.contract.reports import Failed, Joining, ReportBatch


async def test_the_token_ends_with_its_bot(any_store: Any) -> None:
    plane = await build_test_plane(any_store)
    async with plane.client() as client:
        created = await client.post(
            "/api/v1/bot/", json={"meeting_url": "https://meet.google.com/abc-defg-hij"}
        )
        bot_id = created.json()["id"]
        assigned = plane.launcher.assigned(bot_id)
        assert assigned is not None
        runner = {"Authorization": f"Bearer {assigned.token}"}
        events = f"/internal/bots/{bot_id}/events"
        now = plane.clock.now()

        def batch(*reports: Any) -> dict[str, Any]:
            return ReportBatch(events=list(reports)).model_dump(mode="json")

        r = await client.post(events, json=batch(Joining(at=now)), headers=runner)
        assert r.status_code == 200, r.text
        answer = await client.get(f"/internal/bots/{bot_id}/commands", headers=runner)
        assert answer.status_code == 200
        assert answer.json()["commands"] == []  # the token still works: no command yet
        r = await client.post(
            events, json=batch(Failed(at=now, sub_code="join_failed")), headers=runner
        )
        assert r.status_code == 200, r.text
        assert (await client.get(f"/api/v1/bot/{bot_id}/")).json()["status"] == "failed"

        late = batch(Joining(at=now))
        r = await client.post(events, json=late, headers=runner)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        r = await client.get(f"/internal/bots/{bot_id}/commands", headers=runner)
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
