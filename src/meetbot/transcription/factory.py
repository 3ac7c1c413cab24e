"""Build the transcriber a :class:`~meetbot.transcription.models.ModelSpec` names."""

from __future__ import annotations

from pathlib import Path

from meetbot.ports import Transcriber
from meetbot.transcription import weights
from meetbot.transcription.models import Engine, ModelSpec
from meetbot.transcription.stability import LivePolicy
from meetbot.transcription.vendors.assemblyai import DEFAULT_BASE_URL as ASSEMBLYAI_URL
from meetbot.transcription.vendors.assemblyai import AssemblyAITranscriber
from meetbot.transcription.vendors.assemblyai_stream import AssemblyAIStream, streaming_url
from meetbot.transcription.vendors.deepgram import DEFAULT_BASE_URL as DEEPGRAM_URL
from meetbot.transcription.vendors.deepgram import DeepgramTranscriber
from meetbot.transcription.vendors.openai import DEFAULT_BASE_URL as OPENAI_URL
from meetbot.transcription.vendors.openai import OpenAITranscriber
from meetbot.transcription.whisper import WhisperOptions, WhisperTranscriber


def build_transcriber(
    spec: ModelSpec,
    *,
    models_dir: Path,
    api_key: str | None = None,
    base_url: str | None = None,
    cpu_threads: int = 2,
    live: bool = False,
) -> Transcriber | None:
    """A transcriber for ``spec``, or ``None`` for ``"none"``.

    Whisper: the base weights are joined into ``models_dir`` if that was not done yet (about a
    second, once). ``live=True`` decodes greedily (beam 1) and keeps the first confidently
    detected language, which keeps up with re-decoding.
    Vendors: ``api_key`` is required; ``base_url`` overrides the vendor's (tests, proxies).
    """
    if spec.engine is Engine.NONE:
        return None
    if spec.engine is Engine.WHISPER:
        if spec.model == "base":
            directory = weights.prepare_base(models_dir)
        else:
            directory = weights.tiny_en_dir()
        options = WhisperOptions(
            language=spec.language,
            cpu_threads=cpu_threads,
            beam_size=1 if live else 5,
            sticky_language=live,
        )
        return WhisperTranscriber(directory, options)
    if not api_key:
        raise ValueError(f"transcription model {spec.name} needs an api_key")
    assert spec.model is not None
    if spec.engine is Engine.DEEPGRAM:
        return DeepgramTranscriber(api_key, spec.model, base_url=base_url or DEEPGRAM_URL)
    if spec.engine is Engine.ASSEMBLYAI:
        return AssemblyAITranscriber(api_key, spec.model, base_url=base_url or ASSEMBLYAI_URL)
    return OpenAITranscriber(api_key, spec.model, base_url=base_url or OPENAI_URL)


def build_stream(
    spec: ModelSpec,
    *,
    api_key: str,
    base_url: str | None = None,
    streaming: str | None = None,
    start_time: float = 0.0,
) -> AssemblyAIStream | None:
    """A live streaming session for a vendor model that streams (``None`` for the others).
    ``streaming`` overrides the endpoint, else it is derived from ``base_url``."""
    if not spec.streams:
        return None
    if not api_key:
        raise ValueError(f"transcription model {spec.name} needs an api_key")
    url = streaming or streaming_url(base_url)
    return AssemblyAIStream(api_key, spec.model, url=url, start_time=start_time)


def live_policy(spec: ModelSpec) -> LivePolicy:
    """The re-decode interval that keeps up for this model on 2 CPU cores."""
    return LivePolicy(interval=spec.live_interval)
