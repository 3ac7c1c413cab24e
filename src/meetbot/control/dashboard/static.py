"""The dashboard's two static files, read once, served with a long cache and no sniffing."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Response

from meetbot import errors
from meetbot.control.dashboard.pages import HERE

router = APIRouter(prefix="/dashboard/static")

_TYPES: Final = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
_FILES: Final = {name: (HERE / "static" / name).read_bytes() for name in _TYPES}


@router.get("/{name}")
async def static_file(name: str) -> Response:
    body = _FILES.get(name)
    if body is None:
        raise errors.NotFound("No such file.")
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=f"{_TYPES[name]}; charset=utf-8", headers=headers)
