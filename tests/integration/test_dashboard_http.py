"""The dashboard over HTTP: sign-in and its cookie, CSRF, workspace isolation, revoked keys,
escaping, security headers, the bot list's filters, the buttons, webhooks and capacity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.dashboard import csrf_of, sign_in
from harness.plane import TestPlane, build_test_plane
from meetbot.contract.models import Segment
from meetbot.contract.reports import DebugArtifact, ParticipantJoined
from meetbot.control.api.key_cache import KeyCache
from meetbot.control.dashboard import install
from meetbot.control.media.artifacts import TranscriptDoc, transcript_key
from meetbot.control.ports import Store
from meetbot.control.service.keys import list_keys, revoke_key
from meetbot.storage import LocalStorage
from meetbot.testing.memory_store import MemoryStore
from meetbot.timefmt import iso

EVIL = '<script>alert("x")</script>'


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    """On every store: memory, SQLite, PostgreSQL."""
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    install(plane.app, b"dashboard test secret, 32 bytes!")
    plane.app.state.storage = LocalStorage(tmp_path / "media", b"s" * 32, "http://meetbot")
    return plane


def browser(plane: TestPlane) -> httpx.AsyncClient:
    """A client without an API key, as a browser is (cookies only)."""
    transport = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://meetbot")


@pytest.fixture
async def web(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(plane) as client:
        assert (await sign_in(client, plane.key)).status_code == 303
        yield client


@pytest.fixture
async def api(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as client:
        yield client


async def new_bot(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body = {"meeting_url": "https://meet.google.com/abc-defg-hij", **body}
    r = await api.post("/api/v1/bot/", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def token(web: httpx.AsyncClient, path: str = "/dashboard/bots/") -> str:
    return csrf_of((await web.get(path)).text)


# --- signing in -----------------------------------------------------------------------------


async def test_sign_in_sets_a_sealed_http_only_strict_cookie(plane: TestPlane) -> None:
    async with browser(plane) as client:
        r = await sign_in(client, plane.key)
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/bots/"
        cookie = next(c for c in r.headers.get_list("set-cookie") if "meetbot_session=" in c)
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/dashboard" in cookie
        assert "Secure" not in cookie  # the public URL is http
        value = client.cookies["meetbot_session"]
        assert plane.key not in value
        assert plane.key.split("_", 1)[1] not in value  # the key's secret part (it may hold "_")
        page = await client.get("/dashboard/bots/")
        assert page.status_code == 200
        assert "<h1>Bots</h1>" in page.text


async def test_cookie_is_secure_when_the_public_url_is_https() -> None:
    plane = await build_test_plane(MemoryStore(), public_url="https://bots.example.com")
    install(plane.app, None)
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://meetbot") as client:
        r = await sign_in(client, plane.key)
    cookie = next(c for c in r.headers.get_list("set-cookie") if "meetbot_session=" in c)
    assert "Secure" in cookie


async def test_a_wrong_key_is_refused_and_counted(plane: TestPlane) -> None:
    async with browser(plane) as client:
        r = await sign_in(client, "mb_not_a_key")
        assert r.status_code == 401
        assert "not valid" in r.text
        assert "meetbot_session" not in client.cookies
        assert (await client.get("/dashboard/bots/")).status_code == 303


async def test_pages_need_a_session(plane: TestPlane) -> None:
    async with browser(plane) as client:
        for path in ("/dashboard/bots/", "/dashboard/webhooks/", "/dashboard/capacity/"):
            r = await client.get(path)
            assert r.status_code == 303
            assert r.headers["location"] == "/dashboard/signin"
        client.cookies.set("meetbot_session", "forged", path="/dashboard")
        assert (await client.get("/dashboard/bots/")).status_code == 303
        # an API key in the header is no dashboard session
        r = await client.get("/dashboard/bots/", headers={"Authorization": f"Token {plane.key}"})
        assert r.status_code == 303


async def test_the_sign_in_form_needs_its_double_submit_token(plane: TestPlane) -> None:
    async with browser(plane) as client:
        r = await client.post("/dashboard/signin", data={"api_key": plane.key, "csrf": "x"})
        assert r.status_code == 403
        assert "meetbot_session" not in client.cookies


async def test_a_revoked_keys_session_stops_working(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    assert (await web.get("/dashboard/bots/")).status_code == 200
    store = plane.services.store
    (key,) = [k for k in await list_keys(store) if k.workspace_id == plane.workspace_id]
    await revoke_key(store, plane.clock, key.id)
    plane.app.state.key_cache = KeyCache()  # the API's own cache is not what is tested
    r = await web.get("/dashboard/bots/")
    assert r.status_code == 303
    assert r.headers["location"] == "/dashboard/signin"


async def test_sign_out_ends_the_session(web: httpx.AsyncClient) -> None:
    r = await web.post("/dashboard/signout", data={"csrf": await token(web)})
    assert r.status_code == 303
    assert (await web.get("/dashboard/bots/")).status_code == 303


async def test_a_session_cookie_from_another_server_secret_does_not_open(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    other = await build_test_plane(plane.services.store)
    install(other.app, b"another secret, also of 32 bytes")
    transport = httpx.ASGITransport(app=other.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        client.cookies.set("meetbot_session", web.cookies["meetbot_session"], path="/dashboard")
        assert (await client.get("/dashboard/bots/")).status_code == 303


# --- CSRF, headers, escaping ------------------------------------------------------------------


async def test_forms_need_the_sessions_csrf_token(
    api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    bot = await new_bot(api, join_at=iso_in(hours=2))
    for data in ({}, {"csrf": "wrong"}):
        r = await web.post(f"/dashboard/bots/{bot['id']}/delete", data=data)
        assert r.status_code == 403
        assert r.json()["code"] == "forbidden"
    assert (await api.get(f"/api/v1/bot/{bot['id']}/")).status_code == 200
    r = await web.post(f"/dashboard/bots/{bot['id']}/delete", data={"csrf": await token(web)})
    assert r.status_code == 303
    assert "The bot was deleted." in (await web.get(r.headers["location"])).text
    assert (await api.get(f"/api/v1/bot/{bot['id']}/")).status_code == 404


async def test_pages_carry_a_csp_without_inline_script_and_deny_framing(
    api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    bot = await new_bot(api)
    for path in (
        "/dashboard/signin",
        "/dashboard/bots/",
        f"/dashboard/bots/{bot['id']}/",
        "/dashboard/webhooks/",
        "/dashboard/capacity/",
    ):
        r = await web.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert "<script>" not in r.text  # the only script is the static file


async def test_attacker_controlled_text_is_escaped(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    bot = await new_bot(api, bot_name=EVIL)
    async with plane.services.store.transaction() as tx:
        joined = ParticipantJoined(at=plane.clock.now(), participant_id="p1", name=EVIL)
        await tx.observations.append(bot["id"], joined)
    doc = TranscriptDoc((Segment(0.0, 1.5, EVIL, speaker=EVIL),))
    await plane.app.state.storage.put(transcript_key(bot["id"]), doc.to_bytes())
    for path in ("/dashboard/bots/", f"/dashboard/bots/{bot['id']}/"):
        text = (await web.get(path)).text
        assert EVIL not in text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in text


# --- bots -----------------------------------------------------------------------------------


def iso_in(**delta: float) -> str:
    from datetime import UTC, datetime

    return iso(datetime.now(UTC) + timedelta(**delta))


async def test_another_workspaces_bot_is_not_found(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    other_key = await plane.new_key()
    async with plane.client(other_key) as other:
        theirs = await new_bot(other, join_at=iso_in(hours=2))
    r = await web.get(f"/dashboard/bots/{theirs['id']}/")
    assert r.status_code == 404
    assert theirs["meeting_url"] not in r.text
    assert (await web.get(f"/dashboard/bots/{theirs['id']}/live")).status_code == 404
    csrf = await token(web)
    for action in ("leave", "delete", "update"):
        r = await web.post(f"/dashboard/bots/{theirs['id']}/{action}", data={"csrf": csrf})
        assert r.status_code == 404, action
    listed = (await web.get("/dashboard/bots/")).text
    assert theirs["id"] not in listed


async def test_the_form_sends_a_bot(api: httpx.AsyncClient, web: httpx.AsyncClient) -> None:
    form = {
        "csrf": await token(web),
        "meeting_url": "https://meet.google.com/abc-defg-hij",
        "bot_name": "From the form",
        "join_at": "2099-01-01T10:00",
    }
    r = await web.post("/dashboard/bots/", data=form)
    assert r.status_code == 303
    bot_id = r.headers["location"].split("/")[-2]
    bot = (await api.get(f"/api/v1/bot/{bot_id}/")).json()
    assert bot["bot_name"] == "From the form"
    assert bot["join_at"] == "2099-01-01T10:00:00.000Z"
    assert bot["status"] == "scheduled"


async def test_a_refused_form_shows_why(web: httpx.AsyncClient) -> None:
    form = {"csrf": await token(web), "meeting_url": "https://example.com/not-a-meeting"}
    r = await web.post("/dashboard/bots/", data=form)
    assert r.status_code == 400
    assert 'role="alert"' in r.text
    assert "example.com/not-a-meeting" in r.text


async def test_the_list_filters_searches_and_pages(
    api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    zoom = await new_bot(api, meeting_url="https://zoom.us/j/123456789", bot_name="Zed")
    meet = await new_bot(api, bot_name="Standup notes", join_at=iso_in(hours=3))

    def shown(html: str) -> set[str]:
        return {b["id"] for b in (zoom, meet) if b["id"] in html}

    assert shown((await web.get("/dashboard/bots/")).text) == {zoom["id"], meet["id"]}
    assert shown((await web.get("/dashboard/bots/?platform=zoom")).text) == {zoom["id"]}
    assert shown((await web.get("/dashboard/bots/?status=scheduled")).text) == {meet["id"]}
    assert shown((await web.get("/dashboard/bots/?q=STANDUP")).text) == {meet["id"]}
    assert shown((await web.get(f"/dashboard/bots/?q={zoom['id']}")).text) == {zoom["id"]}
    assert (await web.get("/dashboard/bots/?status=nope")).status_code == 400
    # the live list: only the rows
    rows = await web.get("/dashboard/bots/", headers={"X-Dashboard-Fragment": "1"})
    assert rows.text.lstrip().startswith("<tr>")
    assert "<html" not in rows.text


async def test_pages_follow_the_apis_cursor(api: httpx.AsyncClient, web: httpx.AsyncClient) -> None:
    made = [await new_bot(api, join_at=iso_in(hours=2 + i)) for i in range(52)]
    first = (await web.get("/dashboard/bots/")).text
    assert made[-1]["id"] in first
    assert made[0]["id"] not in first
    href = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = (await web.get(href.replace("&amp;", "&"))).text
    assert made[0]["id"] in second
    assert made[-1]["id"] not in second
    assert (await web.get("/dashboard/bots/?cursor=forged")).status_code == 400


async def test_a_bots_page_shows_its_timeline_participants_and_transcript(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    bot = await new_bot(api)
    async with plane.services.store.transaction() as tx:
        joined = ParticipantJoined(at=plane.clock.now(), participant_id="p1", name="Alice")
        await tx.observations.append(bot["id"], joined)
    doc = TranscriptDoc((Segment(1.0, 2.5, "Hello there", speaker="Alice"),))
    await plane.app.state.storage.put(transcript_key(bot["id"]), doc.to_bytes())
    page = (await web.get(f"/dashboard/bots/{bot['id']}/")).text
    assert "booting" in page
    assert "Alice" in page
    assert "Hello there" in page
    assert f'data-live="/dashboard/bots/{bot["id"]}/live"' in page
    assert "Leave call" in page
    # nothing of the URL is shown as a message (no text injection through a link)
    crafted = await web.get(f"/dashboard/bots/{bot['id']}/?error=CALL+US&done=CALL+US")
    assert "CALL US" not in crafted.text
    live = (await web.get(f"/dashboard/bots/{bot['id']}/live")).text
    assert 'data-ended="0"' in live
    assert "Hello there" in live
    assert "<html" not in live


async def test_debug_artifacts_are_signed_links(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    bot = await new_bot(api)
    key = f"bots/{bot['id']}/debug/page.html"
    await plane.app.state.storage.put(key, b"<html>odd page</html>")
    artifact = DebugArtifact(at=plane.clock.now(), key=key, kind="html", reason=EVIL)
    async with plane.services.store.transaction() as tx:
        await tx.observations.append(bot["id"], artifact)
    page = (await web.get(f"/dashboard/bots/{bot['id']}/")).text
    assert "Debug artifacts" in page
    assert f"/media/{key}?" in page
    assert "signature=" in page
    assert EVIL not in page
    # the participants list does not take the artifact for a person
    assert "None seen yet." in page


async def test_leave_call_and_the_patch_of_a_scheduled_bot(
    api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    adhoc = await new_bot(api)
    r = await web.post(f"/dashboard/bots/{adhoc['id']}/leave", data={"csrf": await token(web)})
    assert r.status_code == 303
    after = (await api.get(f"/api/v1/bot/{adhoc['id']}/")).json()
    assert after["status"] in ("not_admitted", "leaving")
    # a second leave is refused with the API's reason, shown on the page
    r = await web.post(f"/dashboard/bots/{adhoc['id']}/leave", data={"csrf": await token(web)})
    assert r.status_code == 400
    assert 'role="alert"' in r.text

    later = await new_bot(api, join_at=iso_in(hours=2))
    form = {"csrf": await token(web), "bot_name": "Renamed", "join_at": "2099-02-03T04:05"}
    r = await web.post(f"/dashboard/bots/{later['id']}/update", data=form)
    assert r.status_code == 303
    patched = (await api.get(f"/api/v1/bot/{later['id']}/")).json()
    assert patched["bot_name"] == "Renamed"
    assert patched["join_at"] == "2099-02-03T04:05:00.000Z"


# --- webhooks and capacity --------------------------------------------------------------------


async def test_webhooks_show_deliveries_with_retry_and_replay(
    api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    r = await api.post("/api/v1/webhook_endpoints/", json={"url": "http://127.0.0.1:9/hooks/x"})
    assert r.status_code == 201, r.text
    endpoint = r.json()
    await new_bot(api)
    listing = (await web.get("/dashboard/webhooks/")).text
    assert "127.0.0.1:9/hooks/x" in listing
    page = await web.get(f"/dashboard/webhooks/{endpoint['id']}/")
    assert page.status_code == 200
    deliveries = (await api.get(f"/api/v1/webhook_endpoints/{endpoint['id']}/deliveries/")).json()
    assert deliveries["results"]
    delivery = deliveries["results"][0]
    assert delivery["id"] in page.text
    assert delivery["event_type"] in page.text
    csrf = csrf_of(page.text)
    url = f"/dashboard/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    assert (await web.post(url, data={"csrf": csrf})).status_code == 303
    replay = {"csrf": csrf, "from": "2000-01-01T00:00", "to": "2100-01-01T00:00"}
    r = await web.post(f"/dashboard/webhooks/{endpoint['id']}/replay", data=replay)
    assert r.status_code == 303
    assert "replayed" in r.headers["location"]
    bad = {"csrf": csrf, "from": "2100-01-01T00:00", "to": "2000-01-01T00:00"}
    r = await web.post(f"/dashboard/webhooks/{endpoint['id']}/replay", data=bad)
    assert r.status_code == 400
    assert 'role="status"' in r.text


async def test_another_workspaces_endpoint_is_not_found(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    async with plane.client(await plane.new_key()) as other:
        r = await other.post("/api/v1/webhook_endpoints/", json={"url": "http://127.0.0.1:9/a"})
    theirs = r.json()["id"]
    assert (await web.get(f"/dashboard/webhooks/{theirs}/")).status_code == 404
    r = await web.post(f"/dashboard/webhooks/{theirs}/replay", data={"csrf": await token(web)})
    assert r.status_code == 404


async def test_capacity_shows_reserved_windows(
    api: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    await new_bot(api, join_at=iso_in(hours=2))
    page = await web.get("/dashboard/capacity/")
    assert page.status_code == 200
    assert "Reserved windows" in page.text
    assert page.text.count("<tr") >= 25


async def test_static_files_are_served(web: httpx.AsyncClient) -> None:
    js = await web.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert (await web.get("/dashboard/static/dashboard.css")).status_code == 200
    assert (await web.get("/dashboard/static/../../secrets")).status_code == 404
