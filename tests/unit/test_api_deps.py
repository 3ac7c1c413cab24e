"""The API's shared dependencies are coroutines: FastAPI runs a plain ``def`` dependency in a
worker thread, a thread round trip per request (it was most of create-bot's API overhead)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from meetbot.control.api import bots as bots_api
from meetbot.control.api import credentials as credentials_api
from meetbot.control.api import deps
from meetbot.control.api import internal as internal_api
from meetbot.control.api import media as media_api
from meetbot.control.api import webhooks as webhooks_api
from meetbot.control.dashboard import bots as dashboard_bots
from meetbot.control.dashboard import capacity as dashboard_capacity
from meetbot.control.dashboard import signin as dashboard_signin
from meetbot.control.dashboard import webhooks as dashboard_webhooks


@pytest.mark.parametrize("dependency", [deps.get_services, deps.get_workspace, deps.runner_token])
def test_dependency_runs_on_the_event_loop(dependency: object) -> None:
    assert inspect.iscoroutinefunction(dependency)


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


@pytest.mark.parametrize(
    "router",
    [
        bots_api.router,
        internal_api.router,
        media_api.router,
        webhooks_api.router,
        webhooks_api.events_router,
        credentials_api.router,
        dashboard_signin.router,
        dashboard_bots.router,
        dashboard_webhooks.router,
        dashboard_capacity.router,
    ],
)
def test_every_routes_dependency_runs_on_the_event_loop(router: APIRouter) -> None:
    """Every one, so a new plain ``def`` is caught (get_media and get_webhooks were)."""
    calls = {
        call
        for route in router.routes
        if isinstance(route, APIRoute)
        for call in _calls(route.dependant)
    }
    assert calls
    assert [c for c in calls if not inspect.iscoroutinefunction(c)] == []
