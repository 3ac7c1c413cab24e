"""A bot's dashboard page in a real Chromium follows the bot's real-time stream (issue 17 §1):
the page opens the WebSocket its ``data-stream`` names (the Content-Security-Policy lets it),
polling slows to every 15 s while it is open, and a status change and a transcript segment
reach the page through it, without a reload. The app is served on loopback in the test's
event loop (no runner: the test reports as the bot's runner would)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from harness.live_server import serving
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.models import Segment
from meetbot.contract.reports import InCall, Joining, ReportBatch
from meetbot.control.dashboard import install
from meetbot.control.media.artifacts import TranscriptDoc, save_transcript, segments_json
from meetbot.control.service.media import transcript_data
from meetbot.control.service.runners import handle_reports
from meetbot.storage import LocalStorage
from meetbot.testing.memory_store import MemoryStore

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

MEET = "https://meet.google.com/abc-defg-hij"


async def _plane(media: Path) -> tuple[TestPlane, LocalStorage]:
    storage = LocalStorage(media, b"media test secret, 32 bytes long", "http://meetbot")
    plane = await build_test_plane(MemoryStore(), media_storage=storage)
    install(plane.app, b"dashboard test secret, 32 bytes!")
    plane.app.state.storage = storage  # where the pages read media
    return plane, storage


async def test_the_page_updates_from_the_stream_without_a_reload(
    page: Page, tmp_path: Path
) -> None:
    plane, storage = await _plane(tmp_path / "media")
    async with serving(plane.app) as host:
        async with plane.client() as api:
            r = await api.post("/api/v1/bot/", json={"meeting_url": MEET})
            assert r.status_code == 201, r.text
        bot_id = r.json()["id"]
        assigned = plane.launcher.assigned(bot_id)
        assert assigned is not None

        await page.goto(f"http://{host}/dashboard/bots/")
        await page.get_by_label("API key").fill(plane.key)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/dashboard/bots/")
        await page.goto(f"http://{host}/dashboard/bots/{bot_id}/")
        await expect(page.locator("#bot-status")).to_have_text("booting")
        live = page.locator("#bot-live")
        await expect(live).to_have_attribute("data-streaming", "1", timeout=10_000)
        await page.evaluate("window.__sameDocument = true")

        now = plane.clock.now()
        batch = ReportBatch(events=[Joining(at=now), InCall(at=now)])
        await handle_reports(plane.services, bot_id, assigned.token, batch)
        # while the stream is open, polling runs every 15 s only: the stream brought it
        await expect(page.locator("#bot-status")).to_have_text("recording", timeout=8_000)
        await expect(live).to_have_attribute("data-streaming", "1")

        segment = Segment(0.0, 1.2, "Hello from the stream.", (), "Ada")
        await save_transcript(storage, bot_id, TranscriptDoc((segment,)))
        await transcript_data(plane.services, bot_id, segments_json([segment]))
        await expect(page.locator("#transcript")).to_contain_text(
            "Hello from the stream.", timeout=8_000
        )
        assert await page.evaluate("window.__sameDocument === true")
