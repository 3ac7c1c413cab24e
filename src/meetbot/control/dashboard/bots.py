"""The dashboard's bots: the live list (filters, search, pages), a bot's page and its live
region, the new-bot form and the buttons (leave call, delete, update a scheduled bot).

Writes go through the API's use cases (:mod:`meetbot.control.service.bots`); reads are the
same lookups as the API's (another workspace's bot is 404)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pydantic
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from meetbot import errors
from meetbot.contract.lifecycle import DISPATCHED, ENDED, Status
from meetbot.contract.models import Bot
from meetbot.contract.platforms import Platform
from meetbot.contract.reports import ChatMessage, DebugArtifact
from meetbot.control.api.bots import spec_from_body
from meetbot.control.api.schemas import CreateBotIn, UpdateBotIn
from meetbot.control.dashboard import timeline
from meetbot.control.dashboard.pages import Viewer, ViewerDep, checked_form, error_page, render
from meetbot.control.media.artifacts import load_recording_meta, load_transcript
from meetbot.control.media.participants import OBSERVATION_TYPES, participants
from meetbot.control.ports import BotQuery
from meetbot.control.service import bots
from meetbot.control.service.stream import issue_token
from meetbot.control.webhooks.outbox import chat_view
from meetbot.ports import Storage

router = APIRouter(prefix="/dashboard/bots")

PAGE_SIZE = 50
FRAGMENT_HEADER = "x-dashboard-fragment"
EDITABLE = frozenset({Status.SCHEDULED, Status.BOOTING})


def _storage(request: Request) -> Storage | None:
    found: Storage | None = getattr(request.app.state, "storage", None)
    return found


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else None


def _row(bot: Bot, viewer: Viewer) -> dict[str, Any]:
    now = viewer.services.clock.now()
    return {
        "bot": bot,
        "joined_at": timeline.joined_at(bot),
        "in_call": timeline.in_call_seconds(bot, now),
    }


def _filters(request: Request) -> dict[str, str]:
    params = request.query_params
    return {
        "status": params.get("status", ""),
        "platform": params.get("platform", ""),
        "q": params.get("q", "").strip()[:200],
    }


def _query(filters: dict[str, str], before_seq: int | None) -> BotQuery:
    status = None
    if filters["status"]:
        try:
            status = Status(filters["status"])
        except ValueError:
            raise errors.InvalidRequest(f"No status {filters['status']!r}.") from None
    if filters["platform"] and filters["platform"] not in set(Platform):
        raise errors.InvalidRequest(f"No platform {filters['platform']!r}.")
    return BotQuery(
        status=status,
        platform=filters["platform"] or None,
        search=filters["q"] or None,
        before_seq=before_seq,
        limit=PAGE_SIZE,
    )


async def _list_page(
    request: Request, viewer: Viewer, *, form_error: str | None = None, values: Any = None
) -> HTMLResponse:
    filters = _filters(request)
    cursor = request.query_params.get("cursor")
    try:
        before = viewer.cursors.decode("bots", viewer.workspace_id, cursor) if cursor else None
        found, next_seq = await bots.list_bots(
            viewer.services, viewer.workspace_id, _query(filters, before)
        )
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    active = {k: v for k, v in filters.items() if v}
    next_url = None
    if next_seq is not None:
        cursor_next = viewer.cursors.encode("bots", viewer.workspace_id, next_seq)
        next_url = "/dashboard/bots/?" + urlencode({**active, "cursor": cursor_next})
    context = {
        "viewer": viewer,
        "title": "Bots",
        "rows": [_row(b, viewer) for b in found],
        "filters": filters,
        "statuses": [s.value for s in Status],
        "platforms": [p.value for p in Platform],
        "next_url": next_url,
        "live_url": None if cursor else "/dashboard/bots/?" + urlencode(active),
        "form_error": form_error,
        "deleted": request.query_params.get("deleted") == "1",
        "values": values or {},
    }
    if request.headers.get(FRAGMENT_HEADER):
        return render("bot_rows.html", context)
    return render("bots.html", context, status=400 if form_error else 200)


@router.get("/")
async def list_bots(request: Request, viewer: ViewerDep) -> Response:
    return await _list_page(request, viewer)


def _join_at(value: str) -> str | None:
    """A ``datetime-local`` value (taken as UTC) as ISO 8601 with a zone."""
    value = value.strip()
    if not value:
        return None
    if len(value) == 16:  # YYYY-MM-DDTHH:MM
        value += ":00"
    if not (value.endswith("Z") or "+" in value[10:] or "-" in value[10:]):
        value += "Z"
    return value


def _problem(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ()))
    return f"{field}: {first.get('msg', 'invalid value')}."


@router.post("/")
async def create_bot(request: Request, viewer: ViewerDep) -> Response:
    fields = await checked_form(request, viewer)
    body: dict[str, Any] = {"meeting_url": fields.get("meeting_url", "").strip()}
    if fields.get("bot_name", "").strip():
        body["bot_name"] = fields["bot_name"].strip()
    if join_at := _join_at(fields.get("join_at", "")):
        body["join_at"] = join_at
    svc = viewer.services
    try:
        parsed = CreateBotIn.model_validate(body)
        spec = await spec_from_body(svc, viewer.workspace_id, parsed)
        result = await bots.create_bot(svc, viewer.workspace_id, spec)
    except pydantic.ValidationError as exc:
        return await _list_page(request, viewer, form_error=_problem(exc), values=fields)
    except errors.MeetbotError as exc:
        return await _list_page(request, viewer, form_error=exc.detail, values=fields)
    assert isinstance(result, bots.Created)
    return RedirectResponse(f"/dashboard/bots/{result.bot.id}/", status_code=303)


async def _bot_context(request: Request, viewer: Viewer, bot: Bot) -> dict[str, Any]:
    svc = viewer.services
    storage = _storage(request)
    async with svc.store.transaction(write=False) as tx:
        observed = await tx.observations.list(
            bot.id, [*OBSERVATION_TYPES, "debug_artifact", "chat_message"]
        )
    people = participants([o for o in observed if not isinstance(o, DebugArtifact | ChatMessage)])
    doc = await load_transcript(storage, bot.id) if storage else None
    now = svc.clock.now()
    lag = round(doc.live_lag) if doc and not doc.final and bot.status not in ENDED else 0
    return {
        "viewer": viewer,
        "title": bot.bot_name,
        "bot": bot,
        "ended": bot.status in ENDED,
        "steps": timeline.steps(bot, now),
        "joined_at": timeline.joined_at(bot),
        "in_call": timeline.in_call_seconds(bot, now),
        "participants": people,
        "segments": doc.segments if doc else (),
        "transcript_final": bool(doc and doc.final),
        "live_lag": lag if lag >= 1 else None,
        "chat": [chat_view(o) for o in observed if isinstance(o, ChatMessage)],
        "artifacts": [o for o in observed if isinstance(o, DebugArtifact)],
    }


async def _bot(viewer: Viewer, bot_id: str) -> Bot:
    return await bots.get_bot(viewer.services, viewer.workspace_id, bot_id)


@router.get("/{bot_id}/")
async def show_bot(request: Request, bot_id: str, viewer: ViewerDep) -> Response:
    return await _bot_page(request, viewer, bot_id)


async def _bot_page(
    request: Request, viewer: Viewer, bot_id: str, error: str | None = None
) -> HTMLResponse:
    """The page; ``error`` is what a button's use case refused (never taken from the URL)."""
    try:
        bot = await _bot(viewer, bot_id)
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    context = await _bot_context(request, viewer, bot)
    storage = _storage(request)
    ttl = viewer.services.settings.signed_url_ttl
    recording: dict[str, str | None] | None = None
    origins: set[str] = set()
    if storage is not None and bot.status in ENDED:
        info = await load_recording_meta(storage, bot.id)
        if info is not None:
            recording = {
                "audio": storage.signed_url(info.key, ttl),
                "audio_type": info.content_type,
                "video": storage.signed_url(info.video.key, ttl) if info.video else None,
                "video_type": info.video.content_type if info.video else None,
            }
            origins |= {o for o in map(_origin, filter(None, recording.values())) if o}
    links = []
    if storage is not None:
        links = [(a, storage.signed_url(a.key, ttl)) for a in context["artifacts"]]
    stream_url = None
    if bot.status not in ENDED:  # the page follows the bot's real-time stream
        made = await issue_token(viewer.services, viewer.cursors, viewer.workspace_id, bot.id)
        stream_url = f"/api/v1/bot/{quote(bot.id)}/stream?{urlencode({'token': made.token})}"
    context |= {
        "recording": recording,
        "artifact_links": links,
        "stream_url": stream_url,
        "can_leave": bot.status in DISPATCHED,
        "can_delete": bot.status is Status.SCHEDULED,
        "can_edit": bot.status in EDITABLE,
        "error": error,
        "notice": request.query_params.get("done"),
    }
    return render("bot.html", context, media_origins=tuple(sorted(origins)))


