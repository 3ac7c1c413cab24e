from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meetbot.contract.meeting_urls import MAX_URL_LENGTH, PLATFORM_URL_SHAPES, parse_meeting_url
from meetbot.contract.models import MeetingRef, Platform
from meetbot.errors import InvalidMeetingUrl

THREAD = "19:meeting_NjA5ZWQ4ZTItZGQ5Ni00ZGIyLWI0NDYtYjY5NzI4ODQ5ZGU0@thread.v2"
THREAD_ENC = "19%3ameeting_NjA5ZWQ4ZTItZGQ5Ni00ZGIyLWI0NDYtYjY5NzI4ODQ5ZGU0%40thread.v2"
THREAD_NORM = "19%3Ameeting_NjA5ZWQ4ZTItZGQ5Ni00ZGIyLWI0NDYtYjY5NzI4ODQ5ZGU0%40thread.v2"
CONTEXT_ENC = (
    "%7b%22Tid%22%3a%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2c"
    "%22Oid%22%3a%22a1b2c3d4-0000-4000-8000-123456789abc%22%7d"
)
CONTEXT_NORM = (  # quote() writes upper-case hex
    "%7B%22Tid%22%3A%2272f988bf-86f1-41af-91ab-2d7cd011db47%22%2C"
    "%22Oid%22%3A%22a1b2c3d4-0000-4000-8000-123456789abc%22%7D"
)
MTID = "m8f2b7f3a1e2d4c5b6a7980f1e2d3c4b5"
HEX = "3b5e9c0d2e8f4a1b9c7d6e5f4a3b2c1d"
PWD = "dGhpcyBpcyBub3QgYSByZWFsIHB3ZA.1"
ZID = "85551234567"
TEAMS = "https://teams.microsoft.com"
WEBEX = "https://acme.webex.com"
DOWNLOAD = f"{WEBEX}/wbxmjs/joinservice/sites/acme/meeting/download"


def meet(code: str, url: str = "") -> MeetingRef:
    return MeetingRef(Platform.GOOGLE_MEET, url or f"https://meet.google.com/{code}", code)


def zoom(mid: str, query: str = "", passcode: str | None = None, host: str = "") -> MeetingRef:
    url = f"https://{host or 'app.zoom.us/wc/join'}/{mid}{query}"
    return MeetingRef(Platform.ZOOM, url, mid, passcode)


def teams(url: str, mid: str = THREAD, passcode: str | None = None) -> MeetingRef:
    return MeetingRef(Platform.TEAMS, url, mid, passcode)


def webex(url: str, mid: str) -> MeetingRef:
    return MeetingRef(Platform.WEBEX, url, mid)


def janus(url: str, room: str) -> MeetingRef:
    return MeetingRef(Platform.JANUS, url, room)


