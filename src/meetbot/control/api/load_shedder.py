"""Overload: the requests the server cannot answer in time are refused at once, not all slowed.

At most ``max_in_flight`` requests of the public API run at a time; one more waits for a slot
in arrival order, for at most ``max_queue_wait`` seconds (a monotonic clock), and is answered
503 ``service_unavailable`` "Our servers have dropped the request due to high load -- please
retry." with ``Retry-After: 1`` when none frees up in time. So when requests arrive faster
than the server answers them, the ones it takes stay quick and the excess is told to retry
within ``max_queue_wait`` instead of every request queueing behind the others.

Requests also queue where no middleware sees them: in the event loop's backlog and in the
socket buffers while the process waits for a CPU (the machine is busy with other work). So the
shedder also samples the loop's lag (a timer every 5 ms: how late it fires): a request that
finds no free slot may wait ``max_queue_wait`` less that lag (it has waited about that long
before it got here), and is shed at once when the loop lags more.

A flood is told apart from a slow machine by how many requests are in it: with at least half
of ``max_in_flight`` requests in flight (more than a browser's six connections to one host)
and the loop lagging more than half of
``max_queue_wait``, a new request is shed even when a slot is free. Without that rule a flood
settles where the loop lags ``max_queue_wait`` (every request, taken or shed, first waits that
long to be read), since the slots alone do not bound the rate of short requests. With fewer
requests in flight, a request that finds a free slot is always taken: lag alone (a slow machine,
a blocking call, a test beside other work) never sheds.

The limit adapts to what the machine gives the server (a CPU shared with other work serves
fewer requests at a time than the setting assumes; by Little's law the answer time of the
requests in flight is their number over the throughput): while requests are being queued or
shed, a request that took longer than ``max_queue_wait`` from its admission to its answer
lowers the limit by 5 %, one that took less raises it by ``1 / limit`` (additive increase,
multiplicative decrease, as TCP does), between a quarter of ``max_in_flight`` (at least 1: on
PostgreSQL a request also waits on the network, and a starved machine must not bring the
server down to one request at a time) and ``max_in_flight``. Without that pressure
the limit stays where it is: a slow request alone (a test on a busy machine) changes nothing.

Not limited: the runner channel (``/internal/...``: a runner's reports and long polls must not
be shed by tenants' traffic; fleet agents' heartbeats and polls too), ``/health``,
``/metrics`` (the load is what a scrape must see), and signed media links (``/media/...``, streamed
downloads that would hold a slot for their whole length). ``max_in_flight`` 0 turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODE = "service_unavailable"
DETAIL = "Our servers have dropped the request due to high load -- please retry."
RETRY_AFTER = "1"
EXEMPT_PREFIXES = ("/internal/", "/media/")
EXEMPT_PATHS = frozenset({"/health", "/healthz", "/readyz", "/metrics"})


LAG_INTERVAL = 0.005


@dataclass
class ShedStats:
    admitted: int = 0
    queued: int = 0
    shed: int = 0
    longest_wait: float = 0.0


class LoopLag:
    """How late the event loop runs a timer: a chain of ``call_later`` callbacks, started when
    asked and stopped after a second nobody asked (a pending timer left at the loop's close
    needs no cleanup)."""

    def __init__(self, interval: float = LAG_INTERVAL, idle: float = 1.0) -> None:
        self.interval = interval
        self.idle = idle
        self.lag = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._asked = 0.0

    def current(self) -> float:
        loop = asyncio.get_running_loop()
        self._asked = time.monotonic()
        if loop is not self._loop:  # first use, after a quiet spell, or a new loop (tests)
            self._loop = loop
            self.lag = 0.0
            self._schedule(loop)
        return self.lag

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_later(self.interval, self._tick, loop, time.monotonic() + self.interval)

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if loop is not self._loop:
            return
        now = time.monotonic()
        self.lag = max(0.0, now - due)
        if now - self._asked > self.idle:
            self._loop = None  # no pressure lately: stop sampling
            return
        self._schedule(loop)


def _response() -> tuple[Message, Message]:
    body = json.dumps({"code": CODE, "detail": DETAIL}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", RETRY_AFTER.encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


class LoadShedder:
    """ASGI middleware: a concurrency limit with a bounded wait (see the module's text)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        max_queue_wait: float,
        loop_lag: LoopLag | None = None,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_queue_wait = max_queue_wait
        self.max_lag = max_queue_wait / 2
        """Loop lag beyond which a request is shed even with a free slot, when at least
        ``flood`` requests are in flight (a flood, not a slow machine)."""
        self.flood = max(2, max_in_flight // 2)
        self.in_flight = 0
        self.limit = float(max_in_flight)
        self.floor = float(max(1, max_in_flight // 4))
        """The adaptive limit (see the module's text); ``max_in_flight`` at most."""
        self.pressure = False
        """A request was queued or shed since the last answer."""
        self.stats = ShedStats()
        self.loop_lag = loop_lag or LoopLag()
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot now."""
        return len(self._waiters)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_in_flight <= 0 or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not await self._acquire():
            self.stats.shed += 1
            for message in _response():
                await send(message)
            return
        admitted = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self._adapt(time.monotonic() - admitted)
            self._release()

    def _slots(self) -> int:
        return max(1, int(self.limit))

    def _adapt(self, took: float) -> None:
        if not self.pressure:
            return
        self.pressure = False
        if took > self.max_queue_wait:
            self.limit = max(self.floor, self.limit * 0.95)
        else:
            self.limit = min(float(self.max_in_flight), self.limit + 1 / self.limit)

    async def _acquire(self) -> bool:
        """Take a slot (waiting at most ``max_queue_wait``); ``False`` when none came."""
        if self.in_flight < self._slots() and not self._waiters:
            if self.in_flight >= self.flood and self.loop_lag.current() > self.max_lag:
                self.pressure = True  # a flood: the loop is behind with many requests in it
                return False
            self.in_flight += 1
            self.stats.admitted += 1
            return True
        self.pressure = True
        # It has waited about as long as the loop lags already, before it got here.
        budget = self.max_queue_wait - self.loop_lag.current()
        if budget <= 0:
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.stats.queued += 1
        started = time.monotonic()
        try:
            await asyncio.wait({waiter}, timeout=budget)
        except asyncio.CancelledError:  # the client went away while it waited
            self._give_up(waiter)
            raise
        if waiter.done():  # a finishing request handed its slot over (in_flight unchanged)
            self.stats.admitted += 1
            self.stats.longest_wait = max(self.stats.longest_wait, time.monotonic() - started)
            return True
        self._give_up(waiter)
        return False

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done() and not waiter.cancelled():
            self._release()  # it had been handed a slot: pass it on
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _release(self) -> None:
        """Hand the slot to the longest waiter still waiting, else free it (also when the
        limit went down meanwhile)."""
        while self._waiters and self.in_flight <= self._slots():
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.in_flight -= 1
