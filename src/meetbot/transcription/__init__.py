"""Speech to text: local Whisper (faster-whisper), live re-decoding, vendor adapters, formats.

Runs in the control plane's transcription worker, never in a bot's browser process. Heavy
imports (faster-whisper) happen on first use, not on import.
"""

from meetbot.transcription.factory import build_transcriber, live_policy
from meetbot.transcription.formats import render
from meetbot.transcription.live import LiveTranscriber
from meetbot.transcription.models import ModelSpec, offered_models, validate_model
from meetbot.transcription.segments import attribute_speakers, normalize_segments
from meetbot.transcription.stability import LivePolicy
from meetbot.transcription.vendors.base import VendorAuthError, VendorError
from meetbot.transcription.whisper import WhisperOptions, WhisperTranscriber

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
