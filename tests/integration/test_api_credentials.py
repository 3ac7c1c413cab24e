"""Credentials through HTTP on every store: sealed at rest, never returned, decrypted only into
a runner's assignment (bot's own kind by kind over the workspace's), tamper fails clearly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.contract.lifecycle import Status
from meetbot.control.ports import Store
from meetbot.control.service.credentials import bot_context, vendor_keys
from meetbot.control.service.dispatch import dispatch_due
from meetbot.testing.fakes import FakeLauncher
from meetbot.timefmt import iso

MEET = "https://meet.google.com/abc-defg-hij"
ZOOM = "https://us02web.zoom.us/j/85012345678"
GOOGLE = {"email": "bot@example.com", "password": "correct horse battery staple"}
WS_GOOGLE = {"email": "shared@example.com", "password": "workspace-pass-123"}
NONE_SET = dict.fromkeys(
    ("google", "microsoft", "zoom", "deepgram_api_key", "openai_api_key", "assemblyai_api_key"),
    False,
)


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    return await build_test_plane(any_store, launcher=FakeLauncher(auto_refill=True))


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def stored(plane: TestPlane, bot_id: str) -> tuple[str | None, tuple[str, ...]]:
    async with plane.services.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id)
    assert bot is not None
    return bot.credentials_ciphertext, bot.credential_kinds


async def test_bot_credentials_are_sealed_never_returned_and_reach_the_runner(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    creds = {"google": GOOGLE, "deepgram_api_key": "dg-secret-key"}
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "credentials": creds})
    assert r.status_code == 201
    for text in (r.text, (await client.get(f"/api/v1/bot/{r.json()['id']}/")).text):
        assert GOOGLE["password"] not in text
        assert "dg-secret-key" not in text
    bot = r.json()
    assert bot["credentials"] == {**NONE_SET, "google": True, "deepgram_api_key": True}

    ciphertext, kinds = await stored(plane, bot["id"])
    assert ciphertext is not None
    assert ciphertext.startswith("v1.")
    assert GOOGLE["password"] not in ciphertext
    assert kinds == ("google", "deepgram_api_key")
    box = plane.services.secret_box
    assert box is not None
    assert box.open_json(ciphertext, bot_context(bot["id"])) == creds

    assigned = plane.launcher.assigned(bot["id"])
    assert assigned is not None
    assert assigned.credentials == {"google": GOOGLE}  # only the platform's kind, decrypted
    assert GOOGLE["password"] not in repr(assigned)
    listed = (await client.get("/api/v1/bot/")).text
    assert GOOGLE["password"] not in listed


async def test_sql_row_holds_only_ciphertext(any_store: Store) -> None:
    plane = await build_test_plane(any_store)
    async with plane.client() as client:
        bot = await create(client, credentials={"google": GOOGLE})
    async with any_store.transaction(write=False) as tx:
        conn = getattr(tx, "conn", None)
        if conn is None:
            pytest.skip("the memory store has no raw rows")
        import sqlalchemy as sa

        row = (
            (await conn.execute(sa.text("SELECT * FROM bots WHERE id = :id"), {"id": bot["id"]}))
            .mappings()
            .one()
        )
    raw = json.dumps({k: str(v) for k, v in row.items()})
    assert GOOGLE["password"] not in raw
    assert GOOGLE["email"] not in raw
    assert str(row["credentials_ciphertext"]).startswith("v1.")


async def test_workspace_credentials_put_get_delete(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    url = "/api/v1/credentials/"
    assert (await client.get(url)).json() == NONE_SET
    r = await client.put(url, json={"google": WS_GOOGLE, "openai_api_key": "sk-ws"})
    assert r.status_code == 200
    assert r.json() == {**NONE_SET, "google": True, "openai_api_key": True}
    got = await client.get(url)
    assert got.json() == r.json()
    assert WS_GOOGLE["password"] not in got.text

    async with plane.services.store.transaction(write=False) as tx:
        sealed = await tx.credentials.get(plane.workspace_id)
    assert sealed is not None
    assert WS_GOOGLE["password"] not in sealed

    # PUT replaces: the google account is gone.
    r = await client.put(url, json={"zoom": {"zak": "zak-1"}})
    assert r.json() == {**NONE_SET, "zoom": True}
    async with plane.client(await plane.new_key()) as other:  # another workspace sees nothing
        assert (await other.get(url)).json() == NONE_SET

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).json() == NONE_SET
    assert (await client.delete(url)).status_code == 204


@pytest.mark.parametrize(
    "body",
    [{}, {"google": {"email": "x@y.z"}}, {"zoom": {}}, {"unknown": "x"}, {"openai_api_key": 1}],
)
async def test_invalid_credentials_are_400(client: httpx.AsyncClient, body: Any) -> None:
    r = await client.put("/api/v1/credentials/", json=body)
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_request"
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "credentials": body})
    assert r.status_code == 400
    assert set(r.json()) >= {"code", "detail"}


async def test_workspace_credentials_are_the_fallback_kind_by_kind(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    await client.put(
        "/api/v1/credentials/",
        json={"google": WS_GOOGLE, "microsoft": GOOGLE, "deepgram_api_key": "dg-ws"},
    )
    plain = await create(client)
    assert plain["credentials"] == NONE_SET  # the bot's own: none
    assigned = plane.launcher.assigned(plain["id"])
    assert assigned is not None
    assert assigned.credentials == {"google": WS_GOOGLE}

    own = await create(client, credentials={"google": GOOGLE, "openai_api_key": "sk-own"})
    assigned = plane.launcher.assigned(own["id"])
    assert assigned is not None
    assert assigned.credentials == {"google": GOOGLE}

    # A Zoom bot gets neither its own Microsoft account nor the workspace's Google one.
    zoom = await create(client, meeting_url=ZOOM, credentials={"microsoft": GOOGLE})
    assigned = plane.launcher.assigned(zoom["id"])
    assert assigned is not None
    assert assigned.platform == "zoom"
    assert assigned.credentials is None

    async with plane.services.store.transaction(write=False) as tx:
        bot = await tx.bots.get(own["id"])
    assert bot is not None
    keys = await vendor_keys(plane.services, bot)
    assert keys == {"deepgram_api_key": "dg-ws", "openai_api_key": "sk-own"}


async def test_scheduled_dispatch_and_patch_carry_credentials(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    join_at = iso(plane.clock.now() + timedelta(hours=1))
    bot = await create(client, join_at=join_at)
    url = f"/api/v1/bot/{bot['id']}/"
    r = await client.patch(url, json={"credentials": {"google": GOOGLE}})
    assert r.status_code == 200
    assert r.json()["credentials"]["google"] is True
    assert GOOGLE["password"] not in r.text
    plane.clock.advance(3600)
    assert await dispatch_due(plane.services) == 1
    assigned = plane.launcher.assigned(bot["id"])
    assert assigned is not None
    assert assigned.credentials == {"google": GOOGLE}

    # PATCH join now; credentials: null removes the bot's own (none left: anonymous).
    later = iso(plane.clock.now() + timedelta(hours=1))
    other = await create(client, join_at=later, credentials={"google": GOOGLE})
    r = await client.patch(
        f"/api/v1/bot/{other['id']}/", json={"credentials": None, "join_at": None}
    )
    assert r.status_code == 200, r.text
    assert r.json()["credentials"] == NONE_SET
    assigned = plane.launcher.assigned(other["id"])
    assert assigned is not None
    assert assigned.credentials is None

    # Dispatched (booting): they still change, and the runner joins with them; once joining,
    # they can no longer change.
    first = plane.launcher.assigned(bot["id"])
    assert first is not None
    r = await client.patch(url, json={"credentials": {"google": WS_GOOGLE}})
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/internal/bots/{bot['id']}/join",
        json={"at": iso(plane.clock.now())},
        headers={"Authorization": f"Bearer {first.token}"},
    )
    assert r.json()["briefing"]["credentials"] == {"google": WS_GOOGLE}
    r = await client.patch(url, json={"credentials": {"google": GOOGLE}})
    assert r.status_code == 400


async def test_tampered_credentials_fail_clearly(
    plane: TestPlane, client: httpx.AsyncClient
) -> None:
    join_at = iso(plane.clock.now() + timedelta(hours=1))
    bot = await create(client, join_at=join_at, credentials={"google": GOOGLE})
    other = await create(client, join_at=join_at, credentials={"google": WS_GOOGLE})
    moved = await _ciphertext(plane, other)
    store = plane.services.store
    async with store.transaction() as tx:
        row = await tx.bots.get(bot["id"], for_update=True)
        assert row is not None
        # Swap in another bot's ciphertext: it is bound to that bot's id and does not open.
        await tx.bots.update(row.evolve(credentials_ciphertext=moved))
    plane.clock.advance(3600)
    assert await dispatch_due(plane.services) == 2
    got = (await client.get(f"/api/v1/bot/{bot['id']}/")).json()
    assert (got["status"], got["sub_code"]) == (Status.FAILED, "credentials_unreadable")
    assert plane.launcher.assigned(bot["id"]) is None

    box = plane.services.secret_box
    assert box is not None
    sealed = box.seal_json({"google": GOOGLE}, "workspace:elsewhere")
    async with store.transaction() as tx:
        await tx.credentials.put(plane.workspace_id, sealed, plane.clock.now())
    r = await client.get("/api/v1/credentials/")
    assert r.status_code == 409
    assert r.json()["code"] == "credentials_unreadable"
    assert "does not authenticate" in r.json()["detail"]
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET})
    assert r.status_code == 409
    assert r.json()["code"] == "credentials_unreadable"


async def _ciphertext(plane: TestPlane, bot: dict[str, Any]) -> str:
    ciphertext, _ = await stored(plane, bot["id"])
    assert ciphertext is not None
    return ciphertext