ACCEPTED: list[tuple[str, MeetingRef]] = [
    # Google Meet
    ("https://meet.google.com/abc-defg-hij", meet("abc-defg-hij")),
    ("https://meet.google.com/ABC-DEFG-HIJ", meet("abc-defg-hij")),
    ("https://meet.google.com/abcdefghij", meet("abc-defg-hij")),
    ("meet.google.com/abc-defg-hij", meet("abc-defg-hij")),
    ("http://MEET.Google.COM/abc-defg-hij/", meet("abc-defg-hij")),
    ("https://meet.google.com/abc-defg-hij?authuser=1", meet("abc-defg-hij")),
    ("https://meet.google.com/abc-defg-hij?hs=122&authuser=0", meet("abc-defg-hij")),
    ("https://meet.google.com/abc-defg-hij?pli=1#fragment", meet("abc-defg-hij")),
    ("https://meet.google.com/_meet/abc-defg-hij?hs=179", meet("abc-defg-hij")),
    ("https://meet.google.com:443/abc-defg-hij", meet("abc-defg-hij")),
    ("  https://meet.google.com/abc-defg-hij\n", meet("abc-defg-hij")),
    ("https://meet.google.com./abc-defg-hij", meet("abc-defg-hij")),
    ("https://g.co/meet/abc-defg-hij", meet("abc-defg-hij")),
    (
        "https://meet.google.com/lookup/team-standup?authuser=0",
        meet("team-standup", "https://meet.google.com/lookup/team-standup"),
    ),
    # Zoom
    (f"https://zoom.us/j/1234567890?pwd={PWD}", zoom("1234567890", f"?pwd={PWD}", PWD)),
    (f"https://us02web.zoom.us/j/{ZID}?pwd={PWD}&from=addon", zoom(ZID, f"?pwd={PWD}", PWD)),
    ("zoom.us/j/123456789", zoom("123456789")),
    (f"https://us06web.zoom.us/j/{ZID}#success", zoom(ZID)),
    (f"https://zoom.us/s/{ZID}?pwd=abc", zoom(ZID, "?pwd=abc", "abc")),
    (
        f"https://us06web.zoom.us/w/{ZID}?tk=Ab-Cd_Ef.DQMAAAA&pwd=x1&uuid=WN_abc",
        zoom(ZID, "?pwd=x1&tk=Ab-Cd_Ef.DQMAAAA", "x1"),
    ),
    (f"https://app.zoom.us/wc/join/{ZID}?pwd=x1", zoom(ZID, "?pwd=x1", "x1")),
    (f"https://zoom.us/wc/{ZID}/join?pwd=x1&_x_zm_rtaid=abc", zoom(ZID, "?pwd=x1", "x1")),
    (f"https://acme.zoom.us/j/{ZID}?PWD=x1&pwd=ignored", zoom(ZID, "?pwd=x1", "x1")),
    (f"https://zoom.us/j/{ZID}?pwd=", zoom(ZID)),
    (
        "https://acme.zoomgov.com/j/1612345678?pwd=x1",
        zoom("1612345678", "?pwd=x1", "x1", host="app.zoomgov.com/wc/join"),
    ),
    (
        "https://Company.Zoom.us/my/some.name?pwd=x1",
        MeetingRef(
            Platform.ZOOM, "https://company.zoom.us/my/some.name?pwd=x1", "my/some.name", "x1"
        ),
    ),
    ("https://zoom.us/my/jdoe", MeetingRef(Platform.ZOOM, "https://zoom.us/my/jdoe", "my/jdoe")),
    # Teams
    (
        f"{TEAMS}/l/meetup-join/{THREAD_ENC}/0?context={CONTEXT_ENC}",
        teams(f"{TEAMS}/l/meetup-join/{THREAD_NORM}/0?context={CONTEXT_NORM}"),
    ),
    (
        f"{TEAMS}/l/meetup-join/{THREAD_ENC}/0?context={CONTEXT_ENC}&anon=true&deeplinkId=abc-1",
        teams(f"{TEAMS}/l/meetup-join/{THREAD_NORM}/0?context={CONTEXT_NORM}"),
    ),
    (
        f"{TEAMS}/v2/?meetingjoin=true#/l/meetup-join/{THREAD_ENC}/0?context={CONTEXT_ENC}&anon=1",
        teams(f"{TEAMS}/l/meetup-join/{THREAD_NORM}/0?context={CONTEXT_NORM}"),
    ),
    (f"{TEAMS}/l/meetup-join/{THREAD}/0", teams(f"{TEAMS}/l/meetup-join/{THREAD_NORM}/0")),
    (f"{TEAMS}/_#/l/meetup-join/{THREAD_ENC}/0", teams(f"{TEAMS}/l/meetup-join/{THREAD_NORM}/0")),
    (
        f"{TEAMS}/l/meetup-join/19%3a0123456789abcdef%40thread.tacv2/1700000000000?context=%7b%7d",
        teams(
            f"{TEAMS}/l/meetup-join/19%3A0123456789abcdef%40thread.tacv2/1700000000000"
            "?context=%7B%7D",
            "19:0123456789abcdef@thread.tacv2",
        ),
    ),
    (
        f"https://gov.teams.microsoft.us/l/meetup-join/{THREAD_ENC}/0",
        teams(f"https://gov.teams.microsoft.us/l/meetup-join/{THREAD_NORM}/0"),
    ),
    (
        f"{TEAMS}/meet/2345678901234?p=AbCdEfGhIj",
        teams(f"{TEAMS}/meet/2345678901234?p=AbCdEfGhIj", "2345678901234", "AbCdEfGhIj"),
    ),
    (
        "https://teams.live.com/meet/9372345678901?p=4hj8KL9mNp3qR2sT&anon=true",
        teams(
            "https://teams.live.com/meet/9372345678901?p=4hj8KL9mNp3qR2sT",
            "9372345678901",
            "4hj8KL9mNp3qR2sT",
        ),
    ),
    (
        "https://teams.microsoft.us/meet/2345678901234",
        teams("https://teams.microsoft.us/meet/2345678901234", "2345678901234"),
    ),
    # Webex
    (f"{WEBEX}/meet/jdoe", webex(f"{WEBEX}/meet/jdoe", "acme/meet/jdoe")),
    (
        "https://acme.my.webex.com/meet/j.doe",
        webex("https://acme.my.webex.com/meet/j.doe", "acme.my/meet/j.doe"),
    ),
    (
        f"{WEBEX}/acme/j.php?MTID={MTID.upper()}&RGID=r1",
        webex(f"{WEBEX}/acme/j.php?MTID={MTID}", MTID),
    ),
    (
        f"{DOWNLOAD}/{HEX}?siteurl=acme&MTID={MTID}&from=email",
        webex(f"{DOWNLOAD}/{HEX}?MTID={MTID}", HEX),
    ),
    (f"{DOWNLOAD}/{HEX.upper()}", webex(f"{DOWNLOAD}/{HEX}", HEX)),
    # Janus
    (
        "http://127.0.0.1:8000/videoroomtest.html?room=1234",
        janus("http://127.0.0.1:8000/videoroomtest.html?room=1234", "1234"),
    ),
    (
        "http://LOCALHOST:8088/demos/mvideoroomtest.html?room=0042&username=bot#x",
        janus("http://localhost:8088/demos/mvideoroomtest.html?room=42", "42"),
    ),
    (
        "https://janus.example.org:443/janus/demos/videoroomtest.html?username=x&room=7",
        janus("https://janus.example.org/janus/demos/videoroomtest.html?room=7", "7"),
    ),
    (
        "http://[::1]:8000/videoroomtest.html?room=5",
        janus("http://[::1]:8000/videoroomtest.html?room=5", "5"),
    ),
    (
        f"http://10.0.0.5/videoroomtest.html?room={2**64 - 1}",
        janus(f"http://10.0.0.5/videoroomtest.html?room={2**64 - 1}", str(2**64 - 1)),
    ),
    (
        "janus.local:8088/videoroomtest.html?room=3",
        janus("https://janus.local:8088/videoroomtest.html?room=3", "3"),
    ),
]


