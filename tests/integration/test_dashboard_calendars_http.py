"""The dashboard's calendars over HTTP, on every store: the list, the connect form (secrets never
shown back), a calendar's page (rules, occurrences, their decisions and bots), sync now, the
rules' PATCH, the per-occurrence override, disconnect; isolation, escaping and CSRF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.dashboard import csrf_of, sign_in
from harness.ics import feed, vevent
from harness.plane import TestPlane, build_test_plane
from meetbot.control.dashboard import install
from meetbot.control.ports import Store
from meetbot.control.service import calendar_sync
from meetbot.storage import LocalStorage
from meetbot.testing.fake_calendars import FakeCalendarSources

EVIL = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
MEET = "https://meet.google.com/abc-defg-hij"
FEED = "https://calendars.example.com/team.ics"


@pytest.fixture
async def plane(any_store: Store, tmp_path: Path) -> TestPlane:
    plane = await build_test_plane(any_store, webhook_allow_private=True)
    install(plane.app, b"dashboard test secret, 32 bytes!")
    plane.app.state.storage = LocalStorage(tmp_path / "media", b"s" * 32, "http://meetbot")
    plane.services.calendar_sources = FakeCalendarSources()
    return plane


@pytest.fixture
def sources(plane: TestPlane) -> FakeCalendarSources:
    found = plane.services.calendar_sources
    assert isinstance(found, FakeCalendarSources)
    return found


@pytest.fixture
async def web(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=plane.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as client:
        assert (await sign_in(client, plane.key)).status_code == 303
        yield client


@pytest.fixture
async def api(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as client:
        yield client


async def token(web: httpx.AsyncClient, path: str = "/dashboard/calendars/") -> str:
    return csrf_of((await web.get(path)).text)


def publish(plane: TestPlane, sources: FakeCalendarSources, *titles: str) -> None:
    start = plane.clock.now() + timedelta(days=1)
    events = [
        vevent(f"uid-{i}", start + timedelta(hours=i), start + timedelta(hours=i, minutes=30),
               summary=title, location=MEET if i == 0 else None)
        for i, title in enumerate(titles)
    ]  # fmt: skip
    sources.publish(FEED, feed(*events))


async def connected(
    plane: TestPlane, api: httpx.AsyncClient, sources: FakeCalendarSources, *titles: str
) -> dict[str, Any]:
    publish(plane, sources, *titles)
    r = await api.post("/api/v1/calendars/", json={"kind": "ics", "url": FEED})
    assert r.status_code == 201, r.text
    calendar: dict[str, Any] = r.json()
    await calendar_sync.sync(plane.services, calendar["id"])
    return calendar


async def events_of(api: httpx.AsyncClient, calendar_id: str) -> list[dict[str, Any]]:
    r = await api.get(f"/api/v1/calendars/{calendar_id}/events/")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["results"]
    return sorted(found, key=lambda e: e["start"])


async def test_the_list_and_a_calendars_page_show_its_occurrences_and_decisions(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    calendar = await connected(plane, api, sources, "Planning", "No link here")
    listing = await web.get("/dashboard/calendars/")
    assert listing.status_code == 200
    assert f'href="/dashboard/calendars/{calendar["id"]}/"' in listing.text
    assert "connected" in listing.text
    assert "Connect a calendar" in listing.text
    page = await web.get(f"/dashboard/calendars/{calendar['id']}/")
    assert page.status_code == 200
    text = page.text
    assert "Planning" in text
    assert "No link here" in text
    assert "no_meeting_url" in text  # the rule that decided
    with_link, without = await events_of(api, calendar["id"])
    assert with_link["will_record"]
    assert with_link["bot_id"]
    assert f'href="/dashboard/bots/{with_link["bot_id"]}/"' in text
    assert without["bot_id"] is None
    for label in ("Sync now", "Disconnect", "Save rules", "Don't record"):
        assert label in text, label
    assert "Calendars</a>" in text  # in the navigation


async def test_sync_now_rules_override_and_disconnect_go_through_the_use_cases(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    calendar = await connected(plane, api, sources, "Planning")
    path = f"/dashboard/calendars/{calendar['id']}/"
    csrf = await token(web, path)

    r = await web.post(path + "sync", data={"csrf": csrf})
    assert r.status_code == 303
    assert "A sync was asked for" in (await web.get(r.headers["location"])).text

    form = {"csrf": csrf, "record": "conditions", "cond_external": "1", "cond_recurring": "1",
            "bot_name": "Notetaker", "join_offset_seconds": "120"}  # fmt: skip
    r = await web.post(path + "update", data=form)
    assert r.status_code == 303, r.text
    after = (await api.get(f"/api/v1/calendars/{calendar['id']}/")).json()
    assert after["record"] == ["external", "recurring"]
    assert after["bot_name"] == "Notetaker"
    assert after["join_offset_seconds"] == 120
    bad = await web.post(path + "update", data={"csrf": csrf, "record": "conditions"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text

    (event,) = await events_of(api, calendar["id"])
    url = f"{path}events/{event['id']}/record"
    r = await web.post(url, data={"csrf": csrf, "record": "skip"})
    assert r.status_code == 303
    (event,) = await events_of(api, calendar["id"])
    assert (event["will_record"], event["will_record_rule"], event["record_override"]) == (
        False,
        "override",
        False,
    )
    r = await web.post(url, data={"csrf": csrf, "record": "record"})
    (event,) = await events_of(api, calendar["id"])
    assert event["will_record"]
    assert event["bot_id"]
    assert (await web.post(url, data={"csrf": csrf, "record": "rules"})).status_code == 303
    (event,) = await events_of(api, calendar["id"])
    assert event["record_override"] is None
    assert (await web.post(url, data={"csrf": csrf, "record": "odd"})).status_code == 400

    r = await web.post(path + "disconnect", data={"csrf": csrf})
    assert r.status_code == 303
    assert "disconnected" in (await web.get(r.headers["location"])).text
    assert (await api.get(f"/api/v1/calendars/{calendar['id']}/")).status_code == 404
    assert (await web.get(path)).status_code == 404


async def test_the_form_connects_a_caldav_calendar_and_never_shows_its_password(
    api: httpx.AsyncClient, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    secret = "hunter2-very-secret"
    form = {
        "csrf": await token(web),
        "kind": "caldav",
        "url": "https://dav.example.com/cal/team/",
        "username": "alice",
        "password": secret,
        "owner_email": "alice@example.com",
        "record": "all",
    }
    r = await web.post("/dashboard/calendars/", data=form)
    assert r.status_code == 303, r.text
    calendar_id = r.headers["location"].split("/")[-2]
    shown = (await api.get(f"/api/v1/calendars/{calendar_id}/")).json()
    assert (shown["kind"], shown["username"], shown["record"]) == ("caldav", "alice", "all")
    page = await web.get(r.headers["location"])
    assert "Connected" in page.text
    assert "alice@example.com" in page.text
    assert secret not in page.text
    assert secret not in (await web.get("/dashboard/calendars/")).text
    # a refused form keeps what was typed, but not the password
    refused = await web.post("/dashboard/calendars/", data={**form, "url": ""})
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text
    assert secret not in refused.text
    assert "alice@example.com" in refused.text
    ticked = {**form, "url": "", "record": "conditions", "cond_host": "1"}
    refused = await web.post("/dashboard/calendars/", data=ticked)
    assert refused.status_code == 400
    assert 'name="cond_host" value="1" checked' in refused.text
    assert 'value="conditions" checked' in refused.text
    wrong = await web.post("/dashboard/calendars/", data={**form, "kind": "google"})
    assert wrong.status_code == 400
    assert secret not in wrong.text


async def test_a_server_without_calendar_sources_refuses_the_form(
    plane: TestPlane, web: httpx.AsyncClient
) -> None:
    plane.services.calendar_sources = None
    form = {"csrf": await token(web), "kind": "ics", "url": FEED, "record": "all"}
    r = await web.post("/dashboard/calendars/", data=form)
    assert r.status_code == 400
    assert "reads no calendars" in r.text


async def test_calendar_names_and_event_titles_are_escaped(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    evil_feed = FEED + "?" + EVIL
    publish(plane, sources, EVIL)
    sources.publish(evil_feed, sources.feeds[FEED])
    r = await api.post("/api/v1/calendars/", json={"kind": "ics", "url": evil_feed})
    assert r.status_code == 201, r.text
    calendar = r.json()
    await calendar_sync.sync(plane.services, calendar["id"])
    for path in ("/dashboard/calendars/", f"/dashboard/calendars/{calendar['id']}/"):
        text = (await web.get(path)).text
        assert EVIL not in text, path
        assert ESCAPED in text, path


async def test_another_workspaces_calendar_is_not_found(
    plane: TestPlane, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    async with plane.client(await plane.new_key()) as other:
        theirs = await connected(plane, other, sources, "Their board meeting")
        (event,) = await events_of(other, theirs["id"])
    path = f"/dashboard/calendars/{theirs['id']}/"
    r = await web.get(path)
    assert r.status_code == 404
    assert "Their board meeting" not in r.text
    assert theirs["id"] not in (await web.get("/dashboard/calendars/")).text
    csrf = await token(web)
    for action in ("sync", "update", "disconnect", f"events/{event['id']}/record"):
        r = await web.post(path + action, data={"csrf": csrf, "record": "skip"})
        assert r.status_code == 404, action
    async with plane.client() as mine:
        assert (await mine.get(f"/api/v1/calendars/{theirs['id']}/")).status_code == 404
    # still there for its owner
    async with plane.services.store.transaction(write=False) as tx:
        assert await tx.calendars.get(theirs["id"]) is not None


async def test_every_calendar_form_needs_the_csrf_token(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    calendar = await connected(plane, api, sources, "Planning")
    (event,) = await events_of(api, calendar["id"])
    path = f"/dashboard/calendars/{calendar['id']}/"
    posts = {
        "/dashboard/calendars/": {"kind": "ics", "url": FEED},
        path + "sync": {},
        path + "update": {"record": "none"},
        path + f"events/{event['id']}/record": {"record": "skip"},
        path + "disconnect": {},
    }
    for url, data in posts.items():
        for csrf in ({}, {"csrf": "wrong"}):
            r = await web.post(url, data={**data, **csrf})
            assert r.status_code == 403, url
    assert (await api.get(f"/api/v1/calendars/{calendar['id']}/")).json()["record"] == "all"
    assert len((await api.get("/api/v1/calendars/")).json()["results"]) == 1


async def test_calendar_pages_carry_the_csp_and_need_a_session(
    plane: TestPlane, api: httpx.AsyncClient, web: httpx.AsyncClient, sources: FakeCalendarSources
) -> None:
    calendar = await connected(plane, api, sources, "Planning")
    for path in ("/dashboard/calendars/", f"/dashboard/calendars/{calendar['id']}/"):
        r = await web.get(path)
        assert "unsafe-inline" not in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
        assert "<script>" not in r.text
    transport = httpx.ASGITransport(app=plane.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbot") as anonymous:
        r = await anonymous.get("/dashboard/calendars/")
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard/signin"
