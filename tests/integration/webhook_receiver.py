"""A small HTTP/1.1 server on 127.0.0.1 that receives webhooks (keep-alive, no framework).

``respond(request) -> status`` decides each answer; every request is kept, and those that
verify with the Standard Webhooks library under ``secret`` are parsed into ``events``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    respond: Callable[[Received], int] = lambda _: 200
    delay: float = 0.0
    """Seconds to wait before answering."""
    requests: list[Received] = field(default_factory=list)
    accepted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(path, event) of verified events answered with a 2xx, in arrival order."""
    bad_signatures: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    def verified(self, request: Received) -> dict[str, Any] | None:
        for secret in self.secrets:
            try:
                parsed: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
                return parsed
            except Exception:
                continue
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body)
                self.requests.append(request)
                event = self.verified(request)
                if event is None:
                    self.bad_signatures += 1
                if self.delay:
                    await asyncio.sleep(self.delay)
                status = self.respond(request)
                if event is not None and 200 <= status < 300:
                    self.accepted.append((path, event))
                extra = "location: http://127.0.0.1:1/\r\n" if 300 <= status < 400 else ""
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n{extra}\r\nok".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()


def streams(accepted: list[tuple[str, dict[str, Any]]]) -> dict[tuple[str, str], list[str]]:
    """Event ids per (path, bot), in arrival order."""
    out: dict[tuple[str, str], list[str]] = {}
    for path, event in accepted:
        out.setdefault((path, event["data"].get("bot_id", "")), []).append(event["id"])
    return out


def dedupe_consecutive(ids: list[str]) -> list[str]:
    """At-least-once: a redelivery repeats the last event; drop the repeats."""
    return [x for i, x in enumerate(ids) if i == 0 or ids[i - 1] != x]
