"""The ``transcribing`` step's work, apart from its effects: the tail pass and the merge.

:meth:`FinalTranscript.outcome` transcribes only the tail that live transcription has not
committed (read from the spool, :meth:`meetbot.control.media.audio_file.Spool.tail`), merges it
with the live segments, attributes speakers, and returns what the step ends with
(:class:`Outcome`); the media pipeline stores it and changes the bot's status. It may run while the
recording is still being encoded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from meetbot.contract import lifecycle
from meetbot.contract.lifecycle import Status
from meetbot.contract.media_format import SAMPLE_RATE
from meetbot.contract.models import Bot, Segment
from meetbot.control.media.artifacts import TranscriptDoc, load_transcript
from meetbot.control.media.audio_file import Spool
from meetbot.control.media.participants import TIMELINE_TYPES, recording_origin, speaker_intervals
from meetbot.control.media.pauses import PAUSE_TYPES, mark_gaps, pause_gaps
from meetbot.control.media.transcribers import MissingApiKey, TranscriberFor, VendorCredentials
from meetbot.control.media.transcription_pool import TranscriptionPool
from meetbot.control.service import Services
from meetbot.control.service.credentials import UNREADABLE, vendor_keys
from meetbot.errors import CredentialsUnreadable
from meetbot.ports import Storage, Transcriber
from meetbot.transcription.models import validate_model
from meetbot.transcription.segments import attribute_speakers, normalize_segments
from meetbot.transcription.vendors.base import VendorAuthError, VendorError

log = logging.getLogger("meetbot.control.media")

TRANSCRIPTION_FAILED = "transcription_failed"
MISSING_API_KEY = "missing_api_key"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How ``transcribing`` ends: the event, the final transcript to store first (``None``:
    nothing new) and the ``transcript.ready`` summary (``None``: no event)."""

    event: lifecycle.Event
    save: TranscriptDoc | None = None
    summary: dict[str, Any] | None = None


@dataclass
class FinalTranscript:
    services: Services
    storage: Storage
    transcriber_for: TranscriberFor
    pool: TranscriptionPool

    async def outcome(self, bot: Bot, spool: Spool) -> Outcome:
        """What ``transcribing`` ends with; stores and changes nothing (see :meth:`_apply`)."""
        credentials: VendorCredentials | None = None
        if validate_model(bot.transcription_model).needs_api_key:
            try:
                keys = await vendor_keys(self.services, bot)
            except CredentialsUnreadable:
                log.exception("bot %s: its vendor keys do not decrypt", bot.id)
                return Outcome(lifecycle.Fail(UNREADABLE))
            credentials = VendorCredentials.from_keys(keys)
        try:
            transcriber = self.transcriber_for(bot.transcription_model, credentials=credentials)
        except MissingApiKey:
            return Outcome(lifecycle.RejectApiKey(MISSING_API_KEY))
        doc = await load_transcript(self.storage, bot.id) or TranscriptDoc()
        save: TranscriptDoc | None = None
        if not doc.final and transcriber is not None:
            try:
                doc = save = await self._merge(bot, transcriber, doc, spool)
            except VendorAuthError as exc:
                log.warning("bot %s: %s", bot.id, exc)
                return Outcome(lifecycle.RejectApiKey(exc.sub_code))
            except Exception as exc:
                log.exception("bot %s: transcription failed", bot.id)
                code = exc.sub_code if isinstance(exc, VendorError) else TRANSCRIPTION_FAILED
                return Outcome(lifecycle.Fail(code))
        summary = {
            "segments": len(doc.segments),
            "duration_s": round(doc.committed_until, 3),
            "final": True,
        }
        return Outcome(lifecycle.Finish(), save, summary)

    async def _merge(
        self, bot: Bot, transcriber: Transcriber, live: TranscriptDoc, spool: Spool
    ) -> TranscriptDoc:
        total = spool.duration_s
        start = min(live.committed_until, total)
        if live.complete_until is not None:  # the live copy missed audio from there on:
            start = min(start, live.complete_until)  # decoded again, from its segment's start
            start = min([start, *(s.start for s in live.segments if s.end > start)])
        tail = await asyncio.to_thread(spool.tail, start)
        tail_segments: list[Segment] = []
        if len(tail) >= SAMPLE_RATE // 10:
            tail_segments = await self.pool.run(transcriber.transcribe, tail, offset=start)
        del tail
        kept = live.segments
        if live.complete_until is not None:  # what was decoded past it is decoded again
            kept = tuple(s for s in kept if s.end <= start + 1e-6)
        live_segments = [dataclasses.replace(s, speaker=None) for s in kept]
        async with self.services.store.transaction(write=False) as tx:
            observations = await tx.observations.list(bot.id, TIMELINE_TYPES)
            pauses = await tx.observations.list(bot.id, PAUSE_TYPES)
        segments = normalize_segments([*live_segments, *tail_segments])
        origin = recording_origin(observations, _recording_started(bot))
        if origin is not None:
            segments = attribute_speakers(segments, speaker_intervals(observations, origin))
        segments = mark_gaps(segments, pause_gaps(pauses, total))
        return TranscriptDoc(tuple(segments), final=True, committed_until=total)


def _recording_started(bot: Bot) -> datetime | None:
    """When the last admission happened: the first ``recording`` change after another status
    (a pause and a resume are ``recording`` changes too, and start nothing)."""
    started: datetime | None = None
    previous: Status | None = None
    for change in bot.status_changes:
        if change.status is Status.RECORDING and previous is not Status.RECORDING:
            started = change.at
        previous = change.status
    return started
