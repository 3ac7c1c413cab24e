"""``stream(bot_id)``: a bot's real-time WebSocket (``GET /api/v1/bot/{id}/stream``) as an
iterator of typed frames, for both clients.

Each JSON text frame is a :class:`~.models.StreamEvent` (the event and its ``cursor``); with
``audio="mixed"`` binary frames come too, as :class:`AudioChunk` (16 kHz mono s16le PCM); with
``audio="separate"``, as :class:`ParticipantAudio` (whose, from when, the PCM). When
the connection drops (a proxy, a server restart, a network hiccup) the iterator reconnects with
``?after=<the last cursor>``, so no event is lost or repeated (audio of the gap is not resent),
at most ``retry.max_retries`` times in a row (:class:`~.errors.StreamLost` after that). It ends
when the server closes the socket normally (1000), which it does after the bot's terminal
status. A refused handshake raises the route's :class:`~.errors.ApiError` (401, 404, 400), as
any other call; a 429/503 refusal is retried like one.

The websockets package is the driver, imported here only.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect as sync_connect

from meetbot.client import endpoints as api
from meetbot.client.connection import USER_AGENT, Connection
from meetbot.client.errors import ApiError, StreamLost, error_from
from meetbot.client.models import StreamEvent
from meetbot.client.retries import RetryPolicy, parse_retry_after

NORMAL_CLOSURE = 1000
MAX_FRAME = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A binary frame of ``audio="mixed"``: the call's mixed audio, 16 kHz mono s16le."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class ParticipantAudio:
    """A binary frame of ``audio="separate"``: one participant's own audio (16 kHz mono s16le)
    starting ``offset_s`` seconds into the recording (the frame's header, see docs/api.md)."""

    participant_id: str
    offset_s: float
    pcm: bytes

    @classmethod
    def parse(cls, frame: bytes) -> ParticipantAudio:
        n = int.from_bytes(frame[:2], "big")
        offset_ms = int.from_bytes(frame[2 + n : 6 + n], "big")
        return cls(frame[2 : 2 + n].decode(), offset_ms / 1000, frame[6 + n :])


Frame = StreamEvent | AudioChunk | ParticipantAudio

_DROPPED = (ConnectionClosed, InvalidHandshake, OSError, TimeoutError)
"""What makes the iterator reconnect (an :class:`InvalidStatus` is decided by its status)."""


class Resumption:
    """Where a stream is: the URL to (re)connect to, the last cursor, the failures in a row.
    No I/O: the two loops below do it and ask this what comes next."""

    def __init__(
        self,
        connection: Connection,
        retry: RetryPolicy,
        bot_id: str,
        audio: api.StreamAudio | None = None,
        after: str | None = None,
    ) -> None:
        self.connection = connection
        self.retry = retry
        self.bot_id = bot_id
        self.audio = audio
        self.after = after
        self.failures = 0

    def url(self) -> str:
        base = urlsplit(self.connection.base_url)
        scheme = "wss" if base.scheme == "https" else "ws"
        path = base.path.rstrip("/") + api.stream_path(self.bot_id)
        query = urlencode(api.stream_params(self.after, self.audio))
        return urlunsplit((scheme, base.netloc, path, query, ""))

    def headers(self) -> dict[str, str]:
        return {k: v for k, v in self.connection.headers().items() if k != "User-Agent"}

    def frame(self, message: str | bytes) -> Frame:
        """The frame received; its cursor is where a reconnection resumes."""
        self.failures = 0
        if isinstance(message, bytes):
            if self.audio == "separate":
                return ParticipantAudio.parse(message)
            return AudioChunk(message)
        event = StreamEvent.model_validate(json.loads(message))
        self.after = event.cursor
        return event

    def ended(self, error: BaseException) -> bool:
        """Whether a closed connection is the stream's end (the server's normal close)."""
        if not isinstance(error, ConnectionClosed):
            return False
        return error.rcvd is not None and error.rcvd.code == NORMAL_CLOSURE

    def wait_before_retry(self, error: BaseException) -> float:
        """Seconds to wait before reconnecting after ``error``; raises when it is final: a
        refusal that is not retried or is past the limit (its :class:`~.errors.ApiError`, as
        ``send`` would), or too many failures in a row (:class:`~.errors.StreamLost`)."""
        retry_after = None
        if isinstance(error, InvalidStatus):
            refusal = refused(error)
            if not self.retry.retries(refusal.status) or self.failures >= self.retry.max_retries:
                raise refusal
            retry_after = refusal.retry_after
        if self.failures >= self.retry.max_retries:
            raise StreamLost(self.bot_id, self.failures) from error
        delay = self.retry.delay(self.failures, retry_after)
        self.failures += 1
        return delay


def refused(error: InvalidStatus) -> ApiError:
    """The handshake's refusal as the API's error (its ``{code, detail}`` body)."""
    response = error.response
    try:
        body = json.loads(response.body or b"")
    except ValueError:
        body = (response.body or b"").decode("utf-8", "replace")
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return error_from(response.status_code, body, retry_after)


def frames(state: Resumption, sleep: Callable[[float], None], timeout: float) -> Iterator[Frame]:
    """The blocking client's stream (see the module's docstring)."""
    while True:
        try:
            with sync_connect(
                state.url(),
                additional_headers=state.headers(),
                user_agent_header=USER_AGENT,
                open_timeout=timeout,
                max_size=MAX_FRAME,
            ) as socket:
                while True:
                    yield state.frame(socket.recv())
        except _DROPPED as error:
            if state.ended(error):
                return
            delay = state.wait_before_retry(error)
        sleep(delay)


async def async_frames(
    state: Resumption, sleep: Callable[[float], Awaitable[None]], timeout: float
) -> AsyncIterator[Frame]:
    """The async client's stream (see the module's docstring)."""
    while True:
        try:
            async with async_connect(
                state.url(),
                additional_headers=state.headers(),
                user_agent_header=USER_AGENT,
                open_timeout=timeout,
                max_size=MAX_FRAME,
            ) as socket:
                while True:
                    yield state.frame(await socket.recv())
        except _DROPPED as error:
            if state.ended(error):
                return
            delay = state.wait_before_retry(error)
        await sleep(delay)
