"""AssemblyAI pre-recorded transcription with the user's own key: upload, create, poll.

1. ``POST {base}/v2/upload`` with the audio bytes (``application/octet-stream``) →
   ``{"upload_url": ...}``;
2. ``POST {base}/v2/transcript`` with ``{"audio_url", "speech_models": [model],
   "speaker_labels": true, "language_detection": true}`` (``language_code`` instead when a
   language is fixed) → the transcript, ``status`` ``queued`` or ``processing``;
3. ``GET {base}/v2/transcript/{id}`` every ``poll_interval`` seconds until ``status`` is
   ``completed`` (segments) or ``error`` (its ``error`` text becomes a
   :class:`~meetbot.transcription.vendors.base.VendorError`).

Every request carries ``Authorization: <key>`` (the bare key, as AssemblyAI documents). Times are
milliseconds. Segments come from ``utterances`` (one per utterance, with its speaker ``A``, ``B``,
...), else from ``words`` split at speaker changes, pauses and sentence ends; speakers become
"Speaker 1", "Speaker 2", ... in order of appearance. A streaming model id (see
:mod:`meetbot.transcription.vendors.assemblyai_stream`) transcribes here with
:data:`DEFAULT_BATCH_MODEL`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import httpx

from meetbot.contract.models import Segment, Word
from meetbot.transcription.audio import as_samples, to_wav_bytes
from meetbot.transcription.segments import (
    clean_text,
    monotonic_words,
    number_unknown_speakers,
    split_words,
)
from meetbot.transcription.vendors.base import (
    UNAVAILABLE,
    VENDOR_ERROR,
    RetryPolicy,
    VendorError,
    VendorTranscriber,
    number,
    send_json,
)

VENDOR: Final = "assemblyai"
DEFAULT_BASE_URL: Final = "https://api.assemblyai.com"
DEFAULT_BATCH_MODEL: Final = "universal-2"
STREAMING_MODELS: Final = frozenset(
    {
        "universal-streaming",
        "universal-streaming-english",
        "universal-streaming-multilingual",
        "u3-rt-pro",
        "whisper-rt",
    }
)
"""Model ids of AssemblyAI's streaming API (``universal-streaming`` is Skribby's name for
``universal-streaming-english``)."""
_PAUSE: Final = 1.0


class AssemblyAITranscriber(VendorTranscriber):
    """Implements :class:`meetbot.ports.Transcriber` (blocking; run it in a thread)."""

    default_model = DEFAULT_BATCH_MODEL
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        api_key: str,
        model: str | None = None,
        *,
        base_url: str | None = None,
        language: str | None = None,
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        poll_interval: float = 3.0,
        poll_timeout: float = 3 * 3600.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            api_key,
            model,
            base_url=base_url,
            language=language,
            timeout=timeout,
            retry=retry,
            transport=transport,
        )
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self._sleep = sleep

    @property
    def speech_model(self) -> str:
        """The batch model: the one named, or :data:`DEFAULT_BATCH_MODEL` for a streaming id."""
        return DEFAULT_BATCH_MODEL if self.model in STREAMING_MODELS else self.model

    def params(self, audio_url: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "audio_url": audio_url,
            "speech_models": [self.speech_model],
            "speaker_labels": True,
            "punctuate": True,
            "format_text": True,
        }
        if self.language:
            params["language_code"] = self.language
        else:
            params["language_detection"] = True
        return params

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        """Upload the samples as a 16 kHz WAV file."""
        return self.transcribe_bytes(to_wav_bytes(as_samples(pcm16k)), offset=offset)

    def transcribe_bytes(self, audio: bytes, *, offset: float = 0.0) -> list[Segment]:
        """Upload an encoded file as is (AssemblyAI detects the format)."""
        auth = {"Authorization": self._api_key}
        with self.client() as client:
            uploaded = send_json(
                VENDOR,
                client,
                lambda: client.build_request(
                    "POST",
                    f"{self.base_url}/v2/upload",
                    headers={**auth, "Content-Type": "application/octet-stream"},
                    content=audio,
                ),
                self.retry,
            )
            upload_url = _text(uploaded, "upload_url")
            created = send_json(
                VENDOR,
                client,
                lambda: client.build_request(
                    "POST",
                    f"{self.base_url}/v2/transcript",
                    headers=auth,
                    json=self.params(upload_url),
                ),
                self.retry,
            )
            transcript = self._poll(client, auth, created)
        return parse_response(transcript, offset=offset)

    def _poll(self, client: httpx.Client, auth: dict[str, str], transcript: Any) -> Any:
        transcript_id = _text(transcript, "id")
        deadline = time.monotonic() + self.poll_timeout
        while True:
            status = transcript.get("status") if isinstance(transcript, Mapping) else None
            if status == "completed":
                return transcript
            if status == "error":
                why = transcript.get("error") or "the transcript failed"
                raise VendorError(VENDOR, str(why), sub_code=VENDOR_ERROR)
            if status not in ("queued", "processing"):
                raise VendorError(
                    VENDOR, f"unexpected transcript status {status!r}", sub_code=VENDOR_ERROR
                )
            if time.monotonic() >= deadline:
                raise VendorError(
                    VENDOR,
                    f"transcript {transcript_id} not completed after {self.poll_timeout:.0f} s",
                    sub_code=UNAVAILABLE,
                )
            self._sleep(self.poll_interval)
            transcript = send_json(
                VENDOR,
                client,
                lambda: client.build_request(
                    "GET", f"{self.base_url}/v2/transcript/{transcript_id}", headers=auth
                ),
                self.retry,
            )


def _text(payload: Any, field: str) -> str:
    value = payload.get(field) if isinstance(payload, Mapping) else None
    if not isinstance(value, str) or not value:
        raise VendorError(VENDOR, f"response has no {field!r}", sub_code=VENDOR_ERROR)
    return value


def _seconds(value: Any, field: str, offset: float) -> float:
    return number(value, field, VENDOR) / 1000.0 + offset


def _words(raw: Any, offset: float) -> list[tuple[Word, str | None]]:
    if not isinstance(raw, Sequence):
        return []
    out: list[tuple[Word, str | None]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        word = Word(
            _seconds(item.get("start"), "words.start", offset),
            _seconds(item.get("end"), "words.end", offset),
            str(item.get("text") or ""),
        )
        speaker = item.get("speaker")
        out.append((word, None if speaker is None else str(speaker)))
    return out


def parse_response(payload: Any, *, offset: float = 0.0) -> list[Segment]:
    """Segments from a completed transcript (times shifted by ``offset`` seconds)."""
    if not isinstance(payload, Mapping):
        raise VendorError(VENDOR, "response is not a transcript", sub_code=VENDOR_ERROR)
    utterances = payload.get("utterances")
    segments: list[Segment] = []
    if isinstance(utterances, Sequence) and utterances:
        for utt in utterances:
            if not isinstance(utt, Mapping):
                continue
            words = monotonic_words(w for w, _ in _words(utt.get("words"), offset))
            speaker = utt.get("speaker")
            segments.append(
                Segment(
                    _seconds(utt.get("start"), "utterances.start", offset),
                    _seconds(utt.get("end"), "utterances.end", offset),
                    clean_text(str(utt.get("text") or " ".join(w.text for w in words))),
                    words,
                    None if speaker is None else str(speaker),
                )
            )
    else:
        segments = split_words(_words(payload.get("words"), offset), _PAUSE)
        text = payload.get("text")
        if not segments and isinstance(text, str) and clean_text(text):
            duration = payload.get("audio_duration") or 0.0
            end = offset + number(duration, "audio_duration", VENDOR)
            segments = [Segment(offset, end, clean_text(text))]
    return number_unknown_speakers([s for s in segments if s.text.strip()])
