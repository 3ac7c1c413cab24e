"""``MEETBOT_SELF_HOSTED_MEETING_HOSTS``: self-hosted meeting servers (Janus) only where the
operator allows them, through the HTTP API (issue 12: 127.0.0.1, the metadata service and
[::1]:6379 were all accepted as Janus rooms)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.plane import build_test_plane

FORBIDDEN = [
    "http://127.0.0.1:8000/videoroomtest.html?room=1",
    "http://169.254.169.254/latest/videoroomtest.html?room=1",
    "http://[::1]:6379/videoroomtest.html?room=1",
    "http://2130706433/videoroomtest.html?room=1",  # not even a host name (127.0.0.1)
    "https://janus.example.com/videoroomtest.html?room=1",
]


@pytest.mark.parametrize("url", FORBIDDEN)
async def test_no_self_hosted_meeting_without_the_setting(any_store: Any, url: str) -> None:
    plane = await build_test_plane(any_store)
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": url})
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_meeting_url"
    if "2130706433" not in url:
        assert "MEETBOT_SELF_HOSTED_MEETING_HOSTS" in r.json()["detail"]
    assert plane.launcher.assignments == []


async def test_allowed_hosts_and_ports(any_store: Any) -> None:
    plane = await build_test_plane(
        any_store, self_hosted_meeting_hosts="janus.example.com:8000, 127.0.0.1"
    )
    async with plane.client() as client:
        ok = await client.post(
            "/api/v1/bot/",
            json={"meeting_url": "http://janus.example.com:8000/videoroomtest.html?room=7"},
        )
        assert ok.status_code == 201, ok.text
        assigned = plane.launcher.assigned(ok.json()["id"])
        assert assigned is not None
        assert assigned.egress_allowed_hosts == ("127.0.0.1", "janus.example.com:8000")

        for url in (
            "http://127.0.0.1:8000/videoroomtest.html?room=1",
            "http://127.0.0.1:9999/mvideoroomtest.html?room=2",  # every port of 127.0.0.1
        ):
            r = await client.post(
                "/api/v1/bot/", json={"meeting_url": url, "join_at": "2099-01-01T00:00:00Z"}
            )
            assert r.status_code == 201, r.text

        for url in (
            "https://janus.example.com/videoroomtest.html?room=7",  # port 443: not allowed
            "http://janus.example.com:8001/videoroomtest.html?room=7",
            "http://169.254.169.254/videoroomtest.html?room=1",
        ):
            r = await client.post("/api/v1/bot/", json={"meeting_url": url})
            assert r.status_code == 400, r.text
            assert r.json()["code"] == "invalid_meeting_url"
            assert "MEETBOT_SELF_HOSTED_MEETING_HOSTS" in r.json()["detail"]

        scheduled = await client.post(
            "/api/v1/bot/",
            json={
                "meeting_url": "https://meet.google.com/abc-defg-hij",
                "join_at": "2099-01-01T00:00:00Z",
            },
        )
        url = f"/api/v1/bot/{scheduled.json()['id']}/"
        r = await client.patch(
            url, json={"meeting_url": "http://10.0.0.1/videoroomtest.html?room=1"}
        )
        assert r.status_code == 400, r.text
        assert r.json()["code"] == "invalid_meeting_url"
        r = await client.patch(
            url, json={"meeting_url": "http://127.0.0.1:8000/videoroomtest.html?room=3"}
        )
        assert r.status_code == 200, r.text
