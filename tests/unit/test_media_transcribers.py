"""Model name → transcriber: none, cached Whisper, vendor keys from credentials."""

from __future__ import annotations

import pytest

from meetbot.config import Settings
from meetbot.control.media.transcribers import (
    MissingApiKey,
    Transcribers,
    VendorCredentials,
    transcriber_for,
)
from meetbot.transcription.vendors import (
    AssemblyAIStream,
    AssemblyAITranscriber,
    DeepgramTranscriber,
    OpenAITranscriber,
)
from meetbot.transcription.whisper import WhisperTranscriber

SETTINGS = Settings()


def test_none_has_no_transcriber() -> None:
    assert transcriber_for("none", SETTINGS) is None


def test_whisper_is_cached_per_name_and_mode() -> None:
    first = transcriber_for("whisper-tiny.en", SETTINGS)
    assert isinstance(first, WhisperTranscriber)
    assert transcriber_for("whisper-tiny.en", SETTINGS) is first
    live = Transcribers(SETTINGS)("whisper-tiny.en", live=True)
    assert live is not first
    assert isinstance(live, WhisperTranscriber)
    assert live.options.beam_size == 1


@pytest.mark.parametrize("model", ["deepgram/nova-3", "openai/whisper-1"])
def test_vendor_without_key_is_missing_api_key(model: str) -> None:
    with pytest.raises(MissingApiKey):
        transcriber_for(model, SETTINGS, VendorCredentials())


def test_vendor_with_key() -> None:
    creds = VendorCredentials(deepgram_api_key="dg", openai_api_key="oa")
    assert isinstance(transcriber_for("deepgram/nova-3", SETTINGS, creds), DeepgramTranscriber)
    assert isinstance(transcriber_for("openai/whisper-1", SETTINGS, creds), OpenAITranscriber)


def test_given_keys_win_per_vendor_over_the_settings() -> None:
    settings = Settings(deepgram_api_key="server-dg", openai_api_key="server-oa")
    given = VendorCredentials(deepgram_api_key="bot-dg")
    merged = given.over(VendorCredentials.from_settings(settings))
    assert (merged.deepgram_api_key, merged.openai_api_key) == ("bot-dg", "server-oa")
    assert isinstance(transcriber_for("openai/whisper-1", settings, given), OpenAITranscriber)
    via = Transcribers(SETTINGS, VendorCredentials(openai_api_key="deploy-oa"))
    assert isinstance(via("openai/whisper-1", credentials=given), OpenAITranscriber)
    with pytest.raises(MissingApiKey):
        via("deepgram/nova-3", credentials=VendorCredentials(openai_api_key="x"))


def test_assemblyai_key_and_urls_come_from_the_bot_else_the_settings() -> None:
    settings = Settings(
        assemblyai_api_key="server-aai",
        assemblyai_base_url="https://api.eu.assemblyai.com",
    )
    batch = transcriber_for("assemblyai/universal-2", settings)
    assert isinstance(batch, AssemblyAITranscriber)
    assert batch.base_url == "https://api.eu.assemblyai.com"
    given = VendorCredentials.from_keys({"assemblyai_api_key": "bot-aai", "google": "ignored"})
    assert given == VendorCredentials(assemblyai_api_key="bot-aai")
    stream = Transcribers(settings).stream("assemblyai/universal-streaming", credentials=given)
    assert isinstance(stream, AssemblyAIStream)
    assert stream.url == "wss://streaming.eu.assemblyai.com"
    assert stream.model == "universal-streaming-english"
    assert stream._api_key == "bot-aai"
    assert Transcribers(settings).stream("whisper-tiny.en") is None
    assert Transcribers(settings).stream("deepgram/nova-3") is None
    with pytest.raises(MissingApiKey):
        Transcribers(SETTINGS).stream("assemblyai/universal-2", credentials=VendorCredentials())
