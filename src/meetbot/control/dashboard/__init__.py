"""The dashboard (``/dashboard/``): server-rendered pages for people, signed in with an API
key. Routes per noun (``bots``, ``webhooks``, ``calendars``, ``capacity``), ``signin`` and its
sealed ``session``, ``pages`` (rendering and the security headers), ``static`` (one JS, one
CSS)."""

from __future__ import annotations

from fastapi import FastAPI

from meetbot.control.dashboard import bots, calendars, capacity, signin, static, webhooks
from meetbot.control.dashboard.session import SessionSealer


def install(app: FastAPI, secret: bytes | None) -> None:
    """Serve the dashboard on ``app``; sessions are sealed under ``secret`` (the server's;
    without it they die with the process)."""
    app.state.dashboard_sessions = SessionSealer(secret) if secret else SessionSealer.ephemeral()
    for module in (signin, bots, webhooks, calendars, capacity, static):
        app.include_router(module.router, include_in_schema=False)
