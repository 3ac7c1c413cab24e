"""The Protocols at the I/O boundaries both processes use: the clock, media storage, speech
to text. Drivers: ``storage/`` (directory | S3), ``transcription/`` (faster-whisper, vendors).
The control plane's own boundaries (store, launcher, webhook sender) are in
:mod:`meetbot.control.ports`; the browser-side boundary (a meeting platform's page) is
``runner/platforms/base.py``. Fakes ship in :mod:`meetbot.testing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from meetbot.contract.models import Segment


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


# --- media ----------------------------------------------------------------------------------


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def list(self, prefix: str) -> list[str]: ...

    async def delete_prefix(self, prefix: str) -> None: ...

    def signed_url(self, key: str, ttl_seconds: int) -> str: ...


class Transcriber(Protocol):
    def transcribe(self, pcm16k: Sequence[float] | Any, *, offset: float = 0.0) -> list[Segment]:
        """Transcribe mono float32 16 kHz samples; segment times are shifted by ``offset``."""
        ...


__all__ = ["Clock", "Storage", "Transcriber"]
