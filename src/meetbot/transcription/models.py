"""The registry of offered transcription models, and the ``--prepare`` entrypoint.

``python -m meetbot.transcription.models --prepare`` joins the Whisper base weights once (see
:mod:`meetbot.transcription.weights`); ``make install`` runs exactly this command.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from meetbot.errors import InvalidTranscriptionModel
from meetbot.transcription import weights


class Engine(StrEnum):
    WHISPER = "whisper"
    DEEPGRAM = "deepgram"
    OPENAI = "openai"
    ASSEMBLYAI = "assemblyai"
    NONE = "none"

    @property
    def is_vendor(self) -> bool:
        return self in VENDOR_LABELS

    @property
    def key_kind(self) -> str | None:
        """The credentials kind (and :class:`~meetbot.config.Settings` field) holding this
        vendor's key, e.g. ``openai_api_key``; ``None`` for engines without a key."""
        return f"{self.value}_api_key" if self.is_vendor else None

    @property
    def key_setting(self) -> str | None:
        """The server-wide fallback, e.g. ``MEETBOT_OPENAI_API_KEY``."""
        kind = self.key_kind
        return f"MEETBOT_{kind.upper()}" if kind else None


VENDOR_LABELS: Final[dict[Engine, str]] = {
    Engine.DEEPGRAM: "Deepgram",
    Engine.OPENAI: "OpenAI",
    Engine.ASSEMBLYAI: "AssemblyAI",
}
"""Hosted engines, named ``<vendor>/<model id>``; any model id is passed to the vendor."""

STREAMING_ENGINES: Final = frozenset({Engine.ASSEMBLYAI})
"""Vendors whose streaming API gives live ``transcript.data`` (the others: after the call)."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    """The canonical name a client sends, e.g. ``whisper-base`` or ``deepgram/nova-3``."""
    engine: Engine
    model: str | None = None
    """Engine-specific id: ``base`` / ``tiny.en`` for Whisper, the vendor's model name."""
    language: str | None = None
    """Fixed language, or ``None`` for detection (multilingual models)."""
    live_interval: float = 2.0
    """Seconds between live re-decodes that keep up on 2 CPU cores."""
    word_timestamps: bool = True
    """Whether the engine returns per-word times (OpenAI's gpt-4o models do not)."""

    @property
    def is_local(self) -> bool:
        return self.engine is Engine.WHISPER

    @property
    def needs_api_key(self) -> bool:
        return self.engine.is_vendor

    @property
    def streams(self) -> bool:
        """Live transcription through the vendor's streaming API."""
        return self.engine in STREAMING_ENGINES


DEFAULT_MODEL: Final = "whisper-base"
MAX_MODEL_ID: Final = 200
_MODEL_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+/-]*")
"""A vendor's model id: Groq's ``whisper-large-v3``, a self-hosted server's
``Systran/faster-whisper-small``, a Deepgram custom model's UUID."""

_SPECS: Final[tuple[ModelSpec, ...]] = (
    ModelSpec("whisper-base", Engine.WHISPER, "base", None, live_interval=2.0),
    ModelSpec("whisper-tiny.en", Engine.WHISPER, "tiny.en", "en", live_interval=1.0),
    ModelSpec("none", Engine.NONE, word_timestamps=False),
    *(
        ModelSpec(f"deepgram/{m}", Engine.DEEPGRAM, m)
        for m in ("nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-meeting")
    ),
    ModelSpec("openai/whisper-1", Engine.OPENAI, "whisper-1"),
    *(
        ModelSpec(f"openai/{m}", Engine.OPENAI, m, word_timestamps=False)
        for m in ("gpt-4o-transcribe", "gpt-4o-mini-transcribe")
    ),
    ModelSpec("openai/whisper-large-v3", Engine.OPENAI, "whisper-large-v3"),
    *(
        ModelSpec(f"assemblyai/{m}", Engine.ASSEMBLYAI, m)
        for m in ("universal-2", "universal-3-pro", "universal-streaming")
    ),
)

