"""Rendering a dashboard page: the templates, the security headers, forms and the viewer.

Every page is rendered by :func:`render` (Jinja2 with autoescape on: meeting page text and
participant names are attacker-controlled) and carries the headers of :func:`page_headers`:
a CSP without inline script, ``X-Frame-Options: DENY``, ``no-store``.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import jinja2
from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from meetbot import errors
from meetbot.contract.storable_text import problem
from meetbot.control.api.deps import ServicesDep
from meetbot.control.cursors import CursorCodec
from meetbot.control.dashboard import session as sessions
from meetbot.control.service import Services

HERE: Final = Path(__file__).parent
MAX_FORM_FIELD: Final = 4096

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    auto_reload=False,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    total = int(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


_env.filters["when"] = _when
_env.filters["seconds"] = _seconds


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in workspace and its session (the CSRF token every form carries)."""

    workspace_id: str
    session: sessions.Session
    services: Services
    cursors: CursorCodec


def page_headers(media_origins: tuple[str, ...] = ()) -> dict[str, str]:
    media = " ".join(("'self'", *media_origins))
    return {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"media-src {media}; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def render(
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    media_origins: tuple[str, ...] = (),
) -> HTMLResponse:
    body = _env.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=page_headers(media_origins))


def sealer(request: Request) -> sessions.SessionSealer:
    found: sessions.SessionSealer = request.app.state.dashboard_sessions
    return found


def secure_cookies(services: Services) -> bool:
    return services.settings.effective_public_url.lower().startswith("https:")


def to_sign_in() -> HTTPException:
    """Raised where a page needs a session: the browser goes to the sign-in page."""
    return HTTPException(303, "Sign in first.", headers={"Location": "/dashboard/signin"})


async def workspace_for(services: Services, key_hash: str) -> str | None:
    """The workspace of a live key. Read on every page (no cache, unlike the API's): a revoked
    key's session stops working at its next request."""
    async with services.store.transaction(write=False) as tx:
        return await tx.keys.workspace_for(key_hash)


async def get_viewer(request: Request, services: ServicesDep) -> Viewer:
    session = sealer(request).open(request.cookies.get(sessions.COOKIE))
    if session is None:
        raise to_sign_in()
    workspace_id = await workspace_for(services, session.key_hash)
    if workspace_id is None:
        raise to_sign_in()
    cursors: CursorCodec = request.app.state.cursors
    return Viewer(workspace_id, session, services, cursors)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (first value of each field)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}  # no fields: no CSRF token either (403)
    raw = (await request.body()).decode("utf-8", errors="replace")
    fields: dict[str, str] = {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        if problem(key) or problem(value) or len(value) > MAX_FORM_FIELD:
            raise errors.InvalidRequest(f"{key[:50]}: this value cannot be stored.")
        fields.setdefault(key, value)
    return fields


async def checked_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """The form, once its CSRF token is the session's (else 403)."""
    fields = await form(request)
    if not sessions.same_token(viewer.session.csrf, fields.get("csrf")):
        raise HTTPException(403, "The form's CSRF token is missing or stale: reload the page.")
    return fields


def error_page(viewer: Viewer | None, exc: errors.MeetbotError) -> HTMLResponse:
    context = {"viewer": viewer, "title": "Error", "code": exc.code, "detail": exc.detail}
    return render("error.html", context, status=exc.status)
