"""The runner's HTTP client to the control plane (wire contract: :mod:`meetbot.contract.reports`).

Two loops, run as named tasks by the session:

- :meth:`Reporter.send_loop` sends queued reports in order, in batches of up to 500, and an
  empty batch (heartbeat) whenever nothing was sent for ``heartbeat_interval`` seconds. Failures
  are retried with exponential backoff; the reports stay queued.
- :meth:`Reporter.command_loop` long-polls ``/commands``.

:meth:`Reporter.start_joining` asks ``/join`` once the bot is about to navigate.

With several control-plane URLs (``control_urls``: the assignment's, then the agent's other
replicas), a connection error or a 5xx answer moves every later request to the next URL, so a
replica that dies loses no report (the batch is sent again to the next one).

Commands from either answer land in :attr:`Reporter.commands`. :attr:`Reporter.lost` is set
when the control plane has not been reached for ``control_plane_grace`` seconds, or when it
answered 401/404 (this bot is unknown or its token revoked); :attr:`Reporter.lost_reason` says
which.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import httpx
from pydantic import ValidationError

from meetbot.contract.assignment import Assignment
from meetbot.contract.reports import AudioOut, Command, Commands, JoinAnswer, JoinRequest, Report

log = logging.getLogger(__name__)

MAX_BATCH: Final = 500
COMMAND_WAIT: Final = 20
BACKOFF_START: Final = 0.25
BACKOFF_MAX: Final = 5.0
MIN_POLL_INTERVAL: Final = 0.5
_GONE: Final = frozenset({401, 404})


class Reporter:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        control_url: str,
        bot_id: str,
        token: str,
        heartbeat_interval: float = 2.0,
        control_plane_grace: float = 60.0,
        command_wait: int = COMMAND_WAIT,
        fallback_urls: Sequence[str] = (),
    ) -> None:
        """``fallback_urls``: other replicas of the control plane, tried in turn after
        ``control_url`` fails (a connection error or a 5xx)."""
        bases = [control_url.rstrip("/")]
        bases += [u.rstrip("/") for u in fallback_urls if u.rstrip("/") not in bases]
        self._bases = bases
        self._current = 0
        self._bot_path = f"/internal/bots/{bot_id}"
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}"}
        self._heartbeat = heartbeat_interval
        self._grace = control_plane_grace
        self._command_wait = command_wait
        self._pending: deque[Report] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_ok = time.monotonic()
        self.commands: asyncio.Queue[Command] = asyncio.Queue()
        self.camera: str | None = None
        """The picture the control plane wants shown (``Commands.camera``), as last answered."""
        self.output_audio: list[AudioOut] = []
        """The clips to say (``Commands.output_audio``), as last answered."""
        self.lost = asyncio.Event()
        self.lost_reason: str | None = None
        self.sent = 0

    @classmethod
    def for_assignment(
        cls, client: httpx.AsyncClient, assignment: Assignment, fallback_urls: Sequence[str] = ()
    ) -> Reporter:
        return cls(
            client,
            control_url=assignment.control_url,
            bot_id=assignment.bot_id,
            token=assignment.token,
            heartbeat_interval=assignment.heartbeat_interval,
            control_plane_grace=assignment.control_plane_grace,
            fallback_urls=fallback_urls,
        )

    @property
    def control_url(self) -> str:
        """The control-plane URL requests go to now."""
        return self._bases[self._current]

    def _url(self, leaf: str) -> str:
        return f"{self._bases[self._current]}{self._bot_path}/{leaf}"

    def _fail_over(self, why: str) -> None:
        """The current URL failed: later requests go to the next one (when there are several)."""
        if len(self._bases) > 1:
            self._current = (self._current + 1) % len(self._bases)
            log.info("control plane failed (%s); trying %s", why, self._bases[self._current])

    def emit(self, report: Report) -> None:
        """Queue a report; it is sent at once (in order) by :meth:`send_loop`."""
        self._pending.append(report)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def drain(self, timeout: float) -> bool:
        """Wait until every queued report has been delivered; ``False`` on timeout or loss."""
        if self.lost.is_set():
            return not self._pending
        self._wake.set()
        idle = asyncio.ensure_future(self._idle.wait())
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({idle, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
            lost.cancel()
        return not self._pending

    # --- the loops ---------------------------------------------------------------------------

    async def send_loop(self) -> None:
        """Send reports and heartbeats until cancelled or the control plane is lost."""
        backoff = BACKOFF_START
        last_sent = time.monotonic()
        while not self.lost.is_set():
            if not self._pending:
                wait = max(0.0, self._heartbeat - (time.monotonic() - last_sent))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
            self._wake.clear()
            batch = [self._pending[i] for i in range(min(MAX_BATCH, len(self._pending)))]
            last_sent = time.monotonic()
            if await self._post(batch):
                for _ in batch:
                    self._pending.popleft()
                self.sent += len(batch)
                if not self._pending:
                    self._idle.set()
                backoff = BACKOFF_START
            elif not self.lost.is_set():
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def command_loop(self) -> None:
        """Long-poll ``/commands`` until cancelled or the control plane is lost."""
        backoff = BACKOFF_START
        timeout = httpx.Timeout(10.0, read=self._command_wait + 10.0)
        while not self.lost.is_set():
            started = time.monotonic()
            try:
                response = await self._client.get(
                    self._url("commands"),
                    params={"wait": self._command_wait},
                    headers=self._headers,
                    timeout=timeout,
                )
            except httpx.HTTPError as exc:
                log.debug("commands poll failed: %r", exc)
                self._fail_over(type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if response.status_code in _GONE:
                self._gone(response.status_code)
                return
            if response.status_code != 200:
                if response.status_code >= 500:
                    self._fail_over(f"HTTP {response.status_code}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_START
            self._take_commands(response)
            # a control plane that answers at once must not be polled in a tight loop
            await asyncio.sleep(max(0.0, MIN_POLL_INTERVAL - (time.monotonic() - started)))

    async def start_joining(self, at: datetime) -> JoinAnswer | None:
        """``POST /join``, retried until answered: the bot's values as they stand now (see
        :mod:`meetbot.runner.briefing`); ``None`` once the control plane is lost."""
        body = JoinRequest(at=at).model_dump_json()
        backoff = BACKOFF_START
        while not self.lost.is_set():
            try:
                response = await self._client.post(
                    self._url("join"),
                    content=body,
                    headers={**self._headers, "Content-Type": "application/json"},
                    timeout=10.0,
                )
            except httpx.HTTPError as exc:
                self._failed(f"{type(exc).__name__}: {exc}")
            else:
                if response.status_code == 200:
                    self._last_ok = time.monotonic()
                    return JoinAnswer.model_validate_json(response.content)
                if response.status_code in _GONE:
                    self._gone(response.status_code)
                    return None
                self._failed(f"HTTP {response.status_code}")
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        return None

    # --- internals ---------------------------------------------------------------------------

    async def _post(self, batch: list[Report]) -> bool:
        body = json.dumps({"events": [r.model_dump(mode="json") for r in batch]})
        try:
            response = await self._client.post(
                self._url("events"),
                content=body,
                headers={**self._headers, "Content-Type": "application/json"},
                timeout=10.0,
            )
        except httpx.HTTPError as exc:
            return self._failed(f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if status == 200:
            self._last_ok = time.monotonic()
            self._take_commands(response)
            return True
        if status in _GONE:
            self._gone(status)
            return False
        if 400 <= status < 500 and status not in (408, 429):
            # The control plane refuses this batch as such: retrying it would block every
            # later report. Drop it, loudly.
            self._last_ok = time.monotonic()
            log.error("control plane refused %d report(s) (%d): %s", len(batch), status,
                      response.text[:500])  # fmt: skip
            return True
        return self._failed(f"HTTP {status}")

    def _failed(self, why: str) -> bool:
        self._fail_over(why)
        silent = time.monotonic() - self._last_ok
        log.warning("control plane unreachable for %.1f s (%s)", silent, why)
        if silent >= self._grace:
            self.lost_reason = "unreachable"
            self.lost.set()
        return False

    def _gone(self, status: int) -> None:
        log.error("control plane answered %d: this bot is gone", status)
        self.lost_reason = f"http_{status}"
        self.lost.set()

    async def picture(self, key: str) -> bytes:
        """The bot's picture ``key`` (``Commands.camera``), read through the control plane."""
        response = await self._client.get(
            self._url("camera"), params={"key": key}, headers=self._headers, timeout=30
        )
        response.raise_for_status()
        return response.content

    async def clip(self, key: str) -> bytes:
        """A clip to say ``key`` (``Commands.output_audio``), read through the control plane."""
        response = await self._client.get(
            self._url("output_audio"), params={"key": key}, headers=self._headers, timeout=30
        )
        response.raise_for_status()
        return response.content

    def _take_commands(self, response: httpx.Response) -> None:
        try:
            commands = Commands.model_validate_json(response.content)
        except ValidationError:
            return
        self.camera = commands.camera
        self.output_audio = commands.output_audio
        for command in commands.all():  # with pause/resume (the ``paused`` wish)
            self.commands.put_nowait(command)
