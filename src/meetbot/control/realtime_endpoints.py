"""What a ``realtime_endpoints`` entry of a create must be (Recall-style push, issue 16).

``[{"type": "websocket" | "webhook", "url": ..., "events": [...]}]``: at most
:data:`MAX_ENDPOINTS`; ``events`` names event types of the feed (``outbox.EVENT_TYPES``, bot
events only) and, for a WebSocket, the audio ones (:data:`AUDIO_EVENTS`: a webhook gets no
audio). A WebSocket's URL is ``ws://`` or ``wss://``, a webhook's ``http://`` or ``https://``;
either is checked by the webhooks' SSRF guard (:mod:`meetbot.control.webhooks.targets`) as the
``http(s)`` URL of the same host and port: at create (its form and where its host resolves now)
and again at every connection (:mod:`meetbot.control.realtime_transport`). Every refusal is
400 ``invalid_realtime_endpoints`` naming the entry and the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from meetbot.contract.models import RealtimeEndpoint
from meetbot.control.webhooks import outbox
from meetbot.control.webhooks.targets import (
    InvalidWebhookUrl,
    Resolver,
    TargetPolicy,
    WebhookTarget,
    check_url,
    resolve_safe,
    system_resolver,
)
from meetbot.errors import InvalidRequest

WEBSOCKET: Final = "websocket"
WEBHOOK: Final = "webhook"
TYPES: Final = (WEBSOCKET, WEBHOOK)
AUDIO_MIXED: Final = "audio_mixed_raw.data"
"""The call's mixed audio (16 kHz mono s16le PCM, base64 in ``data.buffer``)."""
AUDIO_SEPARATE: Final = "audio_separate_raw.data"
"""Each participant's own audio where the platform gives separate tracks (``data.participant``)."""
AUDIO_EVENTS: Final = (AUDIO_MIXED, AUDIO_SEPARATE)
BOT_EVENTS: Final = tuple(
    t for t in outbox.EVENT_TYPES if t not in (outbox.CALENDAR_SYNC_EVENTS, outbox.CALENDAR_UPDATE)
)
"""The feed's event types a bot has (calendar events belong to no bot)."""
MAX_ENDPOINTS: Final = 5
SCHEMES: Final = {WEBSOCKET: ("ws", "wss"), WEBHOOK: ("http", "https")}


class InvalidRealtimeEndpoint(InvalidRequest):
    code = "invalid_realtime_endpoints"


def http_form(url: str) -> str:
    """The ``http(s)`` URL the SSRF guard checks for a ``ws(s)`` one (same host and port)."""
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme.lower(), parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def shown_url(url: str) -> str:
    """The URL as the bot's representation shows it: without its query and fragment, where a
    receiver's token usually is."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def check_endpoint(
    index: int, type_: str, url: str, events: Sequence[str], policy: TargetPolicy
) -> tuple[RealtimeEndpoint, WebhookTarget]:
    """One entry's form (no DNS lookup): its type, events and URL."""
    where = f"realtime_endpoints[{index}]"
    if type_ not in TYPES:
        raise InvalidRealtimeEndpoint(f"{where}.type: 'websocket' or 'webhook', not {type_!r}.")
    if not events:
        raise InvalidRealtimeEndpoint(f"{where}.events: name at least one event type.")
    known = (*BOT_EVENTS, *AUDIO_EVENTS) if type_ == WEBSOCKET else BOT_EVENTS
    unknown = [e for e in events if e not in known]
    if unknown:
        extra = "" if type_ == WEBSOCKET else " (audio goes to WebSocket endpoints only)"
        raise InvalidRealtimeEndpoint(
            f"{where}.events: unknown for a {type_} endpoint: {', '.join(unknown)}{extra};"
            f" known: {', '.join(known)}."
        )
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme not in SCHEMES[type_]:
        wanted = " or ".join(f"{s}://" for s in SCHEMES[type_])
        raise InvalidRealtimeEndpoint(f"{where}.url: a {type_} endpoint's URL is {wanted}.")
    try:
        target = check_url(http_form(url), policy)
    except InvalidWebhookUrl as exc:
        raise InvalidRealtimeEndpoint(f"{where}.url: {exc.detail}", extra=exc.extra) from None
    return RealtimeEndpoint(type_, url, tuple(dict.fromkeys(events))), target


async def validate_endpoints(
    entries: Sequence[tuple[str, str, Sequence[str]]],
    policy: TargetPolicy,
    resolver: Resolver = system_resolver,
) -> tuple[RealtimeEndpoint, ...]:
    """Create-time check of ``(type, url, events)`` entries: form, then where hosts resolve."""
    if len(entries) > MAX_ENDPOINTS:
        raise InvalidRealtimeEndpoint(f"realtime_endpoints: at most {MAX_ENDPOINTS} endpoints.")
    out = []
    for index, (type_, url, events) in enumerate(entries):
        endpoint, target = check_endpoint(index, type_, url, events, policy)
        try:
            await resolve_safe(target.host, target.port, policy, resolver)
        except InvalidWebhookUrl as exc:
            raise InvalidRealtimeEndpoint(
                f"realtime_endpoints[{index}].url: {exc.detail}", extra=exc.extra
            ) from None
        out.append(endpoint)
    return tuple(out)
