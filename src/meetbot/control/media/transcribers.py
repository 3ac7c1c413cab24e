"""Model name → transcriber: loaded Whisper models are cached (one per name and mode), vendor
adapters are built with a key and base URL.

A vendor key is the bot's own, else its workspace's (the media pipeline passes them as
``credentials``, see :mod:`meetbot.control.service.credentials`), else the server's
:class:`Settings` fields ``deepgram_api_key`` / ``openai_api_key``; base URLs
(``deepgram_base_url`` / ``openai_base_url``) and ``models_dir`` come from the settings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from meetbot.config import Settings
from meetbot.ports import Transcriber
from meetbot.transcription.factory import build_transcriber
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

    @classmethod
    def from_settings(cls, settings: Settings) -> VendorCredentials:
        def value(name: str) -> str | None:
            found: object = getattr(settings, name, None)
            if isinstance(found, SecretStr):
                found = found.get_secret_value()
            return str(found) if found else None

        return cls(
            value("deepgram_api_key"),
            value("openai_api_key"),
            value("deepgram_base_url"),
            value("openai_base_url"),
        )

    def over(self, fallback: VendorCredentials) -> VendorCredentials:
        """These values, each falling back to ``fallback``'s where unset."""
        return VendorCredentials(
            self.deepgram_api_key or fallback.deepgram_api_key,
            self.openai_api_key or fallback.openai_api_key,
            self.deepgram_base_url or fallback.deepgram_base_url,
            self.openai_base_url or fallback.openai_base_url,
        )

    def for_engine(self, engine: Engine) -> tuple[str | None, str | None]:
        if engine is Engine.DEEPGRAM:
            return self.deepgram_api_key, self.deepgram_base_url
        if engine is Engine.OPENAI:
            return self.openai_api_key, self.openai_base_url
        return None, None


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
