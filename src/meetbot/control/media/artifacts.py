"""The media documents a bot leaves in storage, and removing a bot's media data.

- ``bots/<id>/recording.<fmt>``: the recording (see :mod:`meetbot.control.media.audio_file`);
- ``bots/<id>/recording.mp4``: the meeting view with its audio, for ``recording.video``
  (see :mod:`meetbot.control.media.video_file`);
- ``bots/<id>/recording.json``: their metadata (format, duration_s, size_bytes, key,
  content_type; ``video`` with the same and width, height, fps), written once the recording
  is stored, so its presence means "ready";
- ``bots/<id>/transcript.json``: ``{"segments": [...], "final": bool, "committed_until": s}``,
  growing while the call runs (live segments) and rewritten once, final, after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from meetbot.contract.media_format import FORMATS, RecordingFormat
from meetbot.contract.models import Segment, Word
from meetbot.control.media.audio_file import RecordingInfo, VideoInfo
from meetbot.control.service import Services
from meetbot.control.service.media import delete_observations
from meetbot.ports import Storage
from meetbot.storage import ObjectNotFound
from meetbot.transcription.formats import to_json

_JSON = "application/json"


def bot_prefix(bot_id: str) -> str:
    if not bot_id or "/" in bot_id:
        raise ValueError(f"Invalid bot id {bot_id!r}.")
    return f"bots/{bot_id}/"


def recording_meta_key(bot_id: str) -> str:
    return f"{bot_prefix(bot_id)}recording.json"


def transcript_key(bot_id: str) -> str:
    return f"{bot_prefix(bot_id)}transcript.json"


# --- recording.json -------------------------------------------------------------------------


def recording_view(info: RecordingInfo, *, keys: bool = True) -> dict[str, Any]:
    """The stored metadata; ``keys=False``: without storage keys (for webhooks)."""
    view: dict[str, Any] = {
        "format": info.format,
        "duration_s": round(info.duration_s, 3),
        "size_bytes": info.size_bytes,
        "key": info.key,
        "content_type": info.content_type,
    }
    if info.video is not None:
        view["video"] = video_view(info.video)
    if not keys:
        view.pop("key")
        if "video" in view:
            view["video"].pop("key")
    return view


def video_view(video: VideoInfo) -> dict[str, Any]:
    return {
        "format": video.format,
        "duration_s": round(video.duration_s, 3),
        "size_bytes": video.size_bytes,
        "key": video.key,
        "content_type": video.content_type,
        "width": video.width,
        "height": video.height,
        "fps": video.fps,
    }


async def save_recording_meta(storage: Storage, bot_id: str, info: RecordingInfo) -> None:
    data = json.dumps(recording_view(info)).encode()
    await storage.put(recording_meta_key(bot_id), data, _JSON)


async def load_recording_meta(storage: Storage, bot_id: str) -> RecordingInfo | None:
    try:
        raw = json.loads(await storage.get(recording_meta_key(bot_id)))
    except ObjectNotFound:
        return None
    fmt = str(raw["format"])
    if fmt not in FORMATS:
        raise ValueError(f"recording.json of {bot_id} names unknown format {fmt!r}")
    video = raw.get("video")
    return RecordingInfo(
        key=str(raw["key"]),
        format=_format(fmt),
        duration_s=float(raw["duration_s"]),
        size_bytes=int(raw["size_bytes"]),
        content_type=str(raw["content_type"]),
        video=_video(video) if isinstance(video, dict) else None,
    )


def _video(raw: dict[str, Any]) -> VideoInfo:
    return VideoInfo(
        key=str(raw["key"]),
        duration_s=float(raw["duration_s"]),
        size_bytes=int(raw["size_bytes"]),
        width=int(raw["width"]),
        height=int(raw["height"]),
        fps=float(raw["fps"]),
        format=str(raw.get("format", "mp4")),
        content_type=str(raw.get("content_type", "video/mp4")),
    )


def _format(name: str) -> RecordingFormat:
    for fmt in FORMATS:
        if fmt == name:
            return fmt
    raise ValueError(name)


# --- transcript.json ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TranscriptDoc:
    segments: tuple[Segment, ...] = ()
    final: bool = False
    committed_until: float = 0.0
    """Seconds of recording the segments cover (the live transcriber's commit point)."""
    received_until: float = 0.0
    """Seconds of recording live transcription has received: ``received_until -
    committed_until`` is how far the live transcript is behind the call."""
    complete_until: float | None = None
    """Live transcription decoded the live copy of the audio, which missed some of what the
    recording has from here on (:mod:`~meetbot.control.media.live_copy`): the transcript after
    the call is decoded again from here. ``None``: nothing missed."""

    @property
    def live_lag(self) -> float:
        """Seconds of received call audio the live transcript does not cover yet."""
        return 0.0 if self.final else max(0.0, self.received_until - self.committed_until)

    def view(self) -> dict[str, Any]:
        return {"segments": to_json(self.segments), "final": self.final}

    def to_bytes(self) -> bytes:
        doc = {
            **self.view(),
            "committed_until": round(self.committed_until, 3),
            "received_until": round(self.received_until, 3),
        }
        if self.complete_until is not None:
            doc["complete_until"] = round(self.complete_until, 3)
        return json.dumps(doc, ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TranscriptDoc:
        raw = json.loads(data)
        return cls(
            segments=tuple(segment_from_json(s) for s in raw.get("segments", ())),
            final=bool(raw.get("final", False)),
            committed_until=float(raw.get("committed_until", 0.0)),
            received_until=float(raw.get("received_until", 0.0)),
            complete_until=(
                None if raw.get("complete_until") is None else float(raw["complete_until"])
            ),
        )


def segment_from_json(raw: dict[str, Any]) -> Segment:
    words = tuple(
        Word(float(w["start"]), float(w["end"]), str(w["text"])) for w in raw.get("words", ())
    )
    speaker = raw.get("speaker")
    return Segment(
        float(raw["start"]),
        float(raw["end"]),
        str(raw["text"]),
        words,
        str(speaker) if speaker is not None else None,
    )


async def load_transcript(storage: Storage, bot_id: str) -> TranscriptDoc | None:
    try:
        return TranscriptDoc.from_bytes(await storage.get(transcript_key(bot_id)))
    except ObjectNotFound:
        return None


async def save_transcript(storage: Storage, bot_id: str, doc: TranscriptDoc) -> None:
    await storage.put(transcript_key(bot_id), doc.to_bytes(), _JSON)


def segments_json(segments: Sequence[Segment]) -> list[Mapping[str, Any]]:
    return list(to_json(segments))


# --- delete_data ----------------------------------------------------------------------------


async def delete_bot_data(svc: Services, storage: Storage, workspace_id: str, bot_id: str) -> None:
    """Remove a bot's observations (the service's rule and transaction:
    :func:`~meetbot.control.service.media.delete_observations`, refused with 400 ``bot_in_call`` or
    ``bot_processing``), then its media (``bots/<id>/``); the bot and its history stay."""
    await delete_observations(svc, workspace_id, bot_id)
    await storage.delete_prefix(bot_prefix(bot_id))
