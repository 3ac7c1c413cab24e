"""Where a client connects and how an answer becomes a value or an error (both clients).

The server's URL and the API key come from the arguments, else ``MEETBOT_SERVER`` and
``MEETBOT_API_KEY`` (the CLI reads the same variables).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from meetbot import __version__
from meetbot.client.errors import ApiError, MeetbotClientError, error_from
from meetbot.client.retries import parse_retry_after

DEFAULT_SERVER = "http://127.0.0.1:8000"
SERVER_ENV = "MEETBOT_SERVER"
API_KEY_ENV = "MEETBOT_API_KEY"
USER_AGENT = f"meetbot-python/{__version__}"


@dataclass(frozen=True, slots=True)
class Connection:
    base_url: str
    api_key: str

    @classmethod
    def resolve(
        cls, base_url: str | None, api_key: str | None, env: Mapping[str, str] | None = None
    ) -> Connection:
        environ = os.environ if env is None else env
        url = base_url or environ.get(SERVER_ENV) or DEFAULT_SERVER
        key = api_key or environ.get(API_KEY_ENV)
        if not key:
            raise MeetbotClientError(f"No API key: pass api_key or set {API_KEY_ENV}.")
        return cls(url.rstrip("/"), key)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.api_key}", "User-Agent": USER_AGENT}


def retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


def error_of(response: httpx.Response) -> ApiError:
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return error_from(response.status_code, body, retry_after(response))


def check(response: httpx.Response) -> httpx.Response:
    """The response if it is a success, else its :class:`ApiError` raised."""
    if response.is_success:
        return response
    raise error_of(response)
