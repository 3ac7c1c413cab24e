"""The platform table is the one list of platforms; everything that lists them derives from it."""

from __future__ import annotations

import pytest

from meetbot.contract.meeting_urls import (
    PLATFORM_URL_SHAPES,
    check_service,
    parse_joinable_url,
    parse_meeting_url,
)
from meetbot.contract.models import Platform
from meetbot.contract.platforms import (
    PLATFORM_CREDENTIAL_KINDS,
    PLATFORMS,
    SERVICES,
    PlatformInfo,
    by_service,
    info,
)
from meetbot.control.api.representation import CREDENTIAL_KINDS, BotOut
from meetbot.control.api.schemas import CreateBotIn, CredentialsIn
from meetbot.control.service.credentials import PLATFORM_KIND
from meetbot.errors import InvalidMeetingUrl
from meetbot.runner.platforms import registry
from meetbot.runner.platforms.credentials import Credentials

MEET = "https://meet.google.com/abc-defg-hij"
WEBEX = "https://acme.webex.com/meet/jane"


def test_one_row_per_platform_in_the_enums_order() -> None:
    assert [row.platform for row in PLATFORMS] == list(Platform)
    assert info("zoom").title == "Zoom"
    assert info(Platform.TEAMS).credential_kind == "microsoft"


def test_skribby_service_aliases() -> None:
    assert SERVICES == ("gmeet", "zoom", "teams", "webex")
    assert by_service("gmeet") is info(Platform.GOOGLE_MEET)
    assert by_service(" Teams ") is info(Platform.TEAMS)
    assert by_service("skype") is None


def test_url_shapes_come_from_the_table() -> None:
    assert tuple((r.platform, r.url_shapes) for r in PLATFORMS) == PLATFORM_URL_SHAPES


def test_api_platform_field_is_the_enum() -> None:
    schema = BotOut.model_json_schema()
    platform = schema["$defs"]["Platform"]
    assert platform["enum"] == [p.value for p in Platform]
    assert "service" in CreateBotIn.model_fields


def test_credential_kinds_derive_from_the_table() -> None:
    assert PLATFORM_CREDENTIAL_KINDS == ("google", "zoom", "microsoft")
    assert set(PLATFORM_KIND.values()) == set(PLATFORM_CREDENTIAL_KINDS)
    assert {r.platform for r in PLATFORMS if r.credential_kind} == set(PLATFORM_KIND)
    assert CREDENTIAL_KINDS[: len(PLATFORM_CREDENTIAL_KINDS)] == PLATFORM_CREDENTIAL_KINDS
    # the request body has a field for each kind, and the runner reads each one
    assert set(PLATFORM_CREDENTIAL_KINDS) <= set(CredentialsIn.model_fields)
    assert {f for f in Credentials.__dataclass_fields__} == set(PLATFORM_CREDENTIAL_KINDS)


def test_the_runner_registry_has_an_adapter_for_every_joinable_platform() -> None:
    for row in PLATFORMS:
        if row.adapter is not None:
            assert row.adapter in registry.ADAPTERS
            assert row.platform.value in registry.PLATFORM_NAMES
            assert registry.page_for(row.platform.value).platform == row.platform.value
        else:
            assert row.platform.value not in registry.PLATFORM_NAMES
            with pytest.raises(registry.UnsupportedPlatform, match=row.platform.value):
                registry.page_for(row.platform.value)


def test_a_platform_without_an_adapter_is_refused_at_create() -> None:
    without_webex = tuple(
        PlatformInfo(r.platform, r.title, r.url_shapes, None, r.credential_kind, r.service)
        if r.platform is Platform.WEBEX
        else r
        for r in PLATFORMS
    )
    assert parse_meeting_url(WEBEX).platform is Platform.WEBEX  # parsed: the error can name it
    with pytest.raises(InvalidMeetingUrl, match=r"Webex \(webex\) meetings cannot be joined"):
        parse_joinable_url(WEBEX, without_webex)
    assert parse_joinable_url(MEET, without_webex).platform is Platform.GOOGLE_MEET


def test_every_joinable_platform_parses_at_create() -> None:
    for row in PLATFORMS:
        if row.joinable and row.platform is not Platform.JANUS:
            url = {
                Platform.GOOGLE_MEET: MEET,
                Platform.ZOOM: "https://zoom.us/j/85551234567",
                Platform.TEAMS: "https://teams.live.com/meet/9312345678901",
                Platform.WEBEX: WEBEX,
            }[row.platform]
            assert parse_joinable_url(url).platform is row.platform


def test_service_must_name_the_urls_platform() -> None:
    meet = parse_meeting_url(MEET)
    check_service(meet, None)
    check_service(meet, "gmeet")
    check_service(meet, "GMEET")
    with pytest.raises(InvalidMeetingUrl) as exc:
        check_service(meet, "zoom")
    assert "'zoom'" in exc.value.detail
    assert "Google Meet" in exc.value.detail
    assert "'gmeet'" in exc.value.detail
    with pytest.raises(InvalidMeetingUrl, match="not one of: gmeet, zoom, teams, webex"):
        check_service(meet, "skype")
    janus = parse_meeting_url("http://127.0.0.1:8088/videoroomtest.html?room=1234")
    with pytest.raises(InvalidMeetingUrl, match="no service alias"):
        check_service(janus, "gmeet")
