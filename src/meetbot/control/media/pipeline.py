"""The media worker: bots that left their call get a recording, then a transcript, then end.

``processing``: the chunks are joined into ``bots/<id>/recording.<fmt>``, its metadata stored
(``recording.json``) and ``recording.ready`` emitted with the status change: ``Finish`` for model
``none``, else ``Processed`` (→ ``transcribing``). A bot that wrote no audio at all ends
``finished`` with no recording and no ``recording.ready`` (``GET .../recording/`` stays 404).

With ``recording.video``, ``recording.mp4`` is built from the runner's frame chunks and the
same audio at the same time (:mod:`meetbot.control.media.video_file`) and described in
``recording.json``, then the frame chunks are deleted; a video that cannot be made (no frames,
ffmpeg error) is logged and left out, never failing the bot.

While the call goes on, :class:`~meetbot.control.media.segment_recorder.SegmentRecorder`
encodes the recording ~300 s at a time; the recording then reuses those segments (checked
against the spooled chunks) and encodes only the tail and whatever it could not trust.

The chunks are fetched once into a local spool (:func:`~meetbot.control.media.audio_file.spooled`);
while ffmpeg encodes the recording from it, the tail pass already runs (next paragraph), so leave →
``finished`` costs about the longer of the two, not their sum. Its outcome is applied once the
bot is ``transcribing``.

``transcribing``: only the tail that live transcription has not committed (all of it when there
was none) is transcribed, in the shared
:class:`~meetbot.control.media.transcription_pool.TranscriptionPool`; the live and tail segments
are merged, speakers are attributed from the bot's ``speaking`` (else ``caption``) observations,
``transcript.json`` is rewritten ``final`` and ``transcript.ready`` is emitted with ``Finish``. A
vendor model uses the bot's own key, else its workspace's, else the server's
(:mod:`meetbot.control.service.credentials`). A vendor refusing its key (or no key at all) ends the
bot ``invalid_api_key``; any other transcription error ends it ``failed`` (the vendor's
``sub_code``, else ``transcription_failed``). The recording stays in both cases.

``failed`` (e.g. ``bot_process_lost``): chunks left by a runner that died are still joined into a
recording (salvage, no status change) and ``recording.ready`` says ``"salvaged": true``.

Every step is safe to repeat: work is found again by a periodic scan after a restart, stored
documents are reused, and the status change and its event commit together, once: this module
computes and stores the documents, the use cases of :mod:`meetbot.control.service.media` change the
bot. A control
plane works on a bot only under its lease (``media:<bot id>`` in the store's leases, 60 s,
renewed while the work lasts, released after): replicas sharing a database never encode or
transcribe one bot twice, and a replica that dies leaves a lease that expires, so another one
takes the bot over at its next scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import timedelta

from meetbot import logs
from meetbot.contract.lifecycle import Status
from meetbot.contract.media_format import (
    FORMATS,
    RecordingFormat,
    participant_audio_prefix,
    segment_prefix,
    video_prefix,
)
from meetbot.contract.models import Bot
from meetbot.control.media.artifacts import (
    load_recording_meta,
    recording_view,
    save_recording_meta,
    save_transcript,
)
from meetbot.control.media.audio_file import (
    NoAudio,
    RecordingInfo,
    Spool,
    VideoInfo,
    assemble_recording,
    spooled,
)
from meetbot.control.media.drain import drain
from meetbot.control.media.ffmpeg import RecordingFailed
from meetbot.control.media.final_transcript import FinalTranscript, Outcome
from meetbot.control.media.lease import MediaLease
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.segment_recorder import SegmentRecorder
from meetbot.control.media.transcribers import TranscriberFor
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.media.video_file import NoVideo, build_video
from meetbot.control.service import Services
from meetbot.control.service import media as use_cases
from meetbot.control.service.media import MEDIA_WORK, PROCESSING_FAILED, RECORDING_FAILED
from meetbot.ports import Storage
from meetbot.transcription.models import Engine, validate_model

log = logging.getLogger("meetbot.control.media")


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
        segments: SegmentRecorder | None = None,
        scan_interval: float = 10.0,
        salvage_window: float = 3600.0,
        max_attempts: int = 3,
        drain_timeout: float = 30.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self.services = services
        self.storage = storage
        self.transcriber_for = transcriber_for
        self.workers = services.settings.transcription_workers
        self.pool = pool or TranscriptionPool(self.workers)
        self.final = FinalTranscript(services, storage, transcriber_for, self.pool)
        self.live = live
        self.segments = segments
        self.scan_interval = scan_interval
        self.salvage_window = salvage_window
        self.max_attempts = max_attempts
        self.drain_timeout = drain_timeout
        self.lease = MediaLease(services, lease_seconds)
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pending: set[str] = set()
        self._failures: dict[str, int] = {}
        self._salvage_seen: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle of the worker ----------------------------------------------------------

    def wake(self, bot_id: str) -> None:
        """Queue a bot (subscribed to the ``processing_started`` reaction). Call on the event
        loop."""
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
        await drain(self._tasks, self.drain_timeout)
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
            working = await tx.bots.in_statuses(MEDIA_WORK)
            failed = await tx.bots.in_statuses((Status.FAILED,), updated_since=since)
        recent = {b.id for b in failed}
        self._salvage_seen &= recent
        ids = [b.id for b in working] + sorted(recent - self._salvage_seen)
        for bot_id in ids:
            self.wake(bot_id)
        return len(ids)

    # --- one bot --------------------------------------------------------------------------

    async def process(self, bot_id: str) -> None:
        """Do whatever the bot's status asks for; errors are counted and retried by the scan
        until ``max_attempts``, then the bot ends ``failed``/``processing_failed``. Works only
        under the bot's media lease: a bot another replica is working on is left to it."""
        with logs.bound(bot_id=bot_id):  # on every log line of this bot's media work
            await self._process(bot_id)

    async def _process(self, bot_id: str) -> None:
        try:
            held, bot = await self.lease.take(bot_id)
            if not held:
                log.info("bot %s: another control plane works on its media", bot_id)
                return
            try:
                async with self.lease.renewing(bot_id):
                    await self._work(bot)
            finally:
                await self.lease.release(bot_id)
        except Exception:
            failures = self._failures.get(bot_id, 0) + 1
            self._failures[bot_id] = failures
            log.exception("bot %s: media processing failed (attempt %d)", bot_id, failures)
            if failures >= self.max_attempts:
                await use_cases.media_failed(
                    self.services, bot_id, PROCESSING_FAILED, lease=self.lease
                )
        else:
            self._failures.pop(bot_id, None)

    async def _work(self, bot: Bot | None) -> None:
        if bot is not None and bot.status is Status.PROCESSING:
            bot = await self._after_call(bot)
        if bot is not None and bot.status is Status.TRANSCRIBING:
            async with spooled(self.storage, bot.id) as spool:
                outcome = await self.final.outcome(bot, spool)
            await self._apply(bot.id, outcome)
        elif bot is not None and bot.status is Status.FAILED:
            await self._salvage(bot)

    async def _recording(self, bot: Bot, spool: Spool | None = None) -> RecordingInfo | None:
        """The stored recording, made now from the chunks if need be; ``None``: no audio."""
        info = await load_recording_meta(self.storage, bot.id)
        if info is not None:
            return info
        if spool is None:
            async with spooled(self.storage, bot.id) as own:
                return await self._recording(bot, own)
        video = (
            asyncio.create_task(self._video(bot, spool), name=f"media:video:{bot.id}")
            if bot.recording.video
            else None
        )
        try:
            info = await assemble_recording(self.storage, bot.id, _format(bot), spool=spool)
            if video is not None:
                info = dataclasses.replace(info, video=await video)
        except NoAudio:
            return None
        finally:
            if video is not None and not video.done():
                video.cancel()
                await asyncio.gather(video, return_exceptions=True)
        await save_recording_meta(self.storage, bot.id, info)
        # participants' own audio served the live stream only (?audio=separate); the
        # segments encoded during the call are in the recording now
        await self.storage.delete_prefix(participant_audio_prefix(bot.id))
        await self.storage.delete_prefix(segment_prefix(bot.id))
        if info.video is not None:  # the frames (~10 MB a minute) are in the MP4 now
            await self.storage.delete_prefix(video_prefix(bot.id))
        return info

    async def _video(self, bot: Bot, spool: Spool) -> VideoInfo | None:
        """``recording.mp4``, or ``None`` (no frames, or ffmpeg failed: the audio still
        counts)."""
        try:
            return await build_video(self.storage, bot.id, spool)
        except NoVideo:
            log.warning("bot %s: recording.video was asked, but no frames were stored", bot.id)
        except RecordingFailed:
            log.exception("bot %s: encoding the video failed", bot.id)
        return None

    async def _after_call(self, bot: Bot) -> Bot | None:
        """``processing``: the recording and, at the same time, the tail pass; the bot moves
        to ``transcribing`` when the recording is stored and on when the transcript is.
        Returns the bot as it is afterwards."""
        await self._close_call(bot.id)
        async with spooled(self.storage, bot.id) as spool:
            tail: asyncio.Task[Outcome] | None = None
            if spool.pcm_bytes and _engine(bot) is not Engine.NONE:
                tail = asyncio.create_task(
                    self.final.outcome(bot, spool), name=f"media:tail:{bot.id}"
                )
            try:
                svc, lease = self.services, self.lease
                try:
                    info = await self._recording(bot, spool)
                except RecordingFailed:
                    log.exception("bot %s: encoding the recording failed", bot.id)
                    return await use_cases.media_failed(svc, bot.id, RECORDING_FAILED, lease=lease)
                if info is None:
                    return await use_cases.no_recording(svc, bot.id, lease=lease)
                transcribe = _engine(bot) is not Engine.NONE
                view = recording_view(info, keys=False)
                after = await use_cases.recording_ready(
                    svc, bot.id, view, transcribe=transcribe, lease=lease
                )
                if tail is not None and transcribe:
                    after = await self._apply(bot.id, await tail)
                return after
            finally:
                if tail is not None and not tail.done():
                    tail.cancel()
                    await asyncio.gather(tail, return_exceptions=True)

    async def _close_call(self, bot_id: str) -> None:
        """Stop live work on the bot: its live transcript settles and the segment being
        encoded is stored (both at once)."""
        closing = [
            follower.close_bot(bot_id)
            for follower in (self.live, self.segments)
            if follower is not None
        ]
        await asyncio.gather(*closing)

    async def _apply(self, bot_id: str, outcome: Outcome) -> Bot | None:
        if outcome.save is not None:
            await save_transcript(self.storage, bot_id, outcome.save)
        if outcome.summary is None:
            return await use_cases.transcript_failed(
                self.services, bot_id, outcome.event, lease=self.lease
            )
        return await use_cases.transcript_ready(
            self.services, bot_id, outcome.summary, lease=self.lease
        )

    async def _salvage(self, bot: Bot) -> None:
        self._salvage_seen.add(bot.id)
        await self._close_call(bot.id)
        if await load_recording_meta(self.storage, bot.id) is not None:
            return
        info = await self._recording(bot)
        if info is None:
            return
        log.info("bot %s: salvaged a %.1f s recording", bot.id, info.duration_s)
        view = recording_view(info, keys=False)
        await use_cases.salvaged(self.services, bot.id, view, lease=self.lease)


def _format(bot: Bot) -> RecordingFormat:
    for fmt in FORMATS:
        if fmt == bot.recording.audio_format:
            return fmt
    return "ogg"


def _engine(bot: Bot) -> Engine:
    return validate_model(bot.transcription_model).engine
