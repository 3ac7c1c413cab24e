"""AssemblyAI streaming (v3) with the user's own key: live segments while the call goes on.

One WebSocket per bot: ``{streaming}/v3/ws?sample_rate=16000&encoding=pcm_s16le&speech_model=…
&format_turns=true`` with ``Authorization: <key>``. The server answers ``Begin``; the call's
16 kHz PCM goes up as binary frames of 50 to 1000 ms (AssemblyAI closes the session with code
3007 otherwise) and no faster than real time (``max_lead`` seconds ahead at most, also a 3007);
``Turn`` messages come back. A turn is committed once it has ended (``end_of_turn``) and is
formatted (``turn_is_formatted``), or when a later turn begins without its formatted version.
Word times are milliseconds from the start of the stream. At the end the client sends
``{"type": "Terminate"}`` and the server answers ``Termination`` and closes (1000).

AssemblyAI ends a session after 3 hours (close code 3008): live stops there for the bot and the
rest is transcribed after the call, like any other failure of the session.

A close with code 1008 ("Unauthorized Connection", or an HTTP 401/403 at the handshake) is a
:class:`~meetbot.transcription.vendors.base.VendorAuthError`; any other failure a
:class:`~meetbot.transcription.vendors.base.VendorError`. The connection honours the same
environment proxy settings (``HTTPS_PROXY``, ``NO_PROXY``) as the vendors' HTTP calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from meetbot.contract.models import Segment, Word
from meetbot.transcription.segments import clean_text, monotonic_words
from meetbot.transcription.vendors.assemblyai import DEFAULT_BASE_URL
from meetbot.transcription.vendors.base import (
    UNAVAILABLE,
    VENDOR_ERROR,
    VendorAuthError,
    VendorError,
)

VENDOR: Final = "assemblyai"
SAMPLE_RATE: Final = 16_000
DEFAULT_STREAMING_MODEL: Final = "universal-streaming-multilingual"
"""Used when the bot's model is a pre-recorded one (``universal-2``, ...)."""
_ALIASES: Final = {"universal-streaming": "universal-streaming-english"}
_NATIVE: Final = frozenset(
    {"universal-streaming-english", "universal-streaming-multilingual", "u3-rt-pro", "whisper-rt"}
)
MIN_FRAME: Final = 0.05
MAX_FRAME: Final = 1.0
AUTH_CLOSE: Final = 1008


def streaming_url(base_url: str | None) -> str:
    """The streaming endpoint that goes with a REST base URL: ``https://api.X`` →
    ``wss://streaming.X`` (AssemblyAI's hosts, EU included); another host keeps its name."""
    parts = urlsplit((base_url or DEFAULT_BASE_URL).rstrip("/"))
    scheme = "ws" if parts.scheme in ("http", "ws") else "wss"
    host = parts.netloc
    if host.startswith("api."):
        host = "streaming." + host.removeprefix("api.")
    return urlunsplit((scheme, host, parts.path, "", ""))


def streaming_model(model: str | None) -> str:
    """AssemblyAI's streaming ``speech_model`` for a bot's model id."""
    if model in _ALIASES:
        return _ALIASES[model]
    return model if model in _NATIVE else DEFAULT_STREAMING_MODEL


