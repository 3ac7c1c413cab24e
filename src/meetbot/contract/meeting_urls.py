"""Meeting URLs: one pure function from a pasted link to a :class:`MeetingRef`.

:func:`parse_meeting_url` recognises the platform by its exact host, checks the path against the
real link shapes of that platform and returns a normalised URL (lowercase host, https, tracking
parameters dropped, only what is needed to join kept). Anything else raises
:class:`InvalidMeetingUrl` whose ``detail`` says what was wrong and which shapes are accepted.

Parsing the normalised URL again gives the same :class:`MeetingRef`.

Choices where the platforms leave room:

- Scheme-less input (``meet.google.com/abc-defg-hij``) is read as https; http is upgraded to
  https for the hosted platforms. Janus keeps its scheme, host and port (default ports dropped).
- Surrounding whitespace is stripped; whitespace inside, control and non-ASCII characters, a
  user name or password, or an explicit non-default port on a hosted platform are rejected.
- Query parameter names are case-insensitive and the first occurrence of a name wins.
- Zoom: the normalised URL is the web client, ``https://app.zoom.us/wc/join/<id>`` (or
  ``app.zoomgov.com`` for ZoomGov), keeping ``pwd`` (the passcode) and ``tk`` (a webinar
  registration token, needed to join registered webinars). Personal links
  (``/my/<name>``) cannot be turned into a web-client URL without asking Zoom, so they keep
  their (lowercased) host and path and their ``meeting_id`` is ``my/<name>``.
- Teams: ``meeting_id`` is the decoded thread id (``19:meeting_...@thread.v2``) or the numeric
  id of a ``/meet/`` link; ``passcode`` is ``p``. The ``/v2/#/l/meetup-join/...`` form is
  rewritten to ``/l/meetup-join/...``; the host is kept (government clouds need theirs).
- The shapes and which platforms can be joined come from
:data:`meetbot.contract.platforms.PLATFORMS`. - Webex: ``meeting_id`` is the ``MTID`` (``j.php``),
  the meeting hex (``joinservice``) or ``<site>/meet/<name>`` for a personal room, as room names
  are only unique within a site.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import quote, unquote, urlencode, urlsplit

from meetbot.contract.models import MeetingRef
from meetbot.contract.platforms import PLATFORMS, SERVICES, Platform, PlatformInfo, by_service, info
from meetbot.contract.url_parts import (
    DEFAULT_PORTS,
    RejectedUrl,
    UrlParts,
    is_under,
    query_params,
    split_url,
)
from meetbot.egress import HostAllowList
from meetbot.errors import InvalidMeetingUrl

__all__ = [
    "MAX_URL_LENGTH",
    "PLATFORM_URL_SHAPES",
    "check_service",
    "parse_joinable_url",
    "parse_meeting_url",
]

MAX_URL_LENGTH = 2048

PLATFORM_URL_SHAPES: tuple[tuple[Platform, tuple[str, ...]], ...] = tuple(
    (row.platform, row.url_shapes) for row in PLATFORMS
)

_SHAPES = dict(PLATFORM_URL_SHAPES)


def _invalid(reason: str, platform: Platform | None = None) -> InvalidMeetingUrl:
    if platform is None:
        accepted = "; ".join(f"{p.value}: {', '.join(s)}" for p, s in PLATFORM_URL_SHAPES)
    else:
        accepted = f"{platform.value}: {', '.join(_SHAPES[platform])}"
    return InvalidMeetingUrl(f"Invalid meeting URL: {reason}. Accepted shapes -- {accepted}")


def _split(url: str) -> UrlParts:
    try:
        return split_url(url, MAX_URL_LENGTH)
    except RejectedUrl as exc:
        raise _invalid(str(exc)) from None


# -- Google Meet ------------------------------------------------------------------------------

_MEET_CODE = re.compile(r"/(?:_meet/)?([a-z]{3})-?([a-z]{4})-?([a-z]{3})", re.IGNORECASE)
_MEET_LOOKUP = re.compile(r"/lookup/([A-Za-z0-9][A-Za-z0-9_-]{0,99})")


def _google_meet(u: UrlParts) -> MeetingRef:
    path = u.trimmed_path
    if u.host == "g.co":  # Google's short links: g.co/meet/abc-defg-hij
        if not path.startswith("/meet/"):
            raise _invalid("g.co links must be g.co/meet/<code>", Platform.GOOGLE_MEET)
        path = path.removeprefix("/meet")
    if lookup := _MEET_LOOKUP.fullmatch(path):
        name = lookup[1]
        return MeetingRef(Platform.GOOGLE_MEET, f"https://meet.google.com/lookup/{name}", name)
    code = _MEET_CODE.fullmatch(path)
    if code is None:
        raise _invalid(
            "a Google Meet code is 3-4-3 letters like abc-defg-hij", Platform.GOOGLE_MEET
        )
    meeting_id = "-".join(code.groups()).lower()
    return MeetingRef(Platform.GOOGLE_MEET, f"https://meet.google.com/{meeting_id}", meeting_id)


# -- Zoom -------------------------------------------------------------------------------------

_ZOOM_ID = r"([0-9]{9,11})"
_ZOOM_JOIN = (
    re.compile(rf"/[jsw]/{_ZOOM_ID}"),
    re.compile(rf"/wc/join/{_ZOOM_ID}"),
    re.compile(rf"/wc/{_ZOOM_ID}/join"),
)
_ZOOM_PERSONAL = re.compile(r"/my/([A-Za-z0-9][A-Za-z0-9._-]{0,63})")
_ZOOM_TOKEN = re.compile(r"[A-Za-z0-9._-]{1,512}")


def _zoom_params(u: UrlParts) -> tuple[str | None, str]:
    """The passcode and the query string that keeps ``pwd`` and ``tk``."""
    kept: dict[str, str] = {}
    for name in ("pwd", "tk"):
        value = u.query.get(name, "")
        if value and not _ZOOM_TOKEN.fullmatch(value):
            raise _invalid(f"the Zoom {name!r} parameter has unexpected characters", Platform.ZOOM)
        if value:
            kept[name] = value
    return kept.get("pwd"), f"?{urlencode(kept)}" if kept else ""


def _zoom(u: UrlParts) -> MeetingRef:
    path = u.trimmed_path
    passcode, query = _zoom_params(u)
    if personal := _ZOOM_PERSONAL.fullmatch(path):
        url = f"https://{u.host}/my/{personal[1]}{query}"
        return MeetingRef(Platform.ZOOM, url, f"my/{personal[1]}", passcode)
    for shape in _ZOOM_JOIN:
        if join := shape.fullmatch(path):
            web = "app.zoomgov.com" if is_under(u.host, "zoomgov.com") else "app.zoom.us"
            meeting_id = join[1]
            return MeetingRef(
                Platform.ZOOM, f"https://{web}/wc/join/{meeting_id}{query}", meeting_id, passcode
            )
    raise _invalid("a Zoom link needs a numeric meeting id of 9-11 digits", Platform.ZOOM)


# -- Microsoft Teams --------------------------------------------------------------------------

_TEAMS_HOSTS = frozenset(
    {
        "teams.microsoft.com",
        "teams.live.com",
        "teams.cloud.microsoft",
        "teams.microsoft.us",
        "gov.teams.microsoft.us",
        "dod.teams.microsoft.us",
    }
)
_TEAMS_JOIN = re.compile(r"/l/meetup-join/([^/]+)/([0-9]{1,20})")
_TEAMS_THREAD = re.compile(r"19:[A-Za-z0-9_.=-]{1,200}@thread\.(?:v2|tacv2|skype)")
_TEAMS_MEET = re.compile(r"/meet/([0-9]{9,20})")
_TEAMS_PASSCODE = re.compile(r"[A-Za-z0-9]{1,64}")


def _teams_context(raw: str) -> str:
    try:
        context = json.loads(raw)
    except (ValueError, RecursionError):
        context = None
    if not isinstance(context, dict):
        raise _invalid("the Teams 'context' parameter is not a JSON object", Platform.TEAMS)
    return f"?context={quote(raw, safe='')}"


def _teams(u: UrlParts) -> MeetingRef:
    path, query = u.trimmed_path, u.query
    if path in ("", "/v2", "/_") and u.fragment.startswith("/l/meetup-join/"):
        inner = urlsplit(u.fragment)  # the new client: /v2/?meetingjoin=true#/l/meetup-join/...
        path, query = inner.path.rstrip("/"), {**query, **query_params(inner.query)}
    if meet := _TEAMS_MEET.fullmatch(path):
        passcode = query.get("p") or None
        if passcode is not None and not _TEAMS_PASSCODE.fullmatch(passcode):
            raise _invalid("the Teams passcode 'p' must be letters and digits", Platform.TEAMS)
        url = f"https://{u.host}/meet/{meet[1]}" + (f"?p={passcode}" if passcode else "")
        return MeetingRef(Platform.TEAMS, url, meet[1], passcode)
    join = _TEAMS_JOIN.fullmatch(path)
    if join is None:
        raise _invalid("not a Teams meeting link", Platform.TEAMS)
    thread = unquote(join[1])
    if not _TEAMS_THREAD.fullmatch(thread):
        raise _invalid(
            "the Teams thread id must look like 19:meeting_...@thread.v2", Platform.TEAMS
        )
    context = _teams_context(query["context"]) if query.get("context") else ""
    url = f"https://{u.host}/l/meetup-join/{quote(thread, safe='')}/{join[2]}{context}"
    return MeetingRef(Platform.TEAMS, url, thread)


# -- Webex ------------------------------------------------------------------------------------

_WEBEX_NAME = r"([A-Za-z0-9][A-Za-z0-9._-]{0,99})"
_WEBEX_PERSONAL = re.compile(rf"/meet/{_WEBEX_NAME}")
_WEBEX_JPHP = re.compile(rf"/{_WEBEX_NAME}/j\.php")
_WEBEX_DOWNLOAD = re.compile(
    rf"/wbxmjs/joinservice/sites/{_WEBEX_NAME}/meeting/download/([0-9a-fA-F]{{32}})"
)
_WEBEX_MTID = re.compile(r"m[0-9a-f]{32}", re.IGNORECASE)


def _webex_mtid(u: UrlParts, *, required: bool) -> str:
    """The lowercased ``MTID``, or "" when it is absent and not required."""
    mtid = u.query.get("mtid", "")
    if not mtid and not required:
        return ""
    if not _WEBEX_MTID.fullmatch(mtid):
        raise _invalid("the Webex MTID must be 'm' and 32 hex digits", Platform.WEBEX)
    return mtid.lower()


def _webex(u: UrlParts) -> MeetingRef:
    path, base = u.trimmed_path, f"https://{u.host}"
    if personal := _WEBEX_PERSONAL.fullmatch(path):
        site = u.host.removesuffix(".webex.com")
        url = f"{base}/meet/{personal[1]}"
        return MeetingRef(Platform.WEBEX, url, f"{site}/meet/{personal[1]}")
    if jphp := _WEBEX_JPHP.fullmatch(path):
        mtid = _webex_mtid(u, required=True)
        return MeetingRef(Platform.WEBEX, f"{base}/{jphp[1]}/j.php?MTID={mtid}", mtid)
    if download := _WEBEX_DOWNLOAD.fullmatch(path):
        site, meeting = download[1], download[2].lower()
        mtid = _webex_mtid(u, required=False)
        url = f"{base}/wbxmjs/joinservice/sites/{site}/meeting/download/{meeting}"
        return MeetingRef(Platform.WEBEX, url + (f"?MTID={mtid}" if mtid else ""), meeting)
    raise _invalid("not a Webex meeting link", Platform.WEBEX)


# -- Janus VideoRoom demo pages ----------------------------------------------------------------

_JANUS_PAGE = re.compile(r"((?:/[A-Za-z0-9._~-]+)*/m?videoroomtest\.html)")
_JANUS_ROOM = re.compile(r"[0-9]{1,20}")


def _janus(u: UrlParts) -> MeetingRef:
    page = _JANUS_PAGE.fullmatch(u.path)
    if page is None:
        raise _invalid("not a Janus VideoRoom page", Platform.JANUS)
    room = u.query.get("room", "")
    if not _JANUS_ROOM.fullmatch(room) or not 0 < int(room) < 2**64:
        raise _invalid("a Janus link needs ?room=<positive integer>", Platform.JANUS)
    meeting_id = str(int(room))
    url = f"{u.scheme}://{u.netloc}{page[1]}?room={meeting_id}"
    return MeetingRef(Platform.JANUS, url, meeting_id)


# -- dispatch ---------------------------------------------------------------------------------


def _hosted_platform(host: str) -> tuple[Platform, Callable[[UrlParts], MeetingRef]] | None:
    if host in ("meet.google.com", "g.co"):
        return Platform.GOOGLE_MEET, _google_meet
    if is_under(host, "zoom.us") or is_under(host, "zoomgov.com"):
        return Platform.ZOOM, _zoom
    if host in _TEAMS_HOSTS:
        return Platform.TEAMS, _teams
    if host.endswith(".webex.com"):
        return Platform.WEBEX, _webex
    return None


def parse_meeting_url(url: str, *, self_hosted: HostAllowList | None = None) -> MeetingRef:
    """Parse a meeting link into its platform, normalised URL and meeting reference.

    Raises :class:`InvalidMeetingUrl` for anything that is not one of ``PLATFORM_URL_SHAPES``,
    and for a self-hosted meeting server (Janus) whose host ``self_hosted`` does not allow
    (``MEETBOT_SELF_HOSTED_MEETING_HOSTS``; ``None``: the shape alone, as the doctor parses).
    """
    parsed = _split(url)
    hosted = _hosted_platform(parsed.host)
    if hosted is None:
        if _JANUS_PAGE.fullmatch(parsed.path):
            ref = _janus(parsed)
            port = parsed.port or DEFAULT_PORTS[parsed.scheme]
            if self_hosted is not None and not self_hosted.allows(parsed.host, port):
                raise InvalidMeetingUrl(
                    f"Invalid meeting URL: {parsed.netloc} is not an allowed self-hosted meeting "
                    "server. Self-hosted meeting servers (Janus) are used only on the hosts "
                    "the operator lists in MEETBOT_SELF_HOSTED_MEETING_HOSTS "
                    "(comma-separated host[:port])."
                )
            return ref
        raise _invalid(f"{parsed.host!r} is not a supported meeting host")
    platform, parse = hosted
    if parsed.port is not None:
        raise _invalid(f"a {platform.value} link has no port", platform)
    return parse(parsed)


def parse_joinable_url(
    url: str,
    platforms: tuple[PlatformInfo, ...] = PLATFORMS,
    *,
    self_hosted: HostAllowList | None = None,
) -> MeetingRef:
    """:func:`parse_meeting_url`, refusing links of a platform that ``platforms`` (the platform
    table) gives no adapter: a bot that could not join is refused when it is created or
    moved, never accepted and failed later. ``self_hosted``: as for :func:`parse_meeting_url`
    (a bot's URL is always checked against ``MEETBOT_SELF_HOSTED_MEETING_HOSTS``)."""
    ref = parse_meeting_url(url, self_hosted=self_hosted or HostAllowList())
    row = next(r for r in platforms if r.platform is ref.platform)
    if not row.joinable:
        raise InvalidMeetingUrl(
            f"Invalid meeting URL: {row.title} ({row.platform.value}) meetings cannot be joined "
            "by this server: it has no adapter for them."
        )
    return ref


def check_service(ref: MeetingRef, service: str | None) -> None:
    """Skribby's ``service`` field must name the platform of the URL (``None``: not given).

    Raises :class:`InvalidMeetingUrl` naming both when they disagree, or when ``service`` is
    no alias in the platform table.
    """
    if service is None:
        return
    row = by_service(service)
    actual = info(ref.platform)
    if row is None:
        known = ", ".join(SERVICES)
        raise InvalidMeetingUrl(f"service {service!r} is not one of: {known}.")
    if row.platform is not ref.platform:
        alias = f"service {actual.service!r}" if actual.service else "no service alias"
        raise InvalidMeetingUrl(
            f"service {service!r} ({row.title}) contradicts the meeting URL, which is a "
            f"{actual.title} link ({ref.platform.value}, {alias})."
        )
