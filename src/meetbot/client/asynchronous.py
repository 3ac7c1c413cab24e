"""``AsyncMeetbot``: :class:`~meetbot.client.sync.Meetbot` with ``await`` (httpx's async
client); the same :class:`~.endpoints.Call` per method, the same retries and models."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from meetbot.client import endpoints as api
from meetbot.client import models
from meetbot.client.calendars import AsyncCalendars
from meetbot.client.connection import Connection, check, error_of, retry_after
from meetbot.client.errors import NotReady, WaitTimeout
from meetbot.client.pagination import async_pages
from meetbot.client.retries import RetryPolicy
from meetbot.client.stream import Frame, Resumption, async_frames
from meetbot.client.webhooks import AsyncWebhooks
from meetbot.unset import UNSET, Unset

T = TypeVar("T")
Progress = Callable[[int, int | None], None]
"""Called as a download goes: bytes so far, and the total when the server said it."""


class AsyncMeetbot:
    """``AsyncMeetbot(base_url, api_key)``, by default ``MEETBOT_SERVER`` / ``MEETBOT_API_KEY``.

    ``retry``: how 429/502/503/504/507 answers are retried (``Retry-After`` honoured);
    ``sleep``: how the client waits (between retries and polls)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = Connection.resolve(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.connection.base_url,
            headers=self.connection.headers(),
            timeout=timeout,
            transport=transport,
        )
        self.bots = Bots(self)
        self.webhooks = AsyncWebhooks(self)
        self.events = Events(self)
        self.credentials = Credentials(self)
        self.calendars = AsyncCalendars(self)

    async def send(self, call: api.Call[T]) -> T:
        """Send ``call`` (retried by :attr:`retry`) and read its answer, or raise its error."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=call.params,
                    json=call.json,
                    content=call.content,
                    headers=call.headers,
                )
            except httpx.ConnectError:
                if attempt >= self.retry.max_retries:
                    raise
                await self.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            if not self.retry.retries(response.status_code) or attempt >= self.retry.max_retries:
                return call.read(check(response))
            await self.sleep(self.retry.delay(attempt, retry_after(response)))
            attempt += 1

    def stream(
        self,
        bot_id: str,
        *,
        audio: api.StreamAudio | None = None,
        after: str | None = None,
    ) -> AsyncIterator[Frame]:
        """The bot's events as they happen (``GET /api/v1/bot/{id}/stream``), from its first
        or after the cursor ``after``; with ``audio="mixed"`` its audio too. Reconnects when
        the connection drops; ends after the bot's terminal status (see
        :mod:`meetbot.client.stream`)."""
        state = Resumption(self.connection, self.retry, bot_id, audio, after)
        return async_frames(state, self.sleep, self._timeout)

    async def stream_token(self, bot_id: str) -> models.StreamToken:
        """A short-lived ``?token=`` for the bot's stream, for a browser's WebSocket."""
        return await self.send(api.stream_token(bot_id))

    async def capacity(
        self, start: api.When | None = None, end: api.When | None = None, step: int | None = None
    ) -> models.Capacity:
        """What is booked, step by step (``GET /api/v1/capacity/``)."""
        return await self.send(api.capacity(start, end, step))

    async def download(
        self, url: str, dest: Path | BinaryIO, progress: Progress | None = None
    ) -> int:
        """Stream a signed media link into ``dest`` (a path or a binary file); the bytes written.
        Sent without the API key: signed links need none (and may point at another host)."""
        plain = httpx.AsyncClient(timeout=self._timeout)
        async with plain, plain.stream("GET", url) as response:
            if not response.is_success:
                await response.aread()
                raise error_of(response)
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            done = 0
            out = dest.open("wb") if isinstance(dest, Path) else dest
            try:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            finally:
                if isinstance(dest, Path):
                    out.close()
        return done

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMeetbot:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


class Bots:
    def __init__(self, client: AsyncMeetbot) -> None:
        self._c = client

    async def create(
        self,
        meeting_url: str,
        *,
        bot_name: str | None = None,
        join_at: api.When | None = None,
        expected_duration: int | None = None,
        metadata: Mapping[str, str] | None = None,
        stop_options: Mapping[str, int] | None = None,
        transcription_model: str | None = None,
        recording: Mapping[str, Any] | None = None,
        deduplication_key: str | None = None,
        webhook_url: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        service: str | None = None,
        bot_image: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.Bot:
        """Send a bot (``POST /api/v1/bot/``). An ``Idempotency-Key`` is made when none is
        given, so a retried create is the same bot."""
        body = api.bot_body(
            meeting_url,
            bot_name=bot_name,
            join_at=join_at,
            expected_duration=expected_duration,
            metadata=metadata,
            stop_options=stop_options,
            transcription_model=transcription_model,
            recording=recording,
            deduplication_key=deduplication_key,
            webhook_url=webhook_url,
            credentials=credentials,
            service=service,
            bot_image=bot_image,
        )
        return await self._c.send(api.create_bot(body, idempotency_key))

    def list(
        self,
        *,
        status: str | None = None,
        join_at_after: api.When | None = None,
        join_at_before: api.When | None = None,
        meeting_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[models.Bot]:
        """Every bot that matches, newest first (pages fetched as the iteration goes)."""

        async def fetch(cursor: str | None) -> tuple[builtins.list[models.Bot], str | None]:
            return await self._c.send(
                api.list_bots(
                    cursor,
                    status=status,
                    join_at_after=join_at_after,
                    join_at_before=join_at_before,
                    meeting_url=meeting_url,
                    metadata=metadata,
                    limit=page_size,
                )
            )

        return async_pages(fetch)

    async def get(self, bot_id: str) -> models.Bot:
        return await self._c.send(api.get_bot(bot_id))

    async def update(
        self,
        bot_id: str,
        *,
        bot_name: str | Unset = UNSET,
        meeting_url: str | Unset = UNSET,
        join_at: api.When | Unset | None = UNSET,
        expected_duration: int | Unset | None = UNSET,
        metadata: Mapping[str, str] | Unset | None = UNSET,
        stop_options: Mapping[str, int] | Unset | None = UNSET,
        transcription_model: str | Unset | None = UNSET,
        recording: Mapping[str, Any] | Unset | None = UNSET,
        deduplication_key: str | Unset | None = UNSET,
        webhook_url: str | Unset | None = UNSET,
        credentials: Mapping[str, Any] | Unset | None = UNSET,
    ) -> models.Bot:
        """PATCH the fields named, only those (``None`` is a value: ``webhook_url=None`` drops
        it, ``join_at=None`` makes a scheduled bot join now, ``stop_options=None`` restores the
        defaults)."""
        fields = dict(
            bot_name=bot_name, meeting_url=meeting_url, join_at=join_at,
            expected_duration=expected_duration, metadata=metadata, stop_options=stop_options,
            transcription_model=transcription_model, recording=recording,
            deduplication_key=deduplication_key, webhook_url=webhook_url, credentials=credentials,
        )  # fmt: skip
        return await self._c.send(api.update_bot(bot_id, fields))

    async def delete(self, bot_id: str) -> None:
        """Delete a bot not dispatched yet (a dispatched one: ``MethodNotAllowed``, use leave)."""
        await self._c.send(api.delete_bot(bot_id))

    async def leave(self, bot_id: str) -> models.Bot:
        """Remove the bot from its call (or cancel it before it joins)."""
        return await self._c.send(api.leave_call(bot_id))

    async def transcript(self, bot_id: str) -> models.Transcript:
        return await self._c.send(api.transcript(bot_id))

    async def transcript_text(self, bot_id: str, fmt: api.TranscriptFormat = "txt") -> str:
        """The transcript as ``txt``, ``srt`` or ``vtt`` text."""
        return await self._c.send(api.transcript_text(bot_id, fmt))

    async def recording(self, bot_id: str) -> models.Recording:
        """The recording's facts and signed link (``NotReady`` until it exists)."""
        return await self._c.send(api.recording(bot_id))

    async def download_recording(
        self,
        bot_id: str,
        dest: Path | str | BinaryIO,
        *,
        video: bool = False,
        progress: Progress | None = None,
    ) -> models.Recording:
        """Save the recording (or its video) to ``dest``; its facts are returned."""
        rec = await self.recording(bot_id)
        media = rec.video if video else rec
        if media is None:
            raise NotReady(404, "not_ready", f"Bot {bot_id} has no video (recording.video off).")
        await self._c.download(media.url, Path(dest) if isinstance(dest, str) else dest, progress)
        return rec

    async def participants(self, bot_id: str) -> builtins.list[models.Participant]:
        return await self._c.send(api.participants(bot_id))

    async def debug_artifacts(self, bot_id: str) -> builtins.list[models.DebugArtifact]:
        return await self._c.send(api.debug_artifacts(bot_id))

    async def delete_data(self, bot_id: str) -> None:
        """Remove the bot's media and transcript (the bot and its history stay)."""
        await self._c.send(api.delete_data(bot_id))

    async def send_chat_message(
        self, bot_id: str, message: str, *, to: str = "everyone"
    ) -> models.ChatSent:
        """Queue a message for the meeting's chat (``to``: ``everyone`` or a participant id);
        the ``chat.message`` event with ``from_bot`` and this ``id`` says it was sent."""
        return await self._c.send(api.send_chat_message(bot_id, message, to))

    async def chat(self, bot_id: str) -> builtins.list[models.ChatMessage]:
        """The meeting's chat as the bot read it, oldest first."""
        return await self._c.send(api.chat(bot_id))

    async def pause_recording(self, bot_id: str) -> models.Bot:
        """Stop recording and transcribing for a while; the bot stays in the call."""
        return await self._c.send(api.pause_recording(bot_id))

    async def resume_recording(self, bot_id: str) -> models.Bot:
        return await self._c.send(api.resume_recording(bot_id))

    async def output_video(self, bot_id: str, bot_image: str) -> models.Bot:
        """Show another picture as the bot's camera (base64 PNG/JPEG or an https URL)."""
        return await self._c.send(api.output_video(bot_id, bot_image))

    async def output_audio(
        self,
        bot_id: str,
        audio: api.AudioSource | None = None,
        *,
        text: str | None = None,
        voice: str | None = None,
        interrupt: bool = False,
    ) -> models.AudioQueued:
        """Make the bot say an audio file (WAV, MP3, Ogg, WebM: bytes, a path or a binary
        file) or ``text=`` (espeak-ng's ``voice``, e.g. ``en-gb``) in the call; queued after
        what plays, or at once with ``interrupt=True``."""
        return await self._c.send(api.output_audio(bot_id, audio, text, voice, interrupt))

    async def stop_output_audio(self, bot_id: str) -> None:
        """Stop what the bot says and drop what is queued; the bot mutes."""
        await self._c.send(api.stop_output_audio(bot_id))

    async def wait(
        self,
        bot_id: str,
        until: models.Until = None,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
    ) -> models.Bot:
        """Poll the bot until :func:`~meetbot.client.models.reached` (``until``: a status, a
        few, a predicate; None: until it ended); a bot that ended is returned whatever
        ``until`` was. :class:`WaitTimeout` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            bot = await self.get(bot_id)
            if models.reached(bot, until):
                return bot
            if time.monotonic() >= deadline:
                raise WaitTimeout(bot_id, bot.status, timeout)
            await self._c.sleep(interval)


class Events:
    def __init__(self, client: AsyncMeetbot) -> None:
        self._c = client

    async def page(self, after: str | None = None, *, limit: int | None = None) -> models.EventPage:
        """One page of the workspace's events after the cursor, oldest first."""
        return await self._c.send(api.events(after, limit))

    def list(self, after: str | None = None) -> AsyncIterator[models.Event]:
        """Every event after ``after`` there is now, oldest first."""

        async def fetch(cursor: str | None) -> tuple[builtins.list[models.Event], str | None]:
            page = await self.page(cursor)
            return page.results, page.next

        return async_pages(fetch, after)


class Credentials:
    def __init__(self, client: AsyncMeetbot) -> None:
        self._c = client

    async def get(self) -> models.CredentialFlags:
        return await self._c.send(api.get_credentials())

    async def put(self, credentials: Mapping[str, Any]) -> models.CredentialFlags:
        """Replace the workspace's default credentials (the answer: which kinds are set)."""
        return await self._c.send(api.put_credentials(credentials))

    async def delete(self) -> None:
        await self._c.send(api.delete_credentials())
