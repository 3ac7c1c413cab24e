"""Hosted speech-to-text with the user's own key ("bring your own key")."""

from meetbot.transcription.vendors.assemblyai import AssemblyAITranscriber
from meetbot.transcription.vendors.assemblyai_stream import AssemblyAIStream
from meetbot.transcription.vendors.base import (
    INVALID_API_KEY,
    UNAVAILABLE,
    VENDOR_ERROR,
    RetryPolicy,
    VendorAuthError,
    VendorError,
)
from meetbot.transcription.vendors.deepgram import DeepgramTranscriber
from meetbot.transcription.vendors.openai import OpenAITranscriber

__all__ = [
    "INVALID_API_KEY",
    "UNAVAILABLE",
    "VENDOR_ERROR",
    "AssemblyAIStream",
    "AssemblyAITranscriber",
    "DeepgramTranscriber",
    "OpenAITranscriber",
    "RetryPolicy",
    "VendorAuthError",
    "VendorError",
]
