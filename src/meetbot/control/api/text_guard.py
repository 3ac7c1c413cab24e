"""No text a store cannot keep gets past the API: path, query and JSON body are checked.

A NUL character or a lone surrogate anywhere (a value or a key) is 400 ``invalid_request``
with ``field`` naming where, on every backend, before the key is checked or a store is touched.
The runners' report bodies are left to their contract, which cleans page text instead
(:data:`meetbot.contract.storable_text.PageText`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.requests import HTTPConnection

from meetbot import errors
from meetbot.contract.storable_text import problem

_RUNNER_PREFIX = "/internal/"
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _refuse(where: str, why: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(
        f"{where}: contains {why}, which cannot be stored.", extra={"field": where}
    )


def _walk(value: Any, where: str) -> None:
    if isinstance(value, str):
        why = problem(value)
        if why:
            raise _refuse(where, why)
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{where}.{key}" if where else str(key)
            why = problem(key)
            if why:
                raise _refuse(where or "body", why)
            _walk(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{where}.{index}" if where else str(index))


async def refuse_unstorable_text(request: HTTPConnection) -> None:
    """An app-wide dependency: runs after the body is parsed, before every other one.

    A WebSocket route calls :func:`refuse_in_path_and_query` itself (its errors are denial
    responses, not the exception handlers' JSON)."""
    if not isinstance(request, Request):
        return
    refuse_in_path_and_query(request)
    if request.method not in _WITH_BODY or request.scope["path"].startswith(_RUNNER_PREFIX):
        return
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower() or not await request.body():
        return
    try:
        body = await request.json()  # FastAPI's parse, cached on this request
    except ValueError:  # a route without a body ignores one it cannot parse
        return
    _walk(body, "")


def refuse_in_path_and_query(request: HTTPConnection) -> None:
    why = problem(request.url.path)
    if why:
        raise _refuse("path", why)
    for key, value in request.query_params.multi_items():
        why = problem(key)
        if why:
            raise _refuse("query", why)
        why = problem(value)
        if why:
            raise _refuse(key, why)
