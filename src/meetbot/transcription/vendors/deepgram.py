"""Deepgram pre-recorded transcription with the user's own key.

``POST {base}/v1/listen?model=…&smart_format=true&punctuate=true&diarize=true&utterances=true``
with ``Authorization: Token <key>`` and the audio bytes as the body. Segments come from
``results.utterances`` (one per utterance, with its speaker), or, if absent, from the words of
``results.channels[0].alternatives[0]`` split at speaker changes, pauses and sentence ends.
Diarization labels (0, 1, ...) become "Speaker 1", "Speaker 2", ... in order of appearance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from meetbot.contract.models import Segment, Word
from meetbot.transcription.audio import as_samples, to_wav_bytes
from meetbot.transcription.segments import (
    monotonic_words,
    number_unknown_speakers,
    split_words,
)
from meetbot.transcription.vendors.base import (
    VENDOR_ERROR,
    VendorError,
    VendorTranscriber,
    number,
    send_json,
)

VENDOR: Final = "deepgram"
DEFAULT_BASE_URL: Final = "https://api.deepgram.com"
_PAUSE: Final = 1.0


class DeepgramTranscriber(VendorTranscriber):
    """Implements :class:`meetbot.ports.Transcriber` (blocking; run it in a thread)."""

    default_model = "nova-3"
    default_base_url = DEFAULT_BASE_URL

    def params(self) -> dict[str, str]:
        params = {
            "model": self.model,
            "smart_format": "true",
            "punctuate": "true",
            "diarize": "true",
            "utterances": "true",
        }
        if self.language:
            params["language"] = self.language
        return params

    def transcribe(self, pcm16k: Any, *, offset: float = 0.0) -> list[Segment]:
        """Upload the samples as a 16 kHz WAV file."""
        return self.transcribe_bytes(to_wav_bytes(as_samples(pcm16k)), "audio/wav", offset=offset)

    def transcribe_bytes(
        self, audio: bytes, content_type: str, *, offset: float = 0.0
    ) -> list[Segment]:
        """Upload an encoded file as is (``audio/wav``, ``audio/ogg``, ...)."""
        headers = {"Authorization": f"Token {self._api_key}", "Content-Type": content_type}
        with self.client() as client:
            payload = send_json(
                VENDOR,
                client,
                lambda: client.build_request(
                    "POST",
                    f"{self.base_url}/v1/listen",
                    params=self.params(),
                    headers=headers,
                    content=audio,
                ),
                self.retry,
            )
        return parse_response(payload, offset=offset)


def _words(raw: Any, offset: float) -> list[tuple[Word, str | None]]:
    if not isinstance(raw, Sequence):
        return []
    out: list[tuple[Word, str | None]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        text = item.get("punctuated_word") or item.get("word") or ""
        start = number(item.get("start"), "words.start", VENDOR) + offset
        end = number(item.get("end"), "words.end", VENDOR) + offset
        speaker = item.get("speaker")
        out.append((Word(start, end, str(text)), None if speaker is None else str(speaker)))
    return out


def _from_utterances(utterances: Sequence[Any], offset: float) -> list[Segment]:
    out: list[Segment] = []
    for utt in utterances:
        if not isinstance(utt, Mapping):
            continue
        words = monotonic_words(w for w, _ in _words(utt.get("words"), offset))
        speaker = utt.get("speaker")
        out.append(
            Segment(
                number(utt.get("start"), "utterances.start", VENDOR) + offset,
                number(utt.get("end"), "utterances.end", VENDOR) + offset,
                str(utt.get("transcript") or " ".join(w.text for w in words)),
                words,
                None if speaker is None else str(speaker),
            )
        )
    return out


def parse_response(payload: Any, *, offset: float = 0.0) -> list[Segment]:
    """Segments from a documented ``/v1/listen`` JSON response (times shifted by ``offset``)."""
    results = payload.get("results") if isinstance(payload, Mapping) else None
    if not isinstance(results, Mapping):
        raise VendorError(VENDOR, "response has no 'results'", sub_code=VENDOR_ERROR)
    utterances = results.get("utterances")
    if isinstance(utterances, Sequence) and utterances:
        segments = _from_utterances(utterances, offset)
    else:
        try:
            alternative = results["channels"][0]["alternatives"][0]
        except (KeyError, IndexError, TypeError) as exc:
            raise VendorError(
                VENDOR, "response has no channels[0].alternatives[0]", sub_code=VENDOR_ERROR
            ) from exc
        segments = split_words(_words(alternative.get("words"), offset), _PAUSE)
        transcript = alternative.get("transcript")
        if not segments and isinstance(transcript, str) and transcript.strip():
            metadata = payload.get("metadata")
            duration = metadata.get("duration", 0.0) if isinstance(metadata, Mapping) else 0.0
            end = offset + number(duration, "metadata.duration", VENDOR)
            segments = [Segment(offset, end, transcript.strip())]
    return number_unknown_speakers([s for s in segments if s.text.strip()])
