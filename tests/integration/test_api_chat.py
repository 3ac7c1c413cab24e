"""The meeting's chat through the HTTP API: what the runner read becomes ``chat.message``
events and ``GET .../chat/``; ``send_chat_message`` is refused where no adapter can send."""

from __future__ import annotations

from typing import Any

import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.reports import ChatMessage, ChatOut, InCall, Joining, ReportBatch
from meetbot.control.ports import Store
from meetbot.control.service.runners import handle_reports, heartbeat_commands

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    return await build_test_plane(any_store)


async def _bot(plane: TestPlane, url: str = MEET) -> tuple[str, str]:
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": url})
        assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    return bot_id, assigned.token


async def test_messages_the_runner_read_are_events_and_the_bots_chat(plane: TestPlane) -> None:
    bot_id, token = await _bot(plane)
    t = plane.clock.now()
    said = [
        ChatMessage(at=t, sender_id="7", sender_name="Ann", text="hello bot"),
        ChatMessage(at=t, sender_id="8", sender_name="Bob", text="psst", to="me"),
    ]
    batch = ReportBatch(events=[Joining(at=t), InCall(at=t), *said])
    await handle_reports(plane.services, bot_id, token, batch)
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/chat/")
        assert r.status_code == 200, r.text
        chat = r.json()["results"]
        feed = (await client.get("/api/v1/events/")).json()["results"]
    assert [(m["sender"], m["text"], m["to"], m["from_bot"]) for m in chat] == [
        ({"id": "7", "name": "Ann"}, "hello bot", "everyone", False),
        ({"id": "8", "name": "Bob"}, "psst", "me", False),
    ]
    events = [e["data"]["message"] for e in feed if e["type"] == "chat.message"]
    assert events == chat


@pytest.mark.parametrize(
    "url",
    [
        MEET,
        "https://zoom.us/j/12345678901",
        "https://teams.live.com/meet/1234567890123?p=abcdef",
        "https://acme.webex.com/meet/alice",
    ],
)
async def test_the_web_platforms_send_to_everyone_only(plane: TestPlane, url: str) -> None:
    """Their adapters type into the call's chat, which goes to everyone: a message to one
    participant is refused (never sent to everyone instead)."""
    bot_id, _ = await _bot(plane, url)
    async with plane.client() as client:
        r = await client.post(
            f"/api/v1/bot/{bot_id}/send_chat_message/", json={"message": "hi", "to": "alice"}
        )
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "unsupported_for_platform"
        r = await client.post(
            f"/api/v1/bot/{bot_id}/send_chat_message/", json={"message": "hi", "to": "everyone"}
        )
        assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": ""}, 400, None),
        ({"message": " \t"}, 400, "invalid_request"),
        ({"message": "hi", "colour": "red"}, 400, None),
        ({"message": "x" * 5000}, 400, None),
    ],
)
async def test_invalid_bodies(
    plane: TestPlane, body: dict[str, Any], status: int, code: str | None
) -> None:
    bot_id, _ = await _bot(plane)
    async with plane.client() as client:
        r = await client.post(f"/api/v1/bot/{bot_id}/send_chat_message/", json=body)
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["code"] == code


JANUS = "http://janus.example.com:8000/videoroomtest.html?room=7"


async def test_a_message_goes_to_the_runner_until_it_reports_it_sent(any_store: Store) -> None:
    """Janus's adapter has chat: a message asked for before admission is handed to the runner
    in every answer once the bot is in the call, until the runner reports it sent."""
    plane = await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")
    bot_id, token = await _bot(plane, JANUS)
    async with plane.client() as client:
        r = await client.post(
            f"/api/v1/bot/{bot_id}/send_chat_message/",
            json={"message": "This meeting is recorded.", "to": "everyone"},
        )
    assert r.status_code == 202, r.text
    request_id = r.json()["id"]
    assert (await heartbeat_commands(plane.services, bot_id, token)).chat == []  # booting

    t = plane.clock.now()
    answer = await handle_reports(
        plane.services, bot_id, token, ReportBatch(events=[Joining(at=t), InCall(at=t)])
    )
    wanted = [ChatOut(id=request_id, message="This meeting is recorded.", to="everyone")]
    assert answer.chat == wanted
    assert (await heartbeat_commands(plane.services, bot_id, token)).chat == wanted
    assert [c.chat for c in answer.all() if c.type == "chat"] == wanted

    sent = ChatMessage(
        at=t,
        message_id=request_id,
        sender_id="bot",
        sender_name="Notetaker",
        text="This meeting is recorded.",
        from_bot=True,
    )
    answer = await handle_reports(plane.services, bot_id, token, ReportBatch(events=[sent]))
    assert answer.chat == []
    async with plane.client() as client:
        chat = (await client.get(f"/api/v1/bot/{bot_id}/chat/")).json()["results"]
    assert [(m["id"], m["from_bot"], m["text"]) for m in chat] == [
        (request_id, True, "This meeting is recorded.")
    ]


async def test_a_bot_that_left_takes_no_message(any_store: Store) -> None:
    plane = await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")
    bot_id, _ = await _bot(plane, JANUS)
    async with plane.client() as client:
        assert (await client.post(f"/api/v1/bot/{bot_id}/leave_call/")).status_code == 200
        r = await client.post(f"/api/v1/bot/{bot_id}/send_chat_message/", json={"message": "a"})
    assert (r.status_code, r.json()["code"]) == (400, "bot_completed")


async def test_another_workspaces_bot_is_not_found(plane: TestPlane) -> None:
    bot_id, _ = await _bot(plane)
    other = await plane.new_key()
    async with plane.client(other) as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/chat/")
        assert r.status_code == 404, r.text
        r = await client.post(f"/api/v1/bot/{bot_id}/send_chat_message/", json={"message": "a"})
        assert r.status_code == 404, r.text


async def test_the_entry_message_is_sent_once_admitted(any_store: Store) -> None:
    plane = await build_test_plane(any_store, self_hosted_meeting_hosts="janus.example.com:8000")
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/",
            json={"meeting_url": JANUS, "chat": {"entry_message": "This meeting is recorded."}},
        )
    assert r.status_code == 201, r.text
    bot_id = r.json()["id"]
    assigned = plane.launcher.assigned(bot_id)
    assert assigned is not None
    t = plane.clock.now()
    batch = ReportBatch(events=[Joining(at=t), InCall(at=t)])
    answer = await handle_reports(plane.services, bot_id, assigned.token, batch)
    assert [c.message for c in answer.chat] == ["This meeting is recorded."]


@pytest.mark.parametrize(
    ("chat", "code"),
    [
        ({"entry_message": ""}, None),
        ({"entry_message": "x", "colour": "red"}, None),
    ],
)
async def test_an_entry_message_that_cannot_be_sent_is_refused(
    plane: TestPlane, chat: dict[str, Any], code: str | None
) -> None:
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "chat": chat})
    assert r.status_code == 400, r.text
    if code is not None:
        assert r.json()["code"] == code
    assert plane.launcher.assignments == []