class AssemblyAIStream:
    """A live decoder: ``await feed(pcm)`` returns newly committed segments; ``await aclose()``
    ends the session. Use from one task at a time (the media worker's per-bot task)."""

    def __init__(
        self,
        api_key: str,
        model: str | None = None,
        *,
        url: str | None = None,
        language: str | None = None,
        start_time: float = 0.0,
        max_lead: float | None = 1.0,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api_key = api_key
        self.model = streaming_model(model)
        self.url = (url or streaming_url(None)).rstrip("/")
        self.language = language
        self.start_time = start_time
        self.max_lead = max_lead
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self._clock = clock
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._error: VendorError | None = None
        self._buffer = b""
        self._sent = 0
        """Samples sent."""
        self._fed = 0
        """Samples fed (sent or buffered)."""
        self._started = 0.0
        self._committed: list[Segment] = []
        self._unformatted: dict[int, Segment] = {}
        self._last_order = -1
        self._committed_until = start_time
        self.session_id: str | None = None

    # --- the live decoder's interface -----------------------------------------------------

    @property
    def window_end(self) -> float:
        """Timeline position of the end of the audio fed so far."""
        return self.start_time + self._fed / SAMPLE_RATE

    @property
    def committed_until(self) -> float:
        """End of the last committed turn (the tail pass after the call starts here)."""
        return self._committed_until

    def query(self) -> dict[str, str]:
        params = {
            "sample_rate": str(SAMPLE_RATE),
            "encoding": "pcm_s16le",
            "speech_model": self.model,
            "format_turns": "true",
        }
        if self.model == "universal-streaming-multilingual" and not self.language:
            params["language_detection"] = "true"
        return params

    async def feed(self, chunk: bytes) -> list[Segment]:
        """Send little-endian int16 mono 16 kHz PCM; returns the turns committed since the
        last call. Raises :class:`VendorError` once the session has failed."""
        self._raise_if_failed()
        if self._ws is None:
            await self._open()
        chunk = chunk[: len(chunk) - len(chunk) % 2]
        self._buffer += chunk
        self._fed += len(chunk) // 2
        await self._send_buffered()
        await asyncio.sleep(0)  # let the reader take what has arrived
        self._raise_if_failed()
        return self._take()

    async def aclose(self) -> None:
        """Terminate the session (waits ``close_timeout`` at most for ``Termination``)."""
        ws, self._ws = self._ws, None
        if ws is None:
            return
        with contextlib.suppress(ConnectionClosed, OSError):
            await ws.send(json.dumps({"type": "Terminate"}))
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader), self.close_timeout)
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await ws.close()

    # --- internals ------------------------------------------------------------------------

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    async def _open(self) -> None:
        url = f"{self.url}/v3/ws?{urlencode(self.query())}"
        try:
            ws = await connect(
                url,
                additional_headers={"Authorization": self._api_key},
                open_timeout=self.open_timeout,
                close_timeout=self.close_timeout,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise VendorAuthError(VENDOR, f"HTTP {status}", status_code=status) from exc
            raise VendorError(VENDOR, f"HTTP {status}", sub_code=UNAVAILABLE) from exc
        except (OSError, TimeoutError) as exc:
            raise VendorError(VENDOR, f"{type(exc).__name__}: {exc}", sub_code=UNAVAILABLE) from exc
        try:
            begin = json.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
        except ConnectionClosed as exc:
            await ws.close()
            raise _closed_error(exc) from exc
        except (TimeoutError, ValueError) as exc:
            await ws.close()
            raise VendorError(VENDOR, "no Begin message", sub_code=VENDOR_ERROR) from exc
        if not isinstance(begin, Mapping) or begin.get("type") != "Begin":
            await ws.close()
            raise VendorError(VENDOR, f"expected Begin, got {begin!r:.100}", sub_code=VENDOR_ERROR)
        self.session_id = str(begin.get("id") or "")
        self._ws = ws
        self._started = self._clock()
        self._reader = asyncio.create_task(self._read(ws), name="assemblyai-stream")

    async def _send_buffered(self) -> None:
        ws = self._ws
        assert ws is not None
        size = len(self._buffer) // 2
        if size < MIN_FRAME * SAMPLE_RATE:
            return  # too short for a frame: wait for more
        frames = math.ceil(size / (MAX_FRAME * SAMPLE_RATE))
        per = math.ceil(size / frames)
        for i in range(frames):
            frame = self._buffer[2 * per * i : 2 * per * (i + 1)]
            await self._pace(len(frame) // 2)
            try:
                await ws.send(frame)
            except ConnectionClosed as exc:
                self._error = self._error or _closed_error(exc)
                raise self._error from exc
            self._sent += len(frame) // 2
        self._buffer = b""

    async def _pace(self, samples: int) -> None:
        if self.max_lead is None:
            return
        ahead = (self._sent + samples) / SAMPLE_RATE - (self._clock() - self._started)
        if ahead > self.max_lead:
            await asyncio.sleep(ahead - self.max_lead)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, Mapping) and message.get("type") == "Turn":
                    self._on_turn(message)
        except ConnectionClosed as exc:
            self._error = _closed_error(exc)
        except VendorError as exc:  # an unreadable Turn: the session is of no further use
            self._error = exc
            await ws.close()

    def _on_turn(self, turn: Mapping[str, Any]) -> None:
        order = turn.get("turn_order")
        if not isinstance(order, int) or isinstance(order, bool):
            return
        if order > self._last_order:
            for earlier in sorted(o for o in self._unformatted if o < order):
                self._commit(self._unformatted.pop(earlier))
            self._last_order = order
        if turn.get("end_of_turn") is not True:
            return
        segment = turn_segment(turn, self.start_time, (self._committed_until, self.window_end))
        if segment is None:
            self._unformatted.pop(order, None)
        elif turn.get("turn_is_formatted") is True:
            self._unformatted.pop(order, None)
            self._commit(segment)
        else:
            self._unformatted[order] = segment

    def _commit(self, segment: Segment) -> None:
        self._committed.append(segment)
        self._committed_until = max(self._committed_until, segment.end)

    def _take(self) -> list[Segment]:
        out, self._committed = self._committed, []
        return out


def turn_segment(
    turn: Mapping[str, Any], start_time: float = 0.0, span: tuple[float, float] = (0.0, 0.0)
) -> Segment | None:
    """The segment of an ended ``Turn`` message (``None`` when it has no text); a turn without
    words spans ``span``."""
    text = clean_text(str(turn.get("transcript") or ""))
    if not text:
        return None
    raw = turn.get("words")
    words = monotonic_words(
        Word(
            _seconds(w.get("start")) + start_time,
            _seconds(w.get("end")) + start_time,
            str(w.get("text") or ""),
        )
        for w in (raw if isinstance(raw, Sequence) else ())
        if isinstance(w, Mapping)
    )
    if not words:
        return Segment(span[0], max(span), text)
    return Segment(words[0].start, words[-1].end, text, words)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise VendorError(VENDOR, "Turn word time is not a number", sub_code=VENDOR_ERROR)
    return float(value) / 1000.0


def _closed_error(exc: ConnectionClosed) -> VendorError:
    close = exc.rcvd
    code = close.code if close is not None else None
    reason = (close.reason if close is not None else "") or "connection closed"
    if code == AUTH_CLOSE:
        return VendorAuthError(VENDOR, reason, status_code=code)
    return VendorError(VENDOR, f"{code}: {reason}", sub_code=VENDOR_ERROR, status_code=code)
