"""The bytes of one proxied connection, relayed both ways with no Python work per byte.

Two :class:`asyncio.Protocol` ends (:class:`Side`) joined by :func:`join`: what one end's
transport reads (up to 256 KiB at a time, asyncio's read size) the other's transport writes,
with no copy and no coroutine per chunk. Flow control is the transports': when a writer's
buffer passes :data:`HIGH_WATER`, the other end stops reading until it drains. Either end ending
ends both (after what is buffered is written): HTTP clients never half-close before their answer.

:class:`Side` with ``rewrite_response`` reads an origin server's answers to a plain HTTP request
up to the final status line and marks it ``Connection: close``, so that Chromium never sends a
second request (maybe for another host) down a connection pinned to the first one's address.
"""

from __future__ import annotations

import asyncio
import re
from typing import Final

HIGH_WATER: Final = 1 << 20
LOW_WATER: Final = 1 << 18
MAX_HEAD: Final = 64 * 1024
"""The longest request or response head read (request: else 431)."""

_HOP_BY_HOP: Final = re.compile(rb"^(connection|keep-alive|proxy-connection):", re.IGNORECASE)
_STATUS: Final = re.compile(rb"^HTTP/1\.[01] (\d{3})")


class Side(asyncio.Protocol):
    """One end of a relay; :attr:`other` is the end its reads go to."""

    def __init__(self, *, rewrite_response: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self.other: Side | None = None
        self.relayed = 0
        """Bytes read from this end and handed to :attr:`other`."""
        self._head: bytearray | None = bytearray() if rewrite_response else None
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)

    def data_received(self, data: bytes) -> None:
        if self._head is not None:
            data = self._read_head(data)
            if not data:
                return
        self.relayed += len(data)
        if self.other is None or self.other.transport is None:
            self._early.append(data)  # before join(): kept for the other end
        else:
            self.other.transport.write(data)

    def _read_head(self, data: bytes) -> bytes:
        """Rewrite the final response head; ``b""`` until it is complete."""
        assert self._head is not None
        head = self._head
        head += data
        out = b""
        while self._head is not None:
            end = head.find(b"\r\n\r\n")
            if end < 0:
                if len(head) > MAX_HEAD:  # not HTTP as we know it: relayed as it is
                    self._head = None
                    return out + bytes(head)
                return out
            status = _STATUS.match(head)
            code = int(status.group(1)) if status else 0
            block, rest = bytes(head[: end + 4]), head[end + 4 :]
            if 100 <= code < 200 and code != 101:
                out += block  # 100 Continue and the like: the final answer follows
                head = self._head = bytearray(rest)
                continue
            self._head = None
            if code != 101:  # 101: the upgraded connection is the client's to keep
                block = close_connection(block)
            return out + block + bytes(rest)
        return out  # pragma: no cover

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        other = self.other
        if other is not None and other.transport is not None:
            other.transport.close()  # writes what it has buffered first

    def pause_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def join(client: Side, upstream: Side) -> None:
    """Relay between two connected ends from now on (what either read before is passed on)."""
    client.other, upstream.other = upstream, client
    for side in (client, upstream):
        early, side._early = side._early, []
        other = upstream.transport if side is client else client.transport
        assert other is not None
        for data in early:
            other.write(data)
        if side.transport is not None and side.transport.is_closing():
            side._end()


def close_connection(head: bytes) -> bytes:
    """``head`` (a request or response head, CRLF CRLF included) without its hop-by-hop
    connection headers and with ``Connection: close``."""
    lines = head[:-4].split(b"\r\n")
    kept = [lines[0], *(line for line in lines[1:] if not _HOP_BY_HOP.match(line))]
    return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n"
