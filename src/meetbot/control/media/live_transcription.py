"""Live transcription while a bot is in its call: audio in, ``transcript.data`` events out.

**The live copy first.** Where the bot's runner sends the live copy of its audio to this
process (:mod:`meetbot.contract.live_audio`, :meth:`LiveTranscription.on_live`, a listener of
the :class:`~meetbot.control.live_audio.LiveAudioHub`), that is decoded, every
:data:`LIVE_INTERVAL` of new audio: it comes ~0.2 s after it was heard, the stored chunks
~3.5 s. The stored chunks are then only checked against it
(:class:`~meetbot.control.media.live_copy.LiveCopy`): where the live copy missed something,
``transcript.json`` says so (``complete_until``) and the transcript after the call is decoded
again from there. Otherwise (no live copy here, e.g. another replica has the runner's live
socket, or a chunk came first) it goes as follows, from the stored chunks.

:meth:`LiveTranscription.on_chunk` is subscribed to the ``chunk_stored`` reaction: it is
called for every stored ``audio_chunk`` after its report's transaction commits. It never
blocks: the chunk is queued for the bot's task ``live:<bot_id>``, which fetches it, feeds it
to the bot's :class:`~meetbot.transcription.streaming.LiveTranscriber` in the shared
:class:`~meetbot.control.media.transcription_pool.TranscriptionPool`, appends committed segments to
``bots/<id>/transcript.json`` (``final: false``) and emits ``transcript.data``
(:func:`meetbot.control.service.media.transcript_data`).

Live runs for local Whisper models (re-decoded in the pool) and for vendors with a streaming API
(AssemblyAI: one session per bot gets the chunks as they come, opened with the bot's key, else
its workspace's, else the server's; see ``streams``). Re-decoding a window through a vendor's
pre-recorded API would cost many times the audio, so Deepgram and OpenAI models transcribe after
the call only. A chunk out of order, live starting mid-call (a restart) or a failed vendor
session stop live for that bot (its session is closed): what was committed stays, and the media
worker's tail pass transcribes the rest after the call.

**One model, many streams.** The bots that use one local model share it through a
:class:`~meetbot.transcription.batching.StreamBatcher`: decodes that pile up while the model is
busy go through the next one together, packed into one Whisper context
(:meth:`~meetbot.transcription.whisper.WhisperTranscriber.transcribe_many`), so a host's
decoding cost grows sub-linearly with its bots (``bench/live_batching.py``).

**Degrade, never go silent.** A bot whose decoding falls behind is never switched off: its
queued chunks are fed to its decoder together (up to ``max_batch`` seconds), so it decodes
larger windows less often, and each bot's task waits for its own decode before queueing the
next, so the shared pool serves the bots in turn (fairly) however many are behind. How far
behind a bot's live transcript is (``received_until - committed_until``, kept in
``transcript.json`` and shown as ``live_lag_seconds`` by the transcript endpoint) is announced
with a ``transcript.lagging`` event when it passes ``lag_warning`` seconds (again each time it
doubles) and once more, with ``caught_up``, when it is back under half of that.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from meetbot.contract.lifecycle import DISPATCHED
from meetbot.contract.media_format import BYTES_PER_SECOND, SAMPLE_RATE, chunk_prefix
from meetbot.contract.models import Segment
from meetbot.control.media.artifacts import (
    TranscriptDoc,
    load_transcript,
    save_transcript,
    segments_json,
)
from meetbot.control.media.drain import drain
from meetbot.control.media.live_copy import LiveCopy
from meetbot.control.media.participants import TIMELINE_TYPES, recording_origin, speaker_intervals
from meetbot.control.media.transcribers import (
    LiveStream,
    StreamFor,
    TranscriberFor,
    VendorCredentials,
)
from meetbot.control.media.transcription_pool import PooledLive, TranscriptionPool
from meetbot.control.service import Services
from meetbot.control.service.credentials import vendor_keys
from meetbot.control.service.media import transcript_data, transcript_lagging, transcript_partial
from meetbot.ports import Storage, Transcriber
from meetbot.storage import ObjectNotFound
from meetbot.transcription.batching import BatchEngine, StreamBatcher
from meetbot.transcription.factory import live_policy
from meetbot.transcription.models import validate_model
from meetbot.transcription.segments import attribute_speakers
from meetbot.transcription.streaming import LiveTranscriber

log = logging.getLogger("meetbot.control.media.live_transcription")

_OFFSET_SLACK = 0.05
LIVE_INTERVAL = 0.5
"""Seconds of new live audio between decodes of a live copy (stretched when decoding falls
behind: ``LivePolicy.adaptive``)."""
LIVE_COMMIT_LAG = 1.0
"""Seconds after its end a live copy's last segment is final (``transcript.data``) unless two
decodes agreed on it sooner: 2 s on the stored chunks' path (more right-hand context, fewer
errors at segment ends; the figures are in docs/benchmarks.md)."""

LagReport = Callable[[str, float], Awaitable[None]]
"""``(bot_id, lag_seconds)``: announce that a bot's live transcript lags (0: caught up)."""


