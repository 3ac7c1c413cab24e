"""Trailing slash optional: a request whose path matches no route is retried with the slash
toggled, so ``/api/v1/bot`` and ``/api/v1/bot/`` both work (no redirect, POST bodies kept)."""

from __future__ import annotations

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class OptionalTrailingSlash:
    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    def _matches(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self.router.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/" and not self._matches(scope):
            path: str = scope["path"]
            alt = path[:-1] if path.endswith("/") else path + "/"
            alt_scope = {**scope, "path": alt, "raw_path": alt.encode()}
            if self._matches(alt_scope):
                scope = alt_scope
        await self.app(scope, receive, send)
