"""``realtime_endpoints`` against `meetbot serve` as a process: it connects out to a loopback
WebSocket receiver and POSTs signed events to a loopback HTTP receiver, in order; a receiver
that is down at first, drops the connection or answers 503 gets everything once it is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webhook_receiver import Received, Receiver
from websockets.asyncio.server import ServerConnection, serve

from harness.plane import build_test_plane
from harness.waiting import until
from meetbot.contract.lifecycle import Status
from meetbot.contract.models import RealtimeEndpoint
from meetbot.control.realtime_push import PushFailed
from meetbot.control.realtime_transport import NetworkPushTransport
from meetbot.control.webhooks.targets import TargetPolicy
from meetbot.lab.serve import Server, free_port

MEET = "https://meet.google.com/abc-defg-hij"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {
        "MEETBOT_LAUNCHER": "fake",
        "MEETBOT_HEARTBEAT_TIMEOUT": "600",
        "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
    }
    srv = Server(tmp_path / "data", free_port(), env)
    yield srv
    srv.stop()


class WsReceiver:
    """A WebSocket server on 127.0.0.1 keeping every text frame; it may drop its first
    connection after ``drop_after`` frames (a receiver that restarts)."""

    def __init__(self, port: int, drop_after: int | None = None) -> None:
        self.port = port
        self.drop_after = drop_after
        self.frames: list[dict[str, Any]] = []
        self.connections = 0
        self.user_agents: list[str] = []
        self.paths: list[str] = []

    async def handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        assert ws.request is not None
        self.user_agents.append(ws.request.headers.get("User-Agent", ""))
        self.paths.append(ws.request.path)
        got = 0
        async for message in ws:
            self.frames.append(json.loads(message))
            got += 1
            if self.connections == 1 and self.drop_after is not None and got >= self.drop_after:
                await ws.close(1012)
                return


async def test_serve_pushes_to_a_websocket_and_a_webhook_through_outages(
    server: Server,
) -> None:
    port = free_port()
    ws_receiver = WsReceiver(port, drop_after=1)
    answers = iter([503])
    hook = await Receiver(respond=lambda _: next(answers, 200)).start()
    await asyncio.to_thread(server.start)
    key = server.first_key()
    endpoints = [
        {
            "type": "websocket",
            "url": f"ws://127.0.0.1:{port}/rt?token=abc",
            "events": ["status_update", "chat.message"],
        },
        {"type": "webhook", "url": hook.url, "events": ["status_update"]},
    ]
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Token {key}"}
    ) as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "realtime_endpoints": endpoints}
        )
        assert r.status_code == 201, r.text
        bot = r.json()
        hook.secrets.append(bot["webhook_secret"])
        assert bot["realtime_endpoints"][0]["url"] == f"ws://127.0.0.1:{port}/rt"

        # The webhook: 503 first, then the same event again, signed.
        await until(lambda: len(hook.accepted) >= 1, 20, what="the first webhook")
        assert len(hook.requests) >= 2
        assert hook.bad_signatures == 0
        assert hook.accepted[0][1]["data"]["new_status"] == "booting"

        # The WebSocket receiver was down: once it listens, it gets the bot's first event.
        await asyncio.sleep(1.0)
        async with serve(ws_receiver.handle, "127.0.0.1", port):
            await until(lambda: len(ws_receiver.frames) >= 1, 40, what="the first frame")
            assert ws_receiver.frames[0]["data"]["new_status"] == "booting"
            assert ws_receiver.paths[0] == "/rt?token=abc"  # the query reaches the receiver
            assert ws_receiver.user_agents[0].startswith("meetbot-realtime/")
            # It dropped that connection: the next events come on a new one.
            r = await client.post(f"/api/v1/bot/{bot['id']}/leave_call/")
            assert r.status_code < 300, r.text
            await until(lambda: len(ws_receiver.frames) >= 2, 40, what="the second frame")
            assert ws_receiver.connections >= 2
            await until(lambda: len(hook.accepted) >= 2, 20, what="the second webhook")
    await hook.stop()
    ws_ids = [f["id"] for f in ws_receiver.frames]
    assert len(ws_ids) == len(set(ws_ids))
    statuses = [f["data"]["new_status"] for f in ws_receiver.frames]
    assert statuses[:2] == ["booting", "not_admitted"]  # a booting bot told to leave
    assert [e["id"] for _, e in hook.accepted[:2]] == ws_ids[:2]  # the same events


async def test_serve_refuses_bad_endpoints(server: Server) -> None:
    await asyncio.to_thread(server.start)
    key = server.first_key()
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Token {key}"}
    ) as client:
        r = await client.post(
            "/api/v1/bot/",
            json={
                "meeting_url": MEET,
                "realtime_endpoints": [
                    {"type": "websocket", "url": "ws://169.254.169.254/", "events": ["x"]}
                ],
            },
        )
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_realtime_endpoints"


_ = Received


async def test_the_endpoints_are_stored_on_every_store(any_store: Any) -> None:
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    endpoint = {"type": "websocket", "url": "ws://127.0.0.1:9/a?k=v", "events": ["chat.message"]}
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "realtime_endpoints": [endpoint]}
        )
        assert r.status_code == 201, r.text
        assert "webhook_secret" not in r.json()  # a WebSocket endpoint needs no secret
        shown = (await client.get(f"/api/v1/bot/{r.json()['id']}/")).json()
        plain = await client.post("/api/v1/bot/", json={"meeting_url": MEET})
        assert plain.status_code == 201, plain.text
        assert plain.json()["realtime_endpoints"] == []
    assert shown["realtime_endpoints"] == [{**endpoint, "url": "ws://127.0.0.1:9/a"}]
    async with any_store.transaction(write=False) as tx:
        bot = await tx.bots.get(r.json()["id"])
        pushed = await tx.bots.in_statuses({Status.BOOTING}, pushed=True)
        booting = await tx.bots.in_statuses({Status.BOOTING})
    assert bot is not None
    assert [e.as_dict() for e in bot.realtime_endpoints] == [endpoint]
    assert [b.id for b in pushed] == [bot.id]  # the scan reads only bots with endpoints
    assert len(booting) == 2


async def test_the_transport_checks_the_address_at_every_connection() -> None:
    """A host that resolves to loopback now is refused (no DNS rebinding past the create-time
    check); a webhook answering 503 is a failed push; a real loopback WebSocket is reached."""

    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    strict = NetworkPushTransport(TargetPolicy(), resolver=loopback)
    endpoint = RealtimeEndpoint("websocket", "ws://rt.example.com:9/x", ("status_update",))
    with pytest.raises(PushFailed, match=r"refused: .*loopback"):
        await strict.open(endpoint, None)
    await strict.aclose()

    hook = await Receiver(respond=lambda _: 503).start()
    port = free_port()
    got: list[str] = []

    async def keep(ws: ServerConnection) -> None:
        async for message in ws:
            got.append(str(message))

    open_ = NetworkPushTransport(TargetPolicy(allow_private=True), resolver=loopback)
    try:
        link = await open_.open(
            RealtimeEndpoint("webhook", hook.url, ("status_update",)), "whsec_" + "A" * 44
        )
        with pytest.raises(PushFailed, match="HTTP 503"):
            await link.send('{"type": "x"}', "msg_1")
        async with serve(keep, "127.0.0.1", port):
            ws = await open_.open(
                RealtimeEndpoint("websocket", f"ws://rt.example.com:{port}/x", ("x",)), None
            )
            await ws.send('{"type": "status_update"}', "e1")
            await until(lambda: got == ['{"type": "status_update"}'], 10)
            await ws.aclose()
    finally:
        await open_.aclose()
        await hook.stop()
    assert hook.requests[0].headers["webhook-id"] == "msg_1"  # signed, as the webhooks are
