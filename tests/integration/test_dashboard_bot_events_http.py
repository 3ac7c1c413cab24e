"""A bot's dashboard page and its live region catch up with issue 16's events, on every store:
the meeting's chat (GET chat's data, escaped), the recording's paused spans on the timeline, and
``live transcript N s behind`` while the live transcript lags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from media_helpers import Call, create_bot, media_storage

from harness.dashboard import sign_in
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.reports import ChatMessage
from meetbot.control.dashboard import install
from meetbot.control.media.artifacts import TranscriptDoc, transcript_key
from meetbot.control.ports import Store

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    plane = await build_test_plane(any_store)
    install(plane.app, b"dashboard test secret, 32 bytes!")
    return plane


@pytest.fixture
async def call(plane: TestPlane, tmp_path: Path) -> Call:
    c = Call(plane, media_storage(plane, tmp_path / "media"), await create_bot(plane))
    await c.join()
    return c


@pytest.fixture
async def web(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        assert (await sign_in(client, plane.key)).status_code == 303
        yield client


async def test_the_chat_is_shown_as_get_chat_answers_it_and_escaped(
    plane: TestPlane, call: Call, web: httpx.AsyncClient
) -> None:
    now = plane.clock.now()
    await call.report(
        ChatMessage(at=now, sender_id="p1", sender_name="Alice", text="See the doc?"),
        ChatMessage(at=now, sender_id="p2", sender_name=EVIL, text=EVIL),
    )
    async with plane.client() as api:
        chat = (await api.get(f"/api/v1/bot/{call.bot_id}/chat/")).json()["results"]
    assert [m["text"] for m in chat] == ["See the doc?", EVIL]
    for path in (f"/dashboard/bots/{call.bot_id}/", f"/dashboard/bots/{call.bot_id}/live"):
        text = (await web.get(path)).text
        assert 'id="chat"' in text, path
        assert "See the doc?" in text
        assert "Alice" in text
        assert EVIL not in text
        assert text.count(ESCAPED) == 2  # the sender and the text
    # the chat's senders are no participants
    assert "None seen yet." in (await web.get(f"/dashboard/bots/{call.bot_id}/live")).text


async def test_a_paused_recording_is_a_span_on_the_timeline(
    plane: TestPlane, call: Call, web: httpx.AsyncClient
) -> None:
    async with plane.client() as api:
        r = await api.post(f"/api/v1/bot/{call.bot_id}/pause_recording/")
        assert r.status_code == 200, r.text
    live = (await web.get(f"/dashboard/bots/{call.bot_id}/live")).text
    assert 'class="paused current"' in live
    assert "recording paused 0:00 so far" in live
    async with plane.client() as api:
        r = await api.post(f"/api/v1/bot/{call.bot_id}/resume_recording/")
        assert r.status_code == 200, r.text
    live = (await web.get(f"/dashboard/bots/{call.bot_id}/live")).text
    assert 'class="paused"' in live
    assert "recording paused 0:00<" in live


async def test_a_lagging_live_transcript_says_how_far_behind(
    call: Call, web: httpx.AsyncClient
) -> None:
    doc = TranscriptDoc(committed_until=2.0, received_until=14.4)
    await call.storage.put(transcript_key(call.bot_id), doc.to_bytes())
    for path in (f"/dashboard/bots/{call.bot_id}/", f"/dashboard/bots/{call.bot_id}/live"):
        assert "live transcript 12 s behind" in (await web.get(path)).text, path
    caught_up = TranscriptDoc(committed_until=14.0, received_until=14.4)
    await call.storage.put(transcript_key(call.bot_id), caught_up.to_bytes())
    assert "behind" not in (await web.get(f"/dashboard/bots/{call.bot_id}/live")).text
    final = TranscriptDoc(final=True, committed_until=2.0, received_until=14.4)
    await call.storage.put(transcript_key(call.bot_id), final.to_bytes())
    assert "behind" not in (await web.get(f"/dashboard/bots/{call.bot_id}/live")).text
