"""Signing in with an API key and out again (see :mod:`.session` for the cookie)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from meetbot.control.api.auth_failures import API, AuthFailures
from meetbot.control.api.deps import ServicesDep, client_address
from meetbot.control.dashboard import session as sessions
from meetbot.control.dashboard.pages import (
    ViewerDep,
    form,
    render,
    sealer,
    secure_cookies,
    workspace_for,
)
from meetbot.control.service.keys import hash_key

router = APIRouter(prefix="/dashboard")


def _signin_page(services: ServicesDep, error: str | None = None, status: int = 200) -> Response:
    token = sessions.new_token()
    response = render(
        "signin.html",
        {"viewer": None, "title": "Sign in", "csrf": token, "error": error},
        status=status,
    )
    response.set_cookie(
        sessions.SIGNIN_COOKIE,
        token,
        max_age=600,
        path=sessions.PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(services),
    )
    return response


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/dashboard/bots/", status_code=303)


@router.get("/signin")
async def signin_page(services: ServicesDep) -> Response:
    return _signin_page(services)


@router.post("/signin")
async def sign_in(request: Request, services: ServicesDep) -> Response:
    fields = await form(request)
    if not sessions.same_token(request.cookies.get(sessions.SIGNIN_COOKIE, ""), fields.get("csrf")):
        raise HTTPException(403, "The sign-in form is stale: reload the page.")
    failures: AuthFailures = request.app.state.auth_failures
    address = client_address(request)
    failures.check(API, address)  # the API's limit on failed authentications
    key = fields.get("api_key", "").strip()
    key_hash = hash_key(key) if key else ""
    workspace_id = await workspace_for(services, key_hash) if key else None
    if workspace_id is None:
        failures.failed(API, address)
        return _signin_page(services, "That API key is not valid.", status=401)
    _, cookie = sealer(request).new(key_hash)
    response = RedirectResponse("/dashboard/bots/", status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        cookie,
        max_age=int(sessions.SESSION_TTL.total_seconds()),
        path=sessions.PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(services),
    )
    response.delete_cookie(sessions.SIGNIN_COOKIE, path=sessions.PATH)
    return response


@router.post("/signout")
async def sign_out(request: Request, viewer: ViewerDep) -> Response:
    fields = await form(request)
    if not sessions.same_token(viewer.session.csrf, fields.get("csrf")):
        raise HTTPException(403, "The form's CSRF token is missing or stale: reload the page.")
    response = RedirectResponse("/dashboard/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path=sessions.PATH)
    return response