@pytest.mark.parametrize(("url", "expected"), ACCEPTED)
def test_accepted_urls(url: str, expected: MeetingRef) -> None:
    assert parse_meeting_url(url) == expected


@pytest.mark.parametrize(("url", "expected"), ACCEPTED)
def test_parsing_the_normalised_url_is_idempotent(url: str, expected: MeetingRef) -> None:
    assert parse_meeting_url(parse_meeting_url(url).url) == expected


REJECTED: list[tuple[str, str]] = [
    ("", "empty"),
    ("   ", "empty"),
    ("https://meet.google.com/abc defg hij", "whitespace"),
    ("https://meet.google.com/abc-defg-hij\tx", "whitespace"),
    ("https://meet.google.com/abc-défg-hij", "non-ASCII"),
    ("https://meet.google.com/abc-defg-hij\x00", "control"),
    ("javascript:alert(1)", "http"),
    ("JavaScript://meet.google.com/%0aalert(1)", "http"),
    ("data:text/html,<script>alert(1)</script>", "http"),
    ("ftp://meet.google.com/abc-defg-hij", "http"),
    ("mailto:someone@meet.google.com", "http"),
    ("https:meet.google.com/abc-defg-hij", "http"),
    ("zoommtg://zoom.us/join?confno=85551234567", "http"),
    ("https://", "no host"),
    ("https:///abc-defg-hij", "no host"),
    ("//meet.google.com/abc-defg-hij", "no host"),
    ("https://example.com/meeting", "not a supported meeting host"),
    ("https://meet.google.com.evil.com/abc-defg-hij", "not a supported meeting host"),
    ("https://evilzoom.us/j/85551234567", "not a supported meeting host"),
    ("https://zoom.us.evil.com/j/85551234567", "not a supported meeting host"),
    ("https://teams.microsoft.com.evil.com/meet/2345678901234", "not a supported meeting host"),
    ("https://evilwebex.com/meet/jdoe", "not a supported meeting host"),
    ("https://webex.com/meet/jdoe", "not a supported meeting host"),
    ("https://google.com/abc-defg-hij", "not a supported meeting host"),
    ("https://user@meet.google.com/abc-defg-hij", "user names"),
    ("https://user:pw@zoom.us/j/85551234567", "user names"),
    ("https://meet.google.com\\@evil.com/abc-defg-hij", "user names"),
    ("https://meet.google.com:8443/abc-defg-hij", "no port"),
    ("https://meet.google.com:99999/abc-defg-hij", "malformed"),
    ("https://[::1/videoroomtest.html?room=1", "malformed"),
    ("https://meet_google.com/abc-defg-hij", "valid host"),
    ("https://-meet.google.com/abc-defg-hij", "valid host"),
    ("http://999.1.1.1/videoroomtest.html?room=1", "valid host"),
    ("https://meet.google.com%2eevil.com/abc-defg-hij", "valid host"),
    ("https://meet.google.com/" + "a" * MAX_URL_LENGTH, "longer than"),
    # Google Meet: wrong shape
    ("https://meet.google.com/", "3-4-3"),
    ("https://meet.google.com/new", "3-4-3"),
    ("https://meet.google.com/abc-defg-hi", "3-4-3"),
    ("https://meet.google.com/abc-defg-hijk", "3-4-3"),
    ("https://meet.google.com/ab1-defg-hij", "3-4-3"),
    ("https://meet.google.com/abc-defg-hij/extra", "3-4-3"),
    ("https://meet.google.com/lookup/", "3-4-3"),
    ("https://g.co/abc-defg-hij", "g.co/meet"),
    # Zoom: no numeric id
    ("https://zoom.us/", "numeric meeting id"),
    ("https://zoom.us/j/", "numeric meeting id"),
    ("https://zoom.us/j/abcdefghij", "numeric meeting id"),
    ("https://zoom.us/j/12345678", "numeric meeting id"),
    ("https://zoom.us/j/123456789012", "numeric meeting id"),
    ("https://zoom.us/j/855-5123-4567", "numeric meeting id"),
    ("https://zoom.us/j/855%205123%204567", "numeric meeting id"),
    ("https://zoom.us/webinar/register/WN_abc", "numeric meeting id"),
    ("https://zoom.us/j/85551234567?pwd=a%22b", "'pwd'"),
    ("https://zoom.us/my/", "numeric meeting id"),
    # Teams
    ("https://teams.microsoft.com/", "not a Teams meeting link"),
    ("https://teams.microsoft.com/l/meetup-join/", "not a Teams meeting link"),
    ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc%40evil.com/0", "19:meeting_"),
    ("https://teams.microsoft.com/l/meetup-join/19%253ameeting_a%2540thread.v2/0", "19:meeting_"),
    (f"https://teams.microsoft.com/l/meetup-join/{THREAD_ENC}/0?context=nope", "JSON"),
    (f"https://teams.microsoft.com/l/meetup-join/{THREAD_ENC}/0?context=[1]", "JSON"),
    (f"https://teams.microsoft.com/l/meetup-join/{THREAD_ENC}/0?context=" + "[" * 1500, "JSON"),
    ("https://teams.microsoft.com/meet/12345?p=abc", "not a Teams meeting link"),
    ("https://teams.microsoft.com/meet/2345678901234?p=a%3Cb", "passcode"),
    # Webex
    ("https://acme.webex.com/", "not a Webex meeting link"),
    ("https://acme.webex.com/acme/j.php", "MTID"),
    ("https://acme.webex.com/acme/j.php?MTID=m123", "MTID"),
    (f"https://acme.webex.com/wbxmjs/joinservice/sites/acme/meeting/download/{HEX}?MTID=x", "MTID"),
    ("https://acme.webex.com/wbxmjs/joinservice/sites/acme/meeting/download/xyz", "Webex"),
    # Janus
    ("http://127.0.0.1:8000/videoroomtest.html", "room"),
    ("http://127.0.0.1:8000/videoroomtest.html?room=0", "room"),
    ("http://127.0.0.1:8000/videoroomtest.html?room=-1", "room"),
    ("http://127.0.0.1:8000/videoroomtest.html?room=abc", "room"),
    ("http://127.0.0.1:8000/videoroomtest.html?room=1.5", "room"),
    ("http://127.0.0.1:8000/videoroomtest.html?room=18446744073709551616", "room"),
    ("http://127.0.0.1:8000/videoroom.html?room=1", "not a supported meeting host"),
    ("http://127.0.0.1:8000/videoroomtest.html/?room=1", "not a supported meeting host"),
    ("http://127.0.0.1:8000/x/../videoroomtest.html%3Froom=1", "not a supported meeting host"),
]


