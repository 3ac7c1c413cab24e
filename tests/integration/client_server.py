"""A real ``meetbot serve`` for the SDK and CLI tests, and media seeded as the pipeline leaves it.

The server runs the fake launcher (no browser: an ad-hoc bot stays ``booting`` until it is told
to leave) and delivers webhooks inline, to loopback receivers. :func:`seed_media` writes a
transcript and a recording into its media directory, the files the media pipeline would have
written after a call, so the media routes answer with real content.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from meetbot.contract.media_format import recording_key
from meetbot.contract.models import Segment, Word
from meetbot.control.media.artifacts import TranscriptDoc, save_recording_meta, save_transcript
from meetbot.control.media.audio_file import RecordingInfo
from meetbot.lab.serve import Server, free_port
from meetbot.storage import LocalStorage

MEET = "https://meet.google.com/abc-defg-hij"
SERVE_ENV = {
    "MEETBOT_LAUNCHER": "fake",
    "MEETBOT_ADHOC_POOL_SIZE": "50",
    "MEETBOT_MAX_CONCURRENT_BOTS": "50",
    "MEETBOT_HEARTBEAT_TIMEOUT": "600",
    "MEETBOT_DELIVERY": "inline",
    "MEETBOT_WEBHOOK_ALLOW_PRIVATE": "1",
    "MEETBOT_DEFAULT_TRANSCRIPTION_MODEL": "none",
    "MEETBOT_SELF_HOSTED_MEETING_HOSTS": "janus.example.com:8000",
}
JANUS = "http://janus.example.com:8000/videoroomtest.html?room=7"
"""A Janus room: the one platform whose adapter has chat (the fake launcher joins nothing)."""
RECORDING_BYTES = bytes(range(256)) * 1024  # 256 KiB: a download in several chunks
SEGMENTS = (
    Segment(
        0.0, 1.5, "Hello everyone.", (Word(0.0, 0.6, "Hello"), Word(0.7, 1.5, "everyone.")), "Ada"
    ),
    Segment(2.0, 3.25, "Let us start.", (), "Grace"),
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a test file (each test makes its own bots)."""
    server = Server(tmp_path_factory.mktemp("serve") / "data", free_port(), SERVE_ENV)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_key(served: Server) -> str:
    return served.first_key()


async def seed_media(server: Server, bot_id: str) -> None:
    storage = LocalStorage(server.data_dir / "media")
    await save_transcript(storage, bot_id, TranscriptDoc(SEGMENTS, final=True))
    key = recording_key(bot_id, "ogg")
    await storage.put(key, RECORDING_BYTES, "audio/ogg")
    info = RecordingInfo(key, "ogg", 3.5, len(RECORDING_BYTES), "audio/ogg")
    await save_recording_meta(storage, bot_id, info)
