"""``/api/v1/webhook_endpoints/`` and ``/api/v1/events/``: parse, call the service, serialise."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from meetbot.contract.models import OutboxEvent
from meetbot.control.api.deps import Cursors, ServicesDep, WorkspaceId
from meetbot.control.api.schemas import ErrorOut, UtcDatetime
from meetbot.control.service.webhook_endpoints import EndpointPatch, EndpointSpec, WebhookService
from meetbot.control.webhooks.models import Attempt, Delivery, DeliveryStatus, WebhookEndpoint
from meetbot.timefmt import iso
from meetbot.unset import UNSET

router = APIRouter(prefix="/api/v1/webhook_endpoints", tags=["webhooks"])
events_router = APIRouter(prefix="/api/v1/events", tags=["webhooks"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid request (`code` says which rule)"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "No such endpoint or delivery in this workspace"},
    429: {"model": ErrorOut, "description": "Rate limited; obey `Retry-After`"},
}


async def get_webhooks(svc: ServicesDep, cursors: Cursors) -> WebhookService:
    return WebhookService.from_settings(
        svc.store, svc.clock, svc.settings, svc.reactions.events_committed, cursors, svc.secret_box
    )


Webhooks = Annotated[WebhookService, Depends(get_webhooks)]
Cursor = Annotated[
    str | None,
    Query(
        description="`next` of the previous page, as is (opaque; 400 `invalid_cursor` otherwise)"
    ),
]

# --- bodies ---------------------------------------------------------------------------------

EventTypes = Annotated[
    list[Annotated[StrictStr, Field(max_length=100)]] | None,
    Field(max_length=50, description="Event types to receive; null (default) for all."),
]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(max_length=2048)
    event_types: EventTypes = None
    enabled: StrictBool = True


class EndpointPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StrictStr | None = Field(None, max_length=2048)
    event_types: EventTypes = None
    enabled: StrictBool | None = None

    def to_patch(self) -> EndpointPatch:
        types = self.event_types
        return EndpointPatch(
            url=self.url,
            event_types=(None if types is None else tuple(types))
            if "event_types" in self.model_fields_set
            else UNSET,
            enabled=self.enabled,
        )


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: UtcDatetime = Field(alias="from")
    end: UtcDatetime = Field(alias="to")


# --- answers --------------------------------------------------------------------------------


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str] | None
    enabled: bool
    created_at: str
    updated_at: str
    secret: str | None = Field(None, description="Only when created and when rotated.")


class EndpointPage(BaseModel):
    results: list[EndpointOut]
    next: str | None


class AttemptOut(BaseModel):
    at: str
    url: str
    status_code: int | None
    latency_ms: float
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    bot_id: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: str | None
    last_status_code: int | None
    last_latency_ms: float | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: list[AttemptOut] | None = Field(None, description="Only on a single delivery.")


class DeliveryPage(BaseModel):
    results: list[DeliveryOut]
    next: str | None


class ReplayOut(BaseModel):
    deliveries: int


class EventOut(BaseModel):
    type: str
    id: str
    created_at: str
    data: dict[str, Any]


class EventPage(BaseModel):
    results: list[EventOut]
    next: str = Field(description="Pass back as `after`; the same when there is nothing new.")


def endpoint_view(endpoint: WebhookEndpoint, *, include_secret: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": None if endpoint.event_types is None else list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }
    if include_secret:
        view["secret"] = endpoint.secret
    return view


def attempt_view(attempt: Attempt) -> dict[str, Any]:
    return {
        "at": iso(attempt.at),
        "url": attempt.url,
        "status_code": attempt.status_code,
        "latency_ms": round(attempt.latency_ms, 3),
        "error": attempt.error,
    }


def delivery_view(d: Delivery, attempts: list[Attempt] | None = None) -> dict[str, Any]:
    pending = d.status is DeliveryStatus.PENDING
    view: dict[str, Any] = {
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "bot_id": d.bot_id,
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt_at": iso(d.next_attempt_at) if pending and d.next_attempt_at else None,
        "last_status_code": d.last_status_code,
        "last_latency_ms": None if d.last_latency_ms is None else round(d.last_latency_ms, 3),
        "last_error": d.last_error,
        "created_at": iso(d.created_at),
        "delivered_at": iso(d.delivered_at) if d.delivered_at else None,
    }
    if attempts is not None:
        view["attempt_log"] = [attempt_view(a) for a in attempts]
    return view


def event_view(event: OutboxEvent) -> dict[str, Any]:
    return event.payload()


# --- endpoints ------------------------------------------------------------------------------


@router.post("/", status_code=201, response_model=EndpointOut, responses=_ERRORS)
async def create_endpoint(body: EndpointIn, hooks: Webhooks, workspace_id: WorkspaceId) -> Response:
    """Register a workspace endpoint. The signing ``secret`` is in this response only."""
    types = None if body.event_types is None else tuple(body.event_types)
    endpoint = await hooks.create_endpoint(
        workspace_id, EndpointSpec(body.url, types, body.enabled)
    )
    return JSONResponse(endpoint_view(endpoint, include_secret=True), status_code=201)


@router.get("/", response_model=EndpointPage, responses=_ERRORS)
async def list_endpoints(
    hooks: Webhooks,
    workspace_id: WorkspaceId,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    page = await hooks.list_endpoints(workspace_id, cursor, limit)
    return JSONResponse({"results": [endpoint_view(e) for e in page.results], "next": page.next})


@router.get("/{endpoint_id}/", response_model=EndpointOut, responses=_ERRORS)
async def get_endpoint(endpoint_id: str, hooks: Webhooks, workspace_id: WorkspaceId) -> Response:
    return JSONResponse(endpoint_view(await hooks.get_endpoint(workspace_id, endpoint_id)))


@router.patch("/{endpoint_id}/", response_model=EndpointOut, responses=_ERRORS)
async def update_endpoint(
    endpoint_id: str, body: EndpointPatchIn, hooks: Webhooks, workspace_id: WorkspaceId
) -> Response:
    updated = await hooks.update_endpoint(workspace_id, endpoint_id, body.to_patch())
    return JSONResponse(endpoint_view(updated))


@router.delete("/{endpoint_id}/", status_code=204, responses=_ERRORS)
async def delete_endpoint(endpoint_id: str, hooks: Webhooks, workspace_id: WorkspaceId) -> Response:
    await hooks.delete_endpoint(workspace_id, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate_secret/", response_model=EndpointOut, responses=_ERRORS)
async def rotate_secret(endpoint_id: str, hooks: Webhooks, workspace_id: WorkspaceId) -> Response:
    """A new signing secret, in this response only; the old one keeps signing for 24 h."""
    rotated = await hooks.rotate_secret(workspace_id, endpoint_id)
    return JSONResponse(endpoint_view(rotated, include_secret=True))


# --- deliveries -----------------------------------------------------------------------------


@router.get("/{endpoint_id}/deliveries/", response_model=DeliveryPage, responses=_ERRORS)
async def list_deliveries(
    endpoint_id: str,
    hooks: Webhooks,
    workspace_id: WorkspaceId,
    status: DeliveryStatus | None = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """Newest first: status, attempts, last status code, latency and error, next retry."""
    page = await hooks.list_deliveries(
        workspace_id, endpoint_id, status=status, cursor=cursor, limit=limit
    )
    return JSONResponse({"results": [delivery_view(d) for d in page.results], "next": page.next})


@router.get(
    "/{endpoint_id}/deliveries/{delivery_id}/", response_model=DeliveryOut, responses=_ERRORS
)
async def get_delivery(
    endpoint_id: str, delivery_id: str, hooks: Webhooks, workspace_id: WorkspaceId
) -> Response:
    delivery, attempts = await hooks.get_delivery(workspace_id, endpoint_id, delivery_id)
    return JSONResponse(delivery_view(delivery, attempts))


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry/",
    status_code=202,
    response_model=DeliveryOut,
    responses=_ERRORS,
)
async def retry_delivery(
    endpoint_id: str, delivery_id: str, hooks: Webhooks, workspace_id: WorkspaceId
) -> Response:
    """Try a pending delivery now, or queue a finished one again (a new delivery)."""
    delivery = await hooks.retry_delivery(workspace_id, endpoint_id, delivery_id)
    return JSONResponse(delivery_view(delivery), status_code=202)


@router.post("/{endpoint_id}/replay/", status_code=202, response_model=ReplayOut, responses=_ERRORS)
async def replay(
    endpoint_id: str, body: ReplayIn, hooks: Webhooks, workspace_id: WorkspaceId
) -> Response:
    """Send the workspace's events created in ``[from, to)`` to this endpoint again."""
    made = await hooks.replay(workspace_id, endpoint_id, body.start, body.end)
    return JSONResponse({"deliveries": made}, status_code=202)


# --- the events feed ------------------------------------------------------------------------


@events_router.get("/", response_model=EventPage, responses=_ERRORS)
async def list_events(
    hooks: Webhooks,
    workspace_id: WorkspaceId,
    after: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Every event of the workspace after the cursor, oldest first."""
    page = await hooks.events_page(workspace_id, after, limit)
    return JSONResponse({"results": [event_view(e) for e in page.results], "next": page.next})
