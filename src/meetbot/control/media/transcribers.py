"""Model name → transcriber: loaded Whisper models are cached (one per name and mode), vendor
adapters are built with a key and base URL.

A vendor key is the bot's own, else its workspace's (the media pipeline passes them as
``credentials``, see :mod:`meetbot.control.service.credentials`), else the server's
:class:`Settings` fields ``deepgram_api_key`` / ``openai_api_key`` / ``assemblyai_api_key``; base
URLs (``<vendor>_base_url``, ``assemblyai_streaming_url``) and ``models_dir`` come from the
settings. Vendors that stream (AssemblyAI) also open live sessions (:meth:`Transcribers.stream`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from meetbot.config import Settings
from meetbot.contract.models import Segment
from meetbot.ports import Transcriber
from meetbot.transcription.factory import build_stream, build_transcriber
from meetbot.transcription.models import Engine, validate_model
from meetbot.transcription.weights import default_models_dir


class MissingApiKey(Exception):
    """A vendor model was asked for but no key for that vendor is configured."""

    def __init__(self, model: str) -> None:
        super().__init__(f"transcription model {model} needs an API key; none is configured")
        self.model = model


class TranscriberFor(Protocol):
    """What the media worker and live transcription call to get a model's transcriber."""

    def __call__(
        self,
        model_name: str,
        *,
        live: bool = False,
        credentials: VendorCredentials | None = None,
    ) -> Transcriber | None:
        """``None`` for model ``none``; raises :class:`MissingApiKey`. ``credentials``: the
        bot's vendor keys, each over the deployment's."""
        ...


@dataclass(frozen=True, slots=True)
class VendorCredentials:
    deepgram_api_key: str | None = None
    openai_api_key: str | None = None
    deepgram_base_url: str | None = None
    openai_base_url: str | None = None
    assemblyai_api_key: str | None = None
    assemblyai_base_url: str | None = None
    assemblyai_streaming_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VendorCredentials:
        def value(name: str) -> str | None:
            found: object = getattr(settings, name, None)
            if isinstance(found, SecretStr):
                found = found.get_secret_value()
            return str(found) if found else None

        return cls(**{f.name: value(f.name) for f in fields(cls)})

    @classmethod
    def from_keys(cls, keys: Mapping[str, str]) -> VendorCredentials:
        """The vendor keys among a bot's credentials (``openai_api_key``, ...)."""
        return cls(**{f.name: keys.get(f.name) for f in fields(cls) if f.name.endswith("_key")})

    def over(self, fallback: VendorCredentials) -> VendorCredentials:
        """These values, each falling back to ``fallback``'s where unset."""
        return VendorCredentials(
            **{f.name: getattr(self, f.name) or getattr(fallback, f.name) for f in fields(self)}
        )

    def for_engine(self, engine: Engine) -> tuple[str | None, str | None]:
        """The engine's key and base URL (``None, None`` for engines without a key)."""
        if not engine.is_vendor:
            return None, None
        key: str | None = getattr(self, f"{engine.value}_api_key")
        base_url: str | None = getattr(self, f"{engine.value}_base_url")
        return key, base_url


class LiveStream(Protocol):
    """A vendor's streaming session for one bot (see
    :class:`~meetbot.transcription.vendors.assemblyai_stream.AssemblyAIStream`)."""

    @property
    def window_end(self) -> float: ...

    @property
    def committed_until(self) -> float: ...

    async def feed(self, chunk: bytes) -> list[Segment]:
        """Send 16 kHz int16 PCM; returns newly committed segments."""
        ...

    async def aclose(self) -> None: ...


class StreamFor(Protocol):
    """What live transcription calls to open a vendor stream for a model."""

    def __call__(
        self, model_name: str, *, credentials: VendorCredentials | None = None
    ) -> LiveStream | None:
        """``None`` when the model does not stream; raises :class:`MissingApiKey`."""
        ...


_whisper_cache: dict[tuple[str, bool, Path, int], Transcriber] = {}
_cache_lock = threading.Lock()


def models_dir(settings: Settings) -> Path:
    configured = getattr(settings, "models_dir", None)
    return Path(configured).expanduser() if configured else default_models_dir()


def transcriber_for(
    model_name: str,
    settings: Settings,
    credentials: VendorCredentials | None = None,
    *,
    live: bool = False,
    cpu_threads: int = 2,
) -> Transcriber | None:
    """The transcriber of ``model_name`` (``None`` for ``none``).

    A Whisper model is loaded once per (name, live) and shared: its transcriber is thread-safe
    (one decode at a time). ``live`` gives the greedy, sticky-language variant for re-decoding.
    Vendor adapters are cheap and built per call, with ``credentials``' keys over the
    settings' (per field).
    """
    spec = validate_model(model_name)
    if spec.engine is Engine.NONE:
        return None
    directory = models_dir(settings)
    if spec.engine is Engine.WHISPER:
        key = (spec.name, live, directory, cpu_threads)
        with _cache_lock:
            cached = _whisper_cache.get(key)
            if cached is None:
                cached = build_transcriber(
                    spec, models_dir=directory, cpu_threads=cpu_threads, live=live
                )
                assert cached is not None
                _whisper_cache[key] = cached
            return cached
    deployment = VendorCredentials.from_settings(settings)
    api_key, base_url = (credentials.over(deployment) if credentials else deployment).for_engine(
        spec.engine
    )
    if not api_key:
        raise MissingApiKey(spec.name)
    return build_transcriber(spec, models_dir=directory, api_key=api_key, base_url=base_url)


@dataclass(frozen=True, slots=True)
class Transcribers:
    """:class:`TranscriberFor` bound to the deployment's settings and credentials."""

    settings: Settings
    credentials: VendorCredentials | None = None

    def __call__(
        self,
        model_name: str,
        *,
        live: bool = False,
        credentials: VendorCredentials | None = None,
    ) -> Transcriber | None:
        if credentials is None:
            credentials = self.credentials
        elif self.credentials is not None:
            credentials = credentials.over(self.credentials)
        return transcriber_for(model_name, self.settings, credentials, live=live)

    def stream(
        self, model_name: str, *, credentials: VendorCredentials | None = None
    ) -> LiveStream | None:
        """A streaming session for a model whose vendor streams (:class:`StreamFor`)."""
        spec = validate_model(model_name)
        if not spec.streams:
            return None
        merged = VendorCredentials.from_settings(self.settings)
        if self.credentials is not None:
            merged = self.credentials.over(merged)
        if credentials is not None:
            merged = credentials.over(merged)
        api_key, base_url = merged.for_engine(spec.engine)
        if not api_key:
            raise MissingApiKey(spec.name)
        return build_stream(
            spec, api_key=api_key, base_url=base_url, streaming=merged.assemblyai_streaming_url
        )