@pytest.mark.parametrize(("url", "reason"), REJECTED)
def test_rejected_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidMeetingUrl) as caught:
        parse_meeting_url(url)
    assert reason in caught.value.detail
    assert "Accepted shapes" in caught.value.detail
    assert caught.value.code == "invalid_meeting_url"


def test_unknown_host_detail_lists_every_platform() -> None:
    with pytest.raises(InvalidMeetingUrl) as caught:
        parse_meeting_url("https://example.com/meeting")
    for platform in Platform:
        assert platform.value in caught.value.detail


def test_platform_detail_lists_that_platforms_shapes() -> None:
    with pytest.raises(InvalidMeetingUrl) as caught:
        parse_meeting_url("https://zoom.us/j/abc")
    assert "zoom.us/j/<9-11 digits>" in caught.value.detail
    assert "meet.google.com" not in caught.value.detail


def test_platform_url_shapes_cover_every_platform() -> None:
    assert [platform for platform, _ in PLATFORM_URL_SHAPES] == list(Platform)
    assert all(
        shapes and all(isinstance(s, str) for s in shapes) for _, shapes in PLATFORM_URL_SHAPES
    )


# -- properties ------------------------------------------------------------------------------

_PREFIXES = st.sampled_from(
    [
        "",
        "https://",
        "http://",
        "https://meet.google.com/",
        "https://zoom.us/j/",
        "https://us02web.zoom.us/",
        "https://teams.microsoft.com/l/meetup-join/",
        "https://teams.microsoft.com/v2/#/l/meetup-join/",
        "https://acme.webex.com/",
        "http://127.0.0.1:8000/",
        "http://[",
    ]
)
_URLISH = st.text(
    alphabet=st.characters(codec="ascii") | st.sampled_from("%:/?#&=@[]._-"), max_size=80
)


