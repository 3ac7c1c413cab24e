"""The dashboard's webhooks: the workspace's endpoints, an endpoint's deliveries (status,
attempts, last answer) and the retry and replay buttons, through the API's use cases
(:class:`meetbot.control.service.webhook_endpoints.WebhookService`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from meetbot import errors
from meetbot.control.dashboard.pages import Viewer, ViewerDep, checked_form, error_page, render
from meetbot.control.service.webhook_endpoints import WebhookService
from meetbot.control.webhooks.models import DeliveryStatus
from meetbot.timefmt import utc

router = APIRouter(prefix="/dashboard/webhooks")

PAGE_SIZE = 50


def _service(viewer: Viewer) -> WebhookService:
    svc = viewer.services
    return WebhookService.from_settings(
        svc.store,
        svc.clock,
        svc.settings,
        svc.reactions.events_committed,
        viewer.cursors,
        svc.secret_box,
    )


@router.get("/")
async def list_endpoints(request: Request, viewer: ViewerDep) -> Response:
    cursor = request.query_params.get("cursor")
    try:
        page = await _service(viewer).list_endpoints(viewer.workspace_id, cursor, PAGE_SIZE)
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    next_url = "/dashboard/webhooks/?" + urlencode({"cursor": page.next}) if page.next else None
    context = {"viewer": viewer, "title": "Webhooks", "endpoints": page.results}
    return render("webhooks.html", context | {"next_url": next_url})


async def _endpoint_page(
    request: Request, viewer: Viewer, endpoint_id: str, *, message: str | None = None
) -> Response:
    hooks = _service(viewer)
    params = request.query_params
    status_text = params.get("status", "")
    try:
        status = DeliveryStatus(status_text) if status_text else None
    except ValueError:
        return error_page(viewer, errors.InvalidRequest(f"No delivery status {status_text!r}."))
    try:
        endpoint = await hooks.get_endpoint(viewer.workspace_id, endpoint_id)
        page = await hooks.list_deliveries(
            viewer.workspace_id,
            endpoint_id,
            status=status,
            cursor=params.get("cursor"),
            limit=PAGE_SIZE,
        )
    except errors.MeetbotError as exc:
        return error_page(viewer, exc)
    next_url = None
    if page.next:
        query = {"status": status_text} if status_text else {}
        next_url = f"/dashboard/webhooks/{endpoint.id}/?" + urlencode(
            {**query, "cursor": page.next}
        )
    now = viewer.services.clock.now()
    context = {
        "viewer": viewer,
        "title": "Webhook endpoint",
        "endpoint": endpoint,
        "deliveries": page.results,
        "statuses": [s.value for s in DeliveryStatus],
        "status": status_text,
        "next_url": next_url,
        "message": message or _notice(params.get("done")),
        "replay_from": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "replay_to": now.strftime("%Y-%m-%dT%H:%M"),
    }
    return render("endpoint.html", context, status=400 if message else 200)


def _notice(done: str | None) -> str | None:
    return {"retried": "The delivery is queued again.", "replayed": "Replay queued."}.get(
        done or ""
    )


@router.get("/{endpoint_id}/")
async def show_endpoint(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
    return await _endpoint_page(request, viewer, endpoint_id)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry")
async def retry_delivery(
    request: Request, endpoint_id: str, delivery_id: str, viewer: ViewerDep
) -> Response:
    await checked_form(request, viewer)
    try:
        await _service(viewer).retry_delivery(viewer.workspace_id, endpoint_id, delivery_id)
    except errors.NotFound as exc:
        return error_page(viewer, exc)
    except errors.MeetbotError as exc:
        return await _endpoint_page(request, viewer, endpoint_id, message=exc.detail)
    return RedirectResponse(f"/dashboard/webhooks/{endpoint_id}/?done=retried", status_code=303)


def _moment(text: str, name: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text.strip()))  # datetime-local: taken as UTC
    except ValueError:
        raise errors.InvalidRequest(f"{name}: not a date and time.") from None


@router.post("/{endpoint_id}/replay")
async def replay(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
    fields = await checked_form(request, viewer)
    try:
        start = _moment(fields.get("from", ""), "from")
        end = _moment(fields.get("to", ""), "to")
        made = await _service(viewer).replay(viewer.workspace_id, endpoint_id, start, end)
    except errors.NotFound as exc:
        return error_page(viewer, exc)
    except errors.MeetbotError as exc:
        return await _endpoint_page(request, viewer, endpoint_id, message=exc.detail)
    return RedirectResponse(
        f"/dashboard/webhooks/{endpoint_id}/?done=replayed&made={made}", status_code=303
    )
