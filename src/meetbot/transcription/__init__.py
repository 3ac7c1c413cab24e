"""Speech to text: local Whisper (faster-whisper), live re-decoding, vendor adapters, formats.

Runs in the control plane's transcription worker, never in a bot's browser process. Names are
imported on first use (PEP 562), so ``python -m meetbot.transcription.models --prepare`` stays
quick and faster-whisper is loaded only by the worker that transcribes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meetbot.transcription.factory import build_transcriber, live_policy
    from meetbot.transcription.formats import render
    from meetbot.transcription.models import ModelSpec, offered_models, validate_model
    from meetbot.transcription.segments import attribute_speakers, normalize_segments
    from meetbot.transcription.stability import LivePolicy
    from meetbot.transcription.streaming import LiveTranscriber
    from meetbot.transcription.vendors.base import VendorAuthError, VendorError
    from meetbot.transcription.whisper import WhisperOptions, WhisperTranscriber

_WHERE = {
    "build_transcriber": "factory",
    "live_policy": "factory",
    "render": "formats",
    "LiveTranscriber": "streaming",
    "ModelSpec": "models",
    "offered_models": "models",
    "validate_model": "models",
    "attribute_speakers": "segments",
    "normalize_segments": "segments",
    "LivePolicy": "stability",
    "VendorAuthError": "vendors.base",
    "VendorError": "vendors.base",
    "WhisperOptions": "whisper",
    "WhisperTranscriber": "whisper",
}

__all__ = [
    "LivePolicy",
    "LiveTranscriber",
    "ModelSpec",
    "VendorAuthError",
    "VendorError",
    "WhisperOptions",
    "WhisperTranscriber",
    "attribute_speakers",
    "build_transcriber",
    "live_policy",
    "normalize_segments",
    "offered_models",
    "render",
    "validate_model",
]


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