@given(st.one_of(st.text(), st.builds(str.__add__, _PREFIXES, _URLISH)))
def test_parse_raises_only_invalid_meeting_url(text: str) -> None:
    try:
        ref = parse_meeting_url(text)
    except InvalidMeetingUrl:
        return
    assert parse_meeting_url(ref.url) == ref


_MEET_CODES = st.from_regex(r"[a-zA-Z]{3}-?[a-zA-Z]{4}-?[a-zA-Z]{3}", fullmatch=True)
_ZOOM_IDS = st.from_regex(r"[0-9]{9,11}", fullmatch=True)
_TOKENS = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)
# ".test" keeps generated hosts off the hosted platforms' domains.
_HOSTS = st.from_regex(
    r"[a-z][a-z0-9-]{0,10}[a-z0-9](\.[a-z][a-z0-9]{0,10}){0,2}\.test", fullmatch=True
)


def _meet_urls() -> st.SearchStrategy[str]:
    return st.builds(
        "{}meet.google.com/{}{}".format,
        st.sampled_from(["", "http://", "https://", "HTTPS://"]),
        _MEET_CODES,
        st.sampled_from(["", "?authuser=1", "?hs=122&pli=1", "/"]),
    )


def _zoom_urls() -> st.SearchStrategy[str]:
    return st.builds(
        "https://{}zoom.us/{}{}?pwd={}&tk={}".format,
        st.sampled_from(["", "us02web.", "acme."]),
        st.sampled_from(["j/", "s/", "w/", "wc/join/"]),
        _ZOOM_IDS,
        _TOKENS,
        st.one_of(st.just(""), _TOKENS),
    )


def _teams_urls() -> st.SearchStrategy[str]:
    return st.builds(
        "https://{}/meet/{}?p={}".format,
        st.sampled_from(["teams.microsoft.com", "teams.live.com", "gov.teams.microsoft.us"]),
        st.from_regex(r"[0-9]{9,20}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9]{0,16}", fullmatch=True),
    )


def _janus_urls() -> st.SearchStrategy[str]:
    return st.builds(
        "{}://{}{}/{}videoroomtest.html?room={}&username={}".format,
        st.sampled_from(["http", "https"]),
        st.one_of(_HOSTS, st.ip_addresses(v=4).map(str)),
        st.one_of(st.just(""), st.integers(1, 65535).map(":{}".format)),
        st.sampled_from(["", "m", "demos/", "janus/demos/m"]),
        st.integers(1, 2**64 - 1),
        _TOKENS,
    )


@given(st.one_of(_meet_urls(), _zoom_urls(), _teams_urls(), _janus_urls()))
def test_generated_valid_urls_parse_and_normalise_idempotently(url: str) -> None:
    ref = parse_meeting_url(url)
    assert parse_meeting_url(ref.url) == ref
    assert ref.url.startswith(("https://", "http://"))
