"""Vendor transcription models through HTTP on every store: any ``<vendor>/<model>`` id is
accepted, and a bot whose model needs a key is refused at create (and PATCH) when no key is set
anywhere (bot credentials, workspace credentials, server setting), never failed later."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from harness.plane import TestPlane, build_test_plane
from meetbot.control.ports import Store
from meetbot.testing.fakes import FakeLauncher
from meetbot.timefmt import iso

SKRIBBY_EXAMPLE: dict[str, Any] = {
    "transcription_model": "openai/whisper-large-v3",
    "meeting_url": "https://meet.google.com/osk-sbwe-nff",
    "service": "gmeet",
    "bot_name": "My Meeting Bot",
    "stop_options": {
        "time_limit": 60,
        "waiting_room_timeout": 10,
        "last_person_detection": 2,
        "silence_detection": 15,
    },
}
MEET = "https://meet.google.com/abc-defg-hij"
VENDORS = [
    ("deepgram/nova-3", "deepgram_api_key", "MEETBOT_DEEPGRAM_API_KEY"),
    ("openai/whisper-large-v3", "openai_api_key", "MEETBOT_OPENAI_API_KEY"),
    ("assemblyai/universal-2", "assemblyai_api_key", "MEETBOT_ASSEMBLYAI_API_KEY"),
]


async def _plane(store: Store, **settings: Any) -> TestPlane:
    return await build_test_plane(store, launcher=FakeLauncher(auto_refill=True), **settings)


@pytest.fixture
async def plane(any_store: Store) -> TestPlane:
    return await _plane(any_store)


@pytest.fixture
async def client(plane: TestPlane) -> AsyncIterator[httpx.AsyncClient]:
    async with plane.client() as c:
        yield c


async def listed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/bot/")
    assert r.status_code == 200
    results: list[dict[str, Any]] = r.json()["results"]
    return results


@pytest.mark.parametrize("service", [True, False])
async def test_skribby_example_is_201_with_a_server_key(any_store: Store, service: bool) -> None:
    plane = await _plane(any_store, openai_api_key="sk-server")
    body = {k: v for k, v in SKRIBBY_EXAMPLE.items() if service or k != "service"}
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json=body)
        assert r.status_code == 201, r.text
        bot = r.json()
    assert bot["transcription_model"] == "openai/whisper-large-v3"
    assert bot["bot_name"] == "My Meeting Bot"
    assert bot["platform"] == "google_meet"
    assert bot["stop_options"]["time_limit"] == 60


async def test_skribby_example_without_any_key_is_400_naming_both_ways(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/v1/bot/", json=SKRIBBY_EXAMPLE)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "missing_transcription_key"
    assert "openai/whisper-large-v3" in body["detail"]
    assert '"credentials": {"openai_api_key"' in body["detail"]
    assert "MEETBOT_OPENAI_API_KEY" in body["detail"]
    assert (body["credential"], body["setting"]) == ("openai_api_key", "MEETBOT_OPENAI_API_KEY")
    assert await listed(client) == []  # nothing stored


@pytest.mark.parametrize(("model", "kind", "setting"), VENDORS)
async def test_every_vendor_needs_a_key_from_somewhere(
    any_store: Store, model: str, kind: str, setting: str
) -> None:
    plane = await _plane(any_store)
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": model}
        )
        assert (r.status_code, r.json()["code"]) == (400, "missing_transcription_key")
        assert setting in r.json()["detail"]
        other = next(k for _, k, _ in VENDORS if k != kind)  # another vendor's key is no key
        body = {"meeting_url": MEET, "transcription_model": model, "credentials": {other: "x"}}
        r = await client.post("/api/v1/bot/", json=body)
        assert r.status_code == 400
        body["credentials"] = {kind: "bot-key"}
        r = await client.post("/api/v1/bot/", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["credentials"][kind] is True
        assert (await client.put("/api/v1/credentials/", json={kind: "ws-key"})).status_code == 200
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": model}
        )
        assert r.status_code == 201, r.text
    server = await _plane(any_store, **{kind: "server-key"})
    async with server.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": model}
        )
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "model",
    [
        "openai/whisper-large-v3-turbo",
        "openai/gpt-5-transcribe",
        "openai/Systran/faster-whisper-small",
        "deepgram/nova-2-phonecall",
        "assemblyai/slam-1",
        "assemblyai/universal-streaming",
    ],
)
async def test_any_vendor_model_id_is_accepted(any_store: Store, model: str) -> None:
    plane = await _plane(
        any_store, openai_api_key="sk", deepgram_api_key="dg", assemblyai_api_key="aai"
    )
    async with plane.client() as client:
        r = await client.post(
            "/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": model}
        )
        assert r.status_code == 201, r.text
        assert r.json()["transcription_model"] == model


@pytest.mark.parametrize("model", ["openai/", "acme/whisper", "openai/with space", "deepgram"])
async def test_malformed_models_are_invalid_not_missing_a_key(
    client: httpx.AsyncClient, model: str
) -> None:
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "transcription_model": model})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_transcription_model")
    assert "openai/<model>" in r.json()["detail"]


async def test_patch_keeps_the_key_rule(plane: TestPlane, client: httpx.AsyncClient) -> None:
    join_at = iso(plane.clock.now() + timedelta(hours=2))
    r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, "join_at": join_at})
    assert r.status_code == 201, r.text
    url = f"/api/v1/bot/{r.json()['id']}/"
    r = await client.patch(url, json={"transcription_model": "assemblyai/universal-2"})
    assert (r.status_code, r.json()["code"]) == (400, "missing_transcription_key")
    assert (await client.get(url)).json()["transcription_model"] == "whisper-base"
    change = {
        "transcription_model": "assemblyai/universal-2",
        "credentials": {"assemblyai_api_key": "aai-bot"},
    }
    r = await client.patch(url, json=change)
    assert r.status_code == 200, r.text
    assert r.json()["transcription_model"] == "assemblyai/universal-2"
    r = await client.patch(url, json={"bot_name": "Renamed"})  # the stored key still counts
    assert r.status_code == 200, r.text
    r = await client.patch(url, json={"credentials": None})
    assert (r.status_code, r.json()["code"]) == (400, "missing_transcription_key")
    r = await client.patch(url, json={"credentials": None, "transcription_model": "none"})
    assert r.status_code == 200, r.text


async def test_openapi_states_the_models_and_the_key_rule(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for name in ("CreateBotIn", "UpdateBotIn"):
        field = schema["components"]["schemas"][name]["properties"]["transcription_model"]
        for said in ("openai/whisper-large-v3", "assemblyai", "missing_transcription_key"):
            assert said in field["description"]
    create = schema["paths"]["/api/v1/bot/"]["post"]["responses"]["400"]
    assert "missing_transcription_key" in create["description"]