MODELS: Final[dict[str, ModelSpec]] = {spec.name: spec for spec in _SPECS}
"""Examples with known properties; ``<vendor>/<any model id>`` is accepted as well."""


def offered_models() -> tuple[str, ...]:
    return tuple(MODELS)


def offered_patterns() -> tuple[str, ...]:
    """What :func:`validate_model` accepts, for error messages and docs."""
    local = tuple(s.name for s in _SPECS if not s.engine.is_vendor)
    return (*local, *(f"{engine.value}/<model>" for engine in VENDOR_LABELS))


def vendor_spec(engine: Engine, model: str) -> ModelSpec:
    """The spec of ``<engine>/<model>`` for a model id not in the catalogue (OpenAI's
    ``gpt-*`` models answer text without times; every other id is taken to give words)."""
    known = MODELS.get(f"{engine.value}/{model}")
    if known is not None:
        return known
    words = not (engine is Engine.OPENAI and model.lower().startswith("gpt-"))
    return ModelSpec(f"{engine.value}/{model}", engine, model, word_timestamps=words)


def validate_model(name: str | None) -> ModelSpec:
    """The spec for ``name`` (``None`` or blank means the default), or
    :class:`~meetbot.errors.InvalidTranscriptionModel` listing the offered names.

    Local names are case-insensitive; ``<vendor>/<model id>`` keeps the id's case (a
    self-hosted server's ids may be case-sensitive) and lower-cases only the vendor.
    """
    raw = (name or DEFAULT_MODEL).strip() or DEFAULT_MODEL
    spec = MODELS.get(raw.lower())
    if spec is not None:
        return spec
    prefix, slash, model = raw.partition("/")
    engine = next((e for e in VENDOR_LABELS if e.value == prefix.lower()), None)
    if engine is not None and slash and len(model) <= MAX_MODEL_ID and _MODEL_ID.fullmatch(model):
        return vendor_spec(engine, model)
    offered = ", ".join(offered_patterns())
    raise InvalidTranscriptionModel(
        f"Unknown transcription_model {name!r}. Offered: {offered} (for example "
        "deepgram/nova-3, openai/whisper-large-v3, assemblyai/universal-2).",
        extra={"offered": list(offered_patterns())},
    )


def model_dir(spec: ModelSpec, models_dir: Path) -> Path:
    """Local weights directory for a Whisper spec (the base model must be prepared)."""
    if spec.model == "tiny.en":
        return weights.tiny_en_dir()
    if spec.model == "base":
        return weights.base_dir(models_dir)
    raise ValueError(f"{spec.name} has no local weights")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Reads ``MEETBOT_MODELS_DIR`` (default ``~/.cache/meetbot/models``)."""
    parser = argparse.ArgumentParser(prog="python -m meetbot.transcription.models")
    parser.add_argument("--prepare", action="store_true", help="join the base weights once")
    parser.add_argument("--verify", action="store_true", help="re-hash all weights")
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    env_dir = os.environ.get("MEETBOT_MODELS_DIR")
    models_dir = args.models_dir or (Path(env_dir) if env_dir else weights.default_models_dir())
    models_dir = models_dir.expanduser()
    if not (args.prepare or args.verify):
        for spec in _SPECS:
            print(spec.name)
        return 0
    try:
        started = time.monotonic()
        with _progress_bar("whisper-base", weights.BASE_FILES["model.bin"].size) as progress:
            path = weights.prepare_base(models_dir, force=args.verify, progress=progress)
        print(f"whisper-base: {path} ({time.monotonic() - started:.2f} s)")
        if args.verify:
            print(f"whisper-tiny.en: {weights.verify_tiny_en()}")
        else:
            print(f"whisper-tiny.en: {weights.tiny_en_dir()}")
    except weights.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


@contextmanager
def _progress_bar(label: str, total: int) -> Iterator[weights.Progress | None]:
    """A Rich progress bar on stderr when it is a terminal (``make install``), else none."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


if __name__ == "__main__":
    raise SystemExit(main())
