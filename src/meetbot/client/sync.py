"""``Meetbot``: the blocking client (httpx). Every method sends one :class:`~.endpoints.Call`;
:class:`~meetbot.client.asynchronous.AsyncMeetbot` is the same with ``await``."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from meetbot.client import endpoints as api
from meetbot.client import models
from meetbot.client.calendars import Calendars
from meetbot.client.connection import Connection, check, error_of, retry_after
from meetbot.client.errors import NotReady, WaitTimeout
from meetbot.client.pagination import pages
from meetbot.client.retries import RetryPolicy
from meetbot.client.stream import Frame, Resumption, frames
from meetbot.client.webhooks import Webhooks
from meetbot.unset import UNSET, Unset

T = TypeVar("T")
Progress = Callable[[int, int | None], None]
"""Called as a download goes: bytes so far, and the total when the server said it."""


class Meetbot:
    """``Meetbot(base_url, api_key)``; both default to ``MEETBOT_SERVER`` / ``MEETBOT_API_KEY``.

    ``retry``: how 429/502/503/504/507 answers are retried (``Retry-After`` honoured);
    ``sleep``: how the client waits (between retries and polls)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.connection = Connection.resolve(base_url, api_key)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.connection.base_url,
            headers=self.connection.headers(),
            timeout=timeout,
            transport=transport,
        )
        self.bots = Bots(self)
        self.webhooks = Webhooks(self)
        self.events = Events(self)
        self.credentials = Credentials(self)
        self.calendars = Calendars(self)

    def send(self, call: api.Call[T]) -> T:
        """Send ``call`` (retried by :attr:`retry`) and read its answer, or raise its error."""
        attempt = 0
        while True:
            try:
                response = self._http.request(
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
                self.sleep(self.retry.delay(attempt, None))
                attempt += 1
                continue
            if not self.retry.retries(response.status_code) or attempt >= self.retry.max_retries:
                return call.read(check(response))
            self.sleep(self.retry.delay(attempt, retry_after(response)))
            attempt += 1

    def stream(
        self,
        bot_id: str,
        *,
        audio: api.StreamAudio | None = None,
        after: str | None = None,
    ) -> Iterator[Frame]:
        """The bot's events as they happen (``GET /api/v1/bot/{id}/stream``), from its first
        or after the cursor ``after``; with ``audio="mixed"`` its audio too. Reconnects when
        the connection drops; ends after the bot's terminal status (see
        :mod:`meetbot.client.stream`)."""
        state = Resumption(self.connection, self.retry, bot_id, audio, after)
        return frames(state, self.sleep, self._timeout)

    def stream_token(self, bot_id: str) -> models.StreamToken:
        """A short-lived ``?token=`` for the bot's stream, for a browser's WebSocket."""
        return self.send(api.stream_token(bot_id))

    def capacity(
        self, start: api.When | None = None, end: api.When | None = None, step: int | None = None
    ) -> models.Capacity:
        """What is booked, step by step (``GET /api/v1/capacity/``)."""
        return self.send(api.capacity(start, end, step))

    def download(self, url: str, dest: Path | BinaryIO, progress: Progress | None = None) -> int:
        """Stream a signed media link into ``dest`` (a path or a binary file); the bytes written.
        Sent without the API key: signed links need none (and may point at another host)."""
        plain = httpx.Client(timeout=self._timeout)
        with plain, plain.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                raise error_of(response)
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            done = 0
            out = dest.open("wb") if isinstance(dest, Path) else dest
            try:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            finally:
                if isinstance(dest, Path):
                    out.close()
        return done

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Meetbot:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Bots:
    def __init__(self, client: Meetbot) -> None:
        self._c = client

    def create(
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
        return self._c.send(api.create_bot(body, idempotency_key))

    def list(
        self,
        *,
        status: str | None = None,
        join_at_after: api.When | None = None,
        join_at_before: api.When | None = None,
        meeting_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        page_size: int | None = None,
    ) -> Iterator[models.Bot]:
        """Every bot that matches, newest first (pages fetched as the iteration goes)."""

        def fetch(cursor: str | None) -> tuple[builtins.list[models.Bot], str | None]:
            return self._c.send(
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

        return pages(fetch)

    def get(self, bot_id: str) -> models.Bot:
        return self._c.send(api.get_bot(bot_id))

    def update(
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
        return self._c.send(api.update_bot(bot_id, fields))

    def delete(self, bot_id: str) -> None:
        """Delete a bot not dispatched yet (a dispatched one: ``MethodNotAllowed``, use leave)."""
        self._c.send(api.delete_bot(bot_id))

    def leave(self, bot_id: str) -> models.Bot:
        """Remove the bot from its call (or cancel it before it joins)."""
        return self._c.send(api.leave_call(bot_id))

    def transcript(self, bot_id: str) -> models.Transcript:
        return self._c.send(api.transcript(bot_id))

    def transcript_text(self, bot_id: str, fmt: api.TranscriptFormat = "txt") -> str:
        """The transcript as ``txt``, ``srt`` or ``vtt`` text."""
        return self._c.send(api.transcript_text(bot_id, fmt))

    def recording(self, bot_id: str) -> models.Recording:
        """The recording's facts and signed link (``NotReady`` until it exists)."""
        return self._c.send(api.recording(bot_id))

    def download_recording(
        self,
        bot_id: str,
        dest: Path | str | BinaryIO,
        *,
        video: bool = False,
        progress: Progress | None = None,
    ) -> models.Recording:
        """Save the recording (or its video) to ``dest``; its facts are returned."""
        rec = self.recording(bot_id)
        media = rec.video if video else rec
        if media is None:
            raise NotReady(404, "not_ready", f"Bot {bot_id} has no video (recording.video off).")
        self._c.download(media.url, Path(dest) if isinstance(dest, str) else dest, progress)
        return rec

    def participants(self, bot_id: str) -> builtins.list[models.Participant]:
        return self._c.send(api.participants(bot_id))

    def debug_artifacts(self, bot_id: str) -> builtins.list[models.DebugArtifact]:
        return self._c.send(api.debug_artifacts(bot_id))

    def delete_data(self, bot_id: str) -> None:
        """Remove the bot's media and transcript (the bot and its history stay)."""
        self._c.send(api.delete_data(bot_id))

    def send_chat_message(
        self, bot_id: str, message: str, *, to: str = "everyone"
    ) -> models.ChatSent:
        """Queue a message for the meeting's chat (``to``: ``everyone`` or a participant id);
        the ``chat.message`` event with ``from_bot`` and this ``id`` says it was sent."""
        return self._c.send(api.send_chat_message(bot_id, message, to))

    def chat(self, bot_id: str) -> builtins.list[models.ChatMessage]:
        """The meeting's chat as the bot read it, oldest first."""
        return self._c.send(api.chat(bot_id))

    def pause_recording(self, bot_id: str) -> models.Bot:
        """Stop recording and transcribing for a while; the bot stays in the call."""
        return self._c.send(api.pause_recording(bot_id))

    def resume_recording(self, bot_id: str) -> models.Bot:
        return self._c.send(api.resume_recording(bot_id))

    def output_video(self, bot_id: str, bot_image: str) -> models.Bot:
        """Show another picture as the bot's camera (base64 PNG/JPEG or an https URL)."""
        return self._c.send(api.output_video(bot_id, bot_image))

    def output_audio(
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
        return self._c.send(api.output_audio(bot_id, audio, text, voice, interrupt))

    def stop_output_audio(self, bot_id: str) -> None:
        """Stop what the bot says and drop what is queued; the bot mutes."""
        self._c.send(api.stop_output_audio(bot_id))

    def wait(
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
            bot = self.get(bot_id)
            if models.reached(bot, until):
                return bot
            if time.monotonic() >= deadline:
                raise WaitTimeout(bot_id, bot.status, timeout)
            self._c.sleep(interval)


class Events:
    def __init__(self, client: Meetbot) -> None:
        self._c = client

    def page(self, after: str | None = None, *, limit: int | None = None) -> models.EventPage:
        """One page of the workspace's events after the cursor, oldest first."""
        return self._c.send(api.events(after, limit))

    def list(self, after: str | None = None) -> Iterator[models.Event]:
        """Every event after ``after`` there is now, oldest first."""
        return pages(lambda cursor: _feed(self.page(cursor)), after)


def _feed(page: models.EventPage) -> tuple[builtins.list[models.Event], str | None]:
    return page.results, page.next


class Credentials:
    def __init__(self, client: Meetbot) -> None:
        self._c = client

    def get(self) -> models.CredentialFlags:
        return self._c.send(api.get_credentials())

    def put(self, credentials: Mapping[str, Any]) -> models.CredentialFlags:
        """Replace the workspace's default credentials (the answer: which kinds are set)."""
        return self._c.send(api.put_credentials(credentials))

    def delete(self) -> None:
        self._c.send(api.delete_credentials())