@dataclass
class _BotLive:
    pending: deque[tuple[str, float]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    decoder: LiveStream | None = None
    given_up: bool = False
    received_until: float = 0.0
    saved_lag: float = 0.0
    """The lag last written to ``transcript.json``."""
    warned_lag: float = 0.0
    """The lag last announced with ``transcript.lagging`` (0: not lagging)."""
    partial: tuple[Segment, ...] = ()
    """The last ``transcript.partial`` sent (local models only: vendors' streams commit)."""
    copy: LiveCopy | None = None
    """Set when the bot's live copy came before any stored chunk: it is decoded, and the
    stored chunks (``pending``) only checked against it."""


class LiveTranscription:
    def __init__(
        self,
        services: Services,
        storage: Storage,
        transcriber_for: TranscriberFor,
        pool: TranscriptionPool,
        *,
        max_batch: float = 10.0,
        lag_warning: float = 10.0,
        streams: StreamFor | None = None,
        lagging: LagReport | None = None,
        max_streams_per_batch: int = 8,
    ) -> None:
        """``streams`` opens vendor streaming sessions (``None``: local models only);
        ``lagging`` announces a lag (default: the ``transcript.lagging`` use case)."""
        self.services = services
        self.storage = storage
        self.transcriber_for = transcriber_for
        self.pool = pool
        self.streams = streams
        self.max_batch = max_batch
        self.max_streams_per_batch = max_streams_per_batch
        self._batchers: dict[int, StreamBatcher] = {}
        self.lag_warning = lag_warning
        self.lagging: LagReport = lagging or functools.partial(transcript_lagging, services)
        self._bots: dict[str, _BotLive] = {}
        self._closed: set[str] = set()
        self._stopped = False

    def on_chunk(self, bot_id: str, key: str, offset_s: float) -> None:
        """A chunk of ``bot_id`` was stored at ``key``; call on the event loop, never blocks."""
        if self._stopped or bot_id in self._closed:
            return
        if not key.startswith(chunk_prefix(bot_id)):
            log.warning("bot %s: ignoring a chunk outside its prefix: %r", bot_id, key)
            return
        state = self._bots.setdefault(bot_id, _BotLive())
        if state.given_up:
            return
        state.pending.append((key, offset_s))
        if state.copy is None:
            state.received_until = max(state.received_until, offset_s)
        if state.task is None or state.task.done():
            state.task = asyncio.create_task(self._drain(bot_id, state), name=f"live:{bot_id}")

    def on_live(self, bot_id: str, offset: int, pcm: bytes) -> None:
        """A piece of the bot's live copy (a :class:`~meetbot.control.live_audio.LiveAudioHub`
        listener, on the event loop, never blocks). A bot whose stored chunks came first stays
        on them."""
        if self._stopped or bot_id in self._closed:
            return
        state = self._bots.setdefault(bot_id, _BotLive())
        if state.given_up:
            return
        if state.copy is None:
            if state.decoder is not None or state.pending:
                return
            state.copy = LiveCopy()
        state.copy.add(offset, pcm)
        state.received_until = max(state.received_until, state.copy.received_until / SAMPLE_RATE)
        if state.task is None or state.task.done():
            state.task = asyncio.create_task(self._drain(bot_id, state), name=f"live:{bot_id}")

    def active(self, bot_id: str) -> bool:
        """Whether live transcription still runs for the bot."""
        state = self._bots.get(bot_id)
        return state is not None and not state.given_up

    async def idle(self, bot_id: str) -> None:
        """Wait until the bot's queued chunks are handled (tests, shutdown)."""
        state = self._bots.get(bot_id)
        while state is not None and state.task is not None and not state.task.done():
            await asyncio.wait({state.task})

    async def close_bot(self, bot_id: str) -> None:
        """The call is over: drop queued chunks, wait for the decode in progress and its
        segments to be stored, forget the bot. Afterwards ``transcript.json`` is stable."""
        self._closed.add(bot_id)
        if len(self._closed) > 10_000:
            self._closed = {bot_id}
        state = self._bots.pop(bot_id, None)
        if state is None:
            return
        state.given_up = True
        state.pending.clear()
        if state.task is not None:
            await asyncio.gather(state.task, return_exceptions=True)
        await self._close_decoder(bot_id, state)

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopped = True
        tasks = []
        for state in self._bots.values():
            state.given_up = True
            state.pending.clear()
            if state.task is not None:
                tasks.append(state.task)
        await drain(tasks, timeout)
        for bot_id, state in list(self._bots.items()):
            await self._close_decoder(bot_id, state)
        self._bots.clear()

    # --- internals ------------------------------------------------------------------------

    def _give_up(self, bot_id: str, state: _BotLive, why: str) -> None:
        if not state.given_up:
            log.warning(
                "bot %s: live transcription stops (%s); the tail pass covers it", bot_id, why
            )
        state.given_up = True
        state.pending.clear()
        if state.decoder is not None and (state.task is None or state.task.done()):
            state.task = asyncio.create_task(
                self._close_decoder(bot_id, state), name=f"live-close:{bot_id}"
            )

    async def _close_decoder(self, bot_id: str, state: _BotLive) -> None:
        decoder, state.decoder = state.decoder, None
        if decoder is None:
            return
        try:
            await decoder.aclose()
        except Exception as exc:
            log.warning("bot %s: closing its live session failed: %s", bot_id, exc)

    def _queued(self, state: _BotLive) -> bool:
        return bool(state.pending or (state.copy is not None and state.copy.queued))

    async def _drain(self, bot_id: str, state: _BotLive) -> None:
        try:
            while self._queued(state) and not state.given_up:
                if state.decoder is None:
                    start = state.pending[0][1] if state.copy is None else 0.0
                    state.decoder = await self._start(bot_id, start, live=state.copy is not None)
                    if state.decoder is None:
                        self._give_up(bot_id, state, "not a live model, or started mid-call")
                        return
                decoder = state.decoder
                if state.copy is not None:
                    if state.copy.starts_late():  # the chunks before it may never be checked
                        await self._incomplete(bot_id, state.copy, 0.0)
                    await self._check(bot_id, state, state.copy)
                    data = state.copy.take(decoder.window_end, self.max_batch)
                    if data is None:
                        self._give_up(bot_id, state, "a long gap in the live copy")
                        return
                    if not data:
                        continue
                else:
                    data = await self._batch(bot_id, state, decoder.window_end)
                if data is None:
                    return
                await self._note_lag(bot_id, state, decoder.committed_until)
                committed = await decoder.feed(data)
                if committed:
                    await self._publish(bot_id, state, committed, decoder.committed_until)
                await self._note_lag(bot_id, state, decoder.committed_until)
                if isinstance(decoder, PooledLive) and decoder.partial != state.partial:
                    state.partial = decoder.partial
                    if state.partial:
                        await transcript_partial(
                            self.services, bot_id, segments_json(state.partial)
                        )
        except Exception:
            log.exception("bot %s: live transcription failed", bot_id)
            self._give_up(bot_id, state, "error")
        finally:
            if state.given_up:
                await self._close_decoder(bot_id, state)

    async def _batch(self, bot_id: str, state: _BotLive, window_end: float) -> bytes | None:
        """The queued chunks that follow ``window_end``, joined, up to ``max_batch`` seconds
        (one chunk when decoding keeps up); ``None`` when live stops for the bot."""
        parts: list[bytes] = []
        end = window_end
        while state.pending and end - window_end < self.max_batch:
            key, offset = state.pending[0]
            if abs(offset - end) > _OFFSET_SLACK:
                self._give_up(bot_id, state, f"chunk at {offset:.2f} s out of order")
                return None
            try:
                data = await self.storage.get(key)
            except ObjectNotFound:
                self._give_up(bot_id, state, f"chunk {key} missing")
                return None
            state.pending.popleft()
            data = data[: len(data) - len(data) % 2]
            parts.append(data)
            end = offset + len(data) / BYTES_PER_SECOND
            state.received_until = max(state.received_until, end)
        return b"".join(parts)

    async def _check(self, bot_id: str, state: _BotLive, copy: LiveCopy) -> None:
        """Check the stored chunks that came against the live copy; note where it first
        missed something in ``transcript.json`` (the final pass decodes again from there)."""
        while state.pending:
            key, offset = state.pending.popleft()
            try:
                stored = await self.storage.get(key)
            except ObjectNotFound:
                stored = b"\x01\x00"  # unknown: taken as differing
            missed = copy.check(offset, stored)
            if missed is not None:
                await self._incomplete(bot_id, copy, missed)

    async def _incomplete(self, bot_id: str, copy: LiveCopy, at: float) -> None:
        """The live copy misses audio at ``at``: noted in ``transcript.json`` (once per new
        earliest point)."""
        if copy.noted is not None and copy.noted <= at:
            return
        copy.noted = copy.complete_until = at
        log.info(
            "bot %s: the live copy missed audio at %.2f s: the transcript after the call"
            " decodes it again from there",
            bot_id, at,
        )  # fmt: skip
        doc = await load_transcript(self.storage, bot_id) or TranscriptDoc()
        if not doc.final:
            await save_transcript(self.storage, bot_id, replace(doc, complete_until=at))

    async def _note_lag(self, bot_id: str, state: _BotLive, committed_until: float) -> None:
        """Keep ``transcript.json``'s lag current (to the second) and announce a lag that
        passes the warning, doubles, or is over."""
        lag = max(0.0, state.received_until - committed_until)
        if abs(lag - state.saved_lag) >= 1.0:
            state.saved_lag = lag
            doc = await load_transcript(self.storage, bot_id) or TranscriptDoc()
            if not doc.final:
                doc = replace(doc, received_until=state.received_until)
                await save_transcript(self.storage, bot_id, doc)
        warned = state.warned_lag
        if (not warned and lag >= self.lag_warning) or (warned and lag >= 2 * warned):
            state.warned_lag = lag
            log.warning("bot %s: the live transcript is %.1f s behind", bot_id, lag)
            await self.lagging(bot_id, lag)
        elif warned and lag < self.lag_warning / 2:
            state.warned_lag = 0.0
            log.info("bot %s: the live transcript caught up (%.1f s behind)", bot_id, lag)
            await self.lagging(bot_id, 0.0)

    async def _start(self, bot_id: str, offset: float, *, live: bool = False) -> LiveStream | None:
        """``live``: the decoder of a live copy (a local model decodes every
        :data:`LIVE_INTERVAL` of new audio at most)."""
        async with self.services.store.transaction(write=False) as tx:
            bot = await tx.bots.get(bot_id)
        if bot is None or bot.status not in DISPATCHED or offset > _OFFSET_SLACK:
            return None
        spec = validate_model(bot.transcription_model)
        if await load_transcript(self.storage, bot_id) is not None:
            return None
        if spec.streams and self.streams is not None:
            keys = await vendor_keys(self.services, bot)
            return self.streams(spec.name, credentials=VendorCredentials.from_keys(keys))
        if not spec.is_local:
            return None
        transcriber = await asyncio.to_thread(self.transcriber_for, spec.name, live=True)
        if transcriber is None:
            return None
        engine: Transcriber = transcriber
        if self.max_streams_per_batch > 1 and isinstance(transcriber, BatchEngine):
            batcher = self._batchers.get(id(transcriber))
            if batcher is None or batcher.engine is not transcriber:
                batcher = StreamBatcher(
                    transcriber, max_batch=self.max_streams_per_batch, budget=self.pool.budget
                )
                self._batchers[id(transcriber)] = batcher
            engine = batcher
        policy = live_policy(spec)
        if live:
            policy = replace(
                policy,
                interval=min(policy.interval, LIVE_INTERVAL),
                commit_lag=min(policy.commit_lag, LIVE_COMMIT_LAG),
            )
        decoder = LiveTranscriber(engine, policy)
        return PooledLive(decoder, self.pool, batched=engine is not transcriber)

    async def _publish(
        self, bot_id: str, state: _BotLive, segments: list[Segment], until: float
    ) -> None:
        svc = self.services
        async with svc.store.transaction(write=False) as tx:
            observations = await tx.observations.list(bot_id, TIMELINE_TYPES)
        origin = recording_origin(observations)
        if origin is not None:
            segments = attribute_speakers(segments, speaker_intervals(observations, origin))
        doc = await load_transcript(self.storage, bot_id) or TranscriptDoc()
        if doc.final:
            return
        doc = TranscriptDoc(
            (*doc.segments, *segments),
            final=False,
            committed_until=until,
            received_until=state.received_until,
            complete_until=doc.complete_until,
        )
        state.saved_lag = max(0.0, state.received_until - until)
        await save_transcript(self.storage, bot_id, doc)
        await transcript_data(svc, bot_id, segments_json(segments))
