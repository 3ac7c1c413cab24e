"""The capacity page with ``MEETBOT_LAUNCHER=fleet``: the agents table (name, state, slots,
busy, warm idle, last seen, the viewer's bots linked), on every store. Agents serve every
workspace: another workspace's bot ids are never shown, agent ids and tokens neither."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from harness.dashboard import sign_in
from harness.plane import TestPlane, build_test_plane
from meetbot.contract import agent_protocol as wire
from meetbot.control.dashboard import install
from meetbot.control.ports import Store
from meetbot.control.service import agents

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    plane = await build_test_plane(any_store)
    install(plane.app, b"dashboard test secret, 32 bytes!")
    return plane


@pytest.fixture
async def web(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        assert (await sign_in(client, plane.key)).status_code == 303
        yield client


async def scheduled_bot(client: httpx.AsyncClient) -> str:
    body = {"meeting_url": "https://meet.google.com/abc-defg-hij", "join_at": "2099-01-01T10:00Z"}
    r = await client.post("/api/v1/bot/", json=body)
    assert r.status_code == 201, r.text
    bot_id: str = r.json()["id"]
    return bot_id


async def beat(plane: TestPlane, name: str, bots: list[str], **counts: int) -> agents.IssuedAgent:
    issued = await agents.create_agent(plane.services.store, plane.clock, name=name)
    heartbeat = wire.Heartbeat(
        name=name,
        slots=counts.get("slots", 4),
        warm_idle=counts.get("warm_idle", 1),
        busy=counts.get("busy", len(bots)),
        received=0,
        incarnation="i1",
        bots=bots,
    )
    await agents.heartbeat(plane.services, issued.token, heartbeat)
    return issued


def fleet(plane: TestPlane) -> None:
    settings = plane.services.settings
    plane.services.settings = settings.model_copy(update={"launcher": "fleet"})


async def test_the_agents_table_shows_only_the_viewers_bots(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    fleet(plane)
    async with plane.client() as mine:
        own = await scheduled_bot(mine)
    async with plane.client(await plane.new_key()) as other:
        theirs = await scheduled_bot(other)
    first = await beat(plane, "host-a", [own, theirs], slots=6, warm_idle=2)
    second = await beat(plane, EVIL, [theirs], slots=3, warm_idle=0)
    page = await web.get("/dashboard/capacity/")
    assert page.status_code == 200
    text = page.text
    assert 'id="agents"' in text
    assert "host-a" in text
    assert f'href="/dashboard/bots/{own}/"' in text
    assert theirs not in text
    assert "and 1 of other workspaces" in text
    assert EVIL not in text
    assert ESCAPED in text
    for issued in (first, second):
        assert issued.id not in text
        assert issued.token not in text
    assert text.count(">live<") == 2


async def test_a_lost_agent_says_so_and_other_launchers_show_no_agents(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    await beat(plane, "host-b", [])
    assert 'id="agents"' not in (await web.get("/dashboard/capacity/")).text  # launcher=fake
    fleet(plane)
    plane.clock.advance(plane.services.settings.agent_timeout + 1)
    text = (await web.get("/dashboard/capacity/")).text
    assert "host-b" in text
    assert ">lost<" in text