@router.get("/{bot_id}/live")
async def bot_live(request: Request, bot_id: str, viewer: ViewerDep) -> Response:
    """The live region of a bot's page (status, timeline, participants, transcript)."""
    try:
        bot = await _bot(viewer, bot_id)
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    return render("bot_live.html", await _bot_context(request, viewer, bot))


def _done(bot_id: str, done: str) -> Response:
    return RedirectResponse(f"/dashboard/bots/{bot_id}/?done={done}", status_code=303)


async def _failed(request: Request, viewer: Viewer, bot_id: str, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, errors.MeetbotError) else str(exc)
    if isinstance(exc, errors.NotFound):
        return error_page(viewer, exc)
    response = await _bot_page(request, viewer, bot_id, error=detail)
    response.status_code = exc.status if isinstance(exc, errors.MeetbotError) else 400
    return response


@router.post("/{bot_id}/leave")
async def leave_call(request: Request, bot_id: str, viewer: ViewerDep) -> Response:
    await checked_form(request, viewer)
    try:
        await bots.leave_call(viewer.services, viewer.workspace_id, bot_id)
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, bot_id, exc)
    return _done(bot_id, "left")


@router.post("/{bot_id}/delete")
async def delete_bot(request: Request, bot_id: str, viewer: ViewerDep) -> Response:
    await checked_form(request, viewer)
    try:
        await bots.delete_bot(viewer.services, viewer.workspace_id, bot_id)
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, bot_id, exc)
    return RedirectResponse("/dashboard/bots/?deleted=1", status_code=303)


@router.post("/{bot_id}/update")
async def update_bot(request: Request, bot_id: str, viewer: ViewerDep) -> Response:
    """The PATCH of a scheduled bot: its name and ``join_at`` (fields left empty stay)."""
    fields = await checked_form(request, viewer)
    body: dict[str, Any] = {}
    if fields.get("bot_name", "").strip():
        body["bot_name"] = fields["bot_name"].strip()
    if join_at := _join_at(fields.get("join_at", "")):
        body["join_at"] = join_at
    try:
        patch = UpdateBotIn.model_validate(body).to_patch()
        await bots.update_bot(viewer.services, viewer.workspace_id, bot_id, patch)
    except pydantic.ValidationError as exc:
        return await _failed(request, viewer, bot_id, ValueError(_problem(exc)))
    except errors.MeetbotError as exc:
        return await _failed(request, viewer, bot_id, exc)
    return _done(bot_id, "updated")
