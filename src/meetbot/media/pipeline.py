"""The media worker: bots that left their call get a recording, then a transcript, then end.

``processing``: the chunks are joined into ``bots/<id>/recording.<fmt>``, its metadata stored
(``recording.json``) and ``recording.ready`` emitted with the status change: ``Finish`` for model
``none``, else ``Processed`` (→ ``transcribing``). A bot that wrote no audio at all ends
``finished`` with no recording and no ``recording.ready`` (``GET .../recording/`` stays 404).

``transcribing``: only the tail that live transcription has not committed (all of it when there
was none) is transcribed, in the shared :class:`~meetbot.media.pool.TranscriptionPool`; the live
and tail segments are merged, speakers are attributed from the bot's ``speaking`` (else
``caption``) observations, ``transcript.json`` is rewritten ``final`` and ``transcript.ready`` is
emitted with ``Finish``. A vendor model uses the bot's own key, else its workspace's, else the
server's (:mod:`meetbot.service.credentials`). A vendor refusing its key (or no key at all) ends
the bot ``invalid_api_key``; any other
transcription error ends it ``failed`` (the vendor's ``sub_code``, else
``transcription_failed``). The recording stays in both cases.

``failed`` (e.g. ``bot_process_lost``): chunks left by a runner that died are still joined into a
recording (salvage, no status change) and ``recording.ready`` says ``"salvaged": true``.

Every step is safe to repeat: work is found again by a periodic scan after a restart, stored
documents are reused, and the status change and its event commit together, once. (Several
control-plane replicas may both work on one bot; the loser's status change is refused, but a
``recording.ready`` may then be emitted twice. Row leases would fix it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any

from meetbot import lifecycle
from meetbot.errors import CredentialsUnreadable
from meetbot.lifecycle import Status
from meetbot.media.artifacts import (
    TranscriptDoc,
    load_recording_meta,
    load_transcript,
    recording_view,
    save_recording_meta,
    save_transcript,
)
from meetbot.media.live import LiveTranscription
from meetbot.media.participants import TIMELINE_TYPES, recording_origin, speaker_intervals
from meetbot.media.pool import TranscriptionPool
from meetbot.media.transcribers import MissingApiKey, TranscriberFor, VendorCredentials
from meetbot.models import Bot, Segment
from meetbot.ports import Storage, Transcriber
from meetbot.recording import (
    FORMATS,
    SAMPLE_RATE,
    NoAudio,
    RecordingFailed,
    RecordingFormat,
    RecordingInfo,
    assemble_recording,
    load_pcm,
)
from meetbot.service import Services
from meetbot.service.core import emit, try_transition
from meetbot.service.credentials import UNREADABLE, vendor_keys
from meetbot.transcription.models import Engine, validate_model
from meetbot.transcription.segments import attribute_speakers, normalize_segments
from meetbot.transcription.vendors.base import VendorAuthError, VendorError
from meetbot.webhooks import outbox

log = logging.getLogger("meetbot.media")

TRANSCRIPTION_FAILED = "transcription_failed"
RECORDING_FAILED = "recording_failed"
PROCESSING_FAILED = "processing_failed"
MISSING_API_KEY = "missing_api_key"


class MediaPipeline:
    """Named tasks ``media:scan`` and ``media:worker-N``, one stop event, a bounded drain."""

    def __init__(
        self,
        services: Services,
        storage: Storage,
        transcriber_for: TranscriberFor,
        *,
        pool: TranscriptionPool | None = None,
        live: LiveTranscription | None = None,
        scan_interval: float = 10.0,
        salvage_window: float = 3600.0,
        max_attempts: int = 3,
        drain_timeout: float = 30.0,
    ) -> None:
        self.services = services
        self.storage = storage
        self.transcriber_for = transcriber_for
        self.workers = services.settings.transcription_workers
        self.pool = pool or TranscriptionPool(self.workers)
        self.live = live
        self.scan_interval = scan_interval
        self.salvage_window = salvage_window
        self.max_attempts = max_attempts
        self.drain_timeout = drain_timeout
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._failures: dict[str, int] = {}
        self._salvage_seen: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle of the worker ----------------------------------------------------------

    def wake(self, bot_id: str) -> None:
        """Queue a bot (the ``Services.on_processing`` hook). Call on the event loop."""
        if bot_id not in self._pending:
            self._pending.add(bot_id)
            self._queue.put_nowait(bot_id)

    async def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._scan_loop(), name="media:scan")]
        self._tasks += [
            asyncio.create_task(self._worker(), name=f"media:worker-{n}")
            for n in range(self.workers)
        ]

    async def stop(self) -> None:
        """Stop taking bots; let bots in progress finish for ``drain_timeout`` seconds, then
        cancel them (the next start resumes them from the store)."""
        self._stop.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=self.drain_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.pool.close()

    async def _scan_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.scan()
            except Exception:
                log.exception("media scan failed; retrying in %.1fs", self.scan_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.scan_interval)

    async def _worker(self) -> None:
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            while not self._stop.is_set():
                getting = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    return
                bot_id = getting.result()
                try:
                    await self.process(bot_id)
                finally:
                    self._pending.discard(bot_id)
        finally:
            stopping.cancel()

    async def scan(self) -> int:
        """Queue bots in ``processing``/``transcribing`` and recently failed bots not yet
        checked for salvage; returns how many were queued."""
        svc = self.services
        since = svc.clock.now() - timedelta(seconds=self.salvage_window)
        async with svc.store.transaction(write=False) as tx:
            working = await tx.bots.in_statuses((Status.PROCESSING, Status.TRANSCRIBING))
            failed = await tx.bots.in_statuses((Status.FAILED,))
        recent = {b.id for b in failed if b.updated_at >= since}
        self._salvage_seen &= recent
        ids = [b.id for b in working] + sorted(recent - self._salvage_seen)
        for bot_id in ids:
            self.wake(bot_id)
        return len(ids)

    # --- one bot --------------------------------------------------------------------------

    async def process(self, bot_id: str) -> None:
        """Do whatever the bot's status asks for; errors are counted and retried by the scan
        until ``max_attempts``, then the bot ends ``failed``/``processing_failed``."""
        try:
            bot = await self._get(bot_id)
            if bot is not None and bot.status is Status.PROCESSING:
                await self._finalise_recording(bot)
                bot = await self._get(bot_id)
            if bot is not None and bot.status is Status.TRANSCRIBING:
                await self._transcribe(bot)
            elif bot is not None and bot.status is Status.FAILED:
                await self._salvage(bot)
        except Exception:
            failures = self._failures.get(bot_id, 0) + 1
            self._failures[bot_id] = failures
            log.exception("bot %s: media processing failed (attempt %d)", bot_id, failures)
            if failures >= self.max_attempts:
                await self._end(bot_id, lifecycle.Fail(PROCESSING_FAILED))
        else:
            self._failures.pop(bot_id, None)

    async def _get(self, bot_id: str) -> Bot | None:
        async with self.services.store.transaction(write=False) as tx:
            return await tx.bots.get(bot_id)

    async def _recording(self, bot: Bot) -> RecordingInfo | None:
        """The stored recording, made now from the chunks if need be; ``None``: no audio."""
        info = await load_recording_meta(self.storage, bot.id)
        if info is not None:
            return info
        try:
            info = await assemble_recording(self.storage, bot.id, _format(bot))
        except NoAudio:
            return None
        await save_recording_meta(self.storage, bot.id, info)
        return info

    async def _finalise_recording(self, bot: Bot) -> None:
        if self.live is not None:
            await self.live.close_bot(bot.id)
        try:
            info = await self._recording(bot)
        except RecordingFailed:
            log.exception("bot %s: encoding the recording failed", bot.id)
            await self._end(bot.id, lifecycle.Fail(RECORDING_FAILED))
            return
        transcribe = info is not None and _engine(bot) is not Engine.NONE
        event: lifecycle.Event = lifecycle.Processed() if transcribe else lifecycle.Finish()
        await self._end(bot.id, event, Status.PROCESSING, recording=info)

    async def _transcribe(self, bot: Bot) -> None:
        credentials: VendorCredentials | None = None
        if _engine(bot) in (Engine.DEEPGRAM, Engine.OPENAI):
            try:
                keys = await vendor_keys(self.services, bot)
            except CredentialsUnreadable:
                log.exception("bot %s: its vendor keys do not decrypt", bot.id)
                await self._end(bot.id, lifecycle.Fail(UNREADABLE), Status.TRANSCRIBING)
                return
            credentials = VendorCredentials(
                deepgram_api_key=keys.get("deepgram_api_key"),
                openai_api_key=keys.get("openai_api_key"),
            )
        try:
            transcriber = self.transcriber_for(bot.transcription_model, credentials=credentials)
        except MissingApiKey:
            await self._end(bot.id, lifecycle.RejectApiKey(MISSING_API_KEY), Status.TRANSCRIBING)
            return
        doc = await load_transcript(self.storage, bot.id) or TranscriptDoc()
        if not doc.final and transcriber is not None:
            try:
                doc = await self._final_transcript(bot, transcriber, doc)
            except VendorAuthError as exc:
                log.warning("bot %s: %s", bot.id, exc)
                event: lifecycle.Event = lifecycle.RejectApiKey(exc.sub_code)
                await self._end(bot.id, event, Status.TRANSCRIBING)
                return
            except Exception as exc:
                log.exception("bot %s: transcription failed", bot.id)
                code = exc.sub_code if isinstance(exc, VendorError) else TRANSCRIPTION_FAILED
                await self._end(bot.id, lifecycle.Fail(code), Status.TRANSCRIBING)
                return
            await save_transcript(self.storage, bot.id, doc)
        summary = {
            "segments": len(doc.segments),
            "duration_s": round(doc.committed_until, 3),
            "final": True,
        }
        await self._end(bot.id, lifecycle.Finish(), Status.TRANSCRIBING, transcript=summary)

    async def _final_transcript(
        self, bot: Bot, transcriber: Transcriber, live: TranscriptDoc
    ) -> TranscriptDoc:
        samples = await load_pcm(self.storage, bot.id)
        total = len(samples) / SAMPLE_RATE
        start = min(live.committed_until, total)
        tail = samples[round(start * SAMPLE_RATE) :]
        del samples
        tail_segments: list[Segment] = []
        if len(tail) >= SAMPLE_RATE // 10:
            tail_segments = await self.pool.run(transcriber.transcribe, tail, offset=start)
        live_segments = [dataclasses.replace(s, speaker=None) for s in live.segments]
        async with self.services.store.transaction(write=False) as tx:
            observations = await tx.observations.list(bot.id, TIMELINE_TYPES)
        segments = normalize_segments([*live_segments, *tail_segments])
        origin = recording_origin(observations, _recording_started(bot))
        if origin is not None:
            segments = attribute_speakers(segments, speaker_intervals(observations, origin))
        return TranscriptDoc(tuple(segments), final=True, committed_until=total)

    async def _salvage(self, bot: Bot) -> None:
        self._salvage_seen.add(bot.id)
        if self.live is not None:
            await self.live.close_bot(bot.id)
        if await load_recording_meta(self.storage, bot.id) is not None:
            return
        info = await self._recording(bot)
        if info is None:
            return
        log.info("bot %s: salvaged a %.1f s recording", bot.id, info.duration_s)
        await self._end(bot.id, None, Status.FAILED, recording=info, salvaged=True)

    async def _end(
        self,
        bot_id: str,
        event: lifecycle.Event | None,
        expected: Status | None = None,
        *,
        recording: RecordingInfo | None = None,
        transcript: dict[str, Any] | None = None,
        salvaged: bool = False,
    ) -> None:
        """In one transaction: the ready events and the status change (skipped if the bot is
        no longer in ``expected``, e.g. another replica got there first)."""
        svc = self.services
        now = svc.clock.now()
        async with svc.store.transaction() as tx:
            bot = await tx.bots.get(bot_id, for_update=True)
            if bot is None or (expected is not None and bot.status is not expected):
                return
            if recording is not None:
                view = {k: v for k, v in recording_view(recording).items() if k != "key"}
                if salvaged:
                    view["salvaged"] = True
                await emit(tx, outbox.recording_ready_event(bot, now, view), bot)
            if transcript is not None:
                await emit(tx, outbox.transcript_ready_event(bot, now, transcript), bot)
            if event is not None:
                await try_transition(tx, bot, event, now)
        svc.events_committed()


def _format(bot: Bot) -> RecordingFormat:
    for fmt in FORMATS:
        if fmt == bot.recording.audio_format:
            return fmt
    return "ogg"


def _engine(bot: Bot) -> Engine:
    return validate_model(bot.transcription_model).engine


def _recording_started(bot: Bot) -> datetime | None:
    starts = [c.at for c in bot.status_changes if c.status is Status.RECORDING]
    return starts[-1] if starts else None
