"""Drive a bot through a fake call: reports over the real handler, audio chunks in storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from harness.plane import TestPlane
from meetbot.contract.lifecycle import StopReason
from meetbot.contract.media_format import SAMPLE_RATE, chunk_key
from meetbot.contract.models import OutboxEvent
from meetbot.contract.reports import (
    AudioChunk,
    BaseReport,
    InCall,
    Joining,
    Leaving,
    Left,
    ParticipantJoined,
    ParticipantLeft,
    ReportBatch,
    Speaking,
)
from meetbot.control.api import media as media_api
from meetbot.control.media.live_transcription import LiveTranscription
from meetbot.control.media.segment_recorder import SegmentRecorder
from meetbot.control.media.transcribers import TranscriberFor, VendorCredentials
from meetbot.control.service.runners import handle_reports
from meetbot.ports import Storage, Transcriber
from meetbot.storage import LocalStorage

SECRET = b"media-test-secret"
MEET = "https://meet.google.com/abc-defg-hij"


def media_storage(plane: TestPlane, root: Path) -> LocalStorage:
    """A LocalStorage on ``root`` wired into the plane's app with the media router."""
    storage = LocalStorage(root, SECRET, "http://meetbot")
    plane.app.state.storage = storage
    plane.app.state.media_secret = SECRET
    plane.app.include_router(media_api.router)
    return storage


def tone(seconds: float, freq: float = 440.0) -> bytes:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.2 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2").tobytes()


def fixed(transcriber: Transcriber | None) -> TranscriberFor:
    def get(
        model_name: str, *, live: bool = False, credentials: VendorCredentials | None = None
    ) -> Transcriber | None:
        return None if model_name == "none" else transcriber

    return get


@dataclass
class Call:
    plane: TestPlane
    storage: Storage
    bot_id: str
    live: LiveTranscription | None = None
    segments: SegmentRecorder | None = None
    speakers: list[tuple[str, float, float]] = field(default_factory=list)
    chunk_seconds: float = 1.5

    @property
    def token(self) -> str:
        assigned = self.plane.launcher.assigned(self.bot_id)
        assert assigned is not None
        return assigned.token

    async def report(self, *events: BaseReport) -> None:
        batch = ReportBatch(events=list(events))
        await handle_reports(self.plane.services, self.bot_id, self.token, batch)

    async def join(self) -> None:
        t0 = self.plane.clock.now()
        await self.report(Joining(at=t0), InCall(at=t0))
        for pid, (name, _, _) in enumerate(self.speakers):
            await self.report(ParticipantJoined(at=t0, participant_id=str(pid), name=name))

    async def record(self, pcm: bytes) -> None:
        """Write ``pcm`` as chunks and report them (speaking events at their times)."""
        t0 = self.plane.clock.now()
        per_chunk = round(self.chunk_seconds * SAMPLE_RATE) * 2
        speech: list[tuple[float, BaseReport]] = []
        for pid, (name, start, end) in enumerate(self.speakers):
            on = Speaking(
                at=t0 + timedelta(seconds=start), participant_id=str(pid), name=name, speaking=True
            )
            off = Speaking(
                at=t0 + timedelta(seconds=end), participant_id=str(pid), name=name, speaking=False
            )
            speech += [(start, on), (end, off)]
        for seq, begin in enumerate(range(0, len(pcm), per_chunk)):
            data = pcm[begin : begin + per_chunk]
            offset = begin / 2 / SAMPLE_RATE
            duration = len(data) / 2 / SAMPLE_RATE
            key = chunk_key(self.bot_id, seq)
            await self.storage.put(key, data)
            done = t0 + timedelta(seconds=offset + duration)
            due = [r for t, r in speech if t <= offset + duration]
            speech = [(t, r) for t, r in speech if t > offset + duration]
            chunk = AudioChunk(at=done, seq=seq, key=key, offset_s=offset, duration_s=duration)
            await self.report(*due, chunk)
            if self.live is not None:
                self.live.on_chunk(self.bot_id, key, offset)
                await self.live.idle(self.bot_id)
            if self.segments is not None:
                self.segments.on_chunk(self.bot_id, key, offset)
                await self.segments.idle(self.bot_id)
        self.plane.clock.set(t0 + timedelta(seconds=len(pcm) / 2 / SAMPLE_RATE))

    async def leave(self) -> None:
        now = self.plane.clock.now()
        gone = [
            ParticipantLeft(at=now, participant_id=str(pid), name=name)
            for pid, (name, _, _) in enumerate(self.speakers)
        ]
        await self.report(
            *gone, Leaving(at=now, stop_reason=StopReason.MEETING_ENDED), Left(at=now)
        )


async def create_bot(plane: TestPlane, **body: Any) -> str:
    async with plane.client() as client:
        r = await client.post("/api/v1/bot/", json={"meeting_url": MEET, **body})
        assert r.status_code == 201, r.text
        bot_id: str = r.json()["id"]
        return bot_id


async def bot_json(plane: TestPlane, bot_id: str) -> dict[str, Any]:
    async with plane.client() as client:
        r = await client.get(f"/api/v1/bot/{bot_id}/")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


async def events(plane: TestPlane, bot_id: str) -> list[OutboxEvent]:
    async with plane.services.store.transaction(write=False) as tx:
        found = await tx.events.list_after(plane.workspace_id, 0, 1000)
    return [e for e in found if e.bot_id == bot_id]


def types(found: list[OutboxEvent]) -> list[str]:
    return [e.type for e in found if e.type != "status_update"]
