"""``output_audio``: the bot says a clip in the meeting (issue 16 §2).

A clip (an audio file, or a text spoken by espeak-ng) is decoded to 48 kHz mono s16le PCM
(:func:`meetbot.control.media.ffmpeg.decode_pcm`), stored under the bot's prefix
(``bots/<id>/output_audio/<clip id>.pcm``) and queued as an
:class:`~meetbot.contract.reports.OutputAudioRequest` observation; ``DELETE`` stores an
``OutputAudioStop``. Every answer to the runner carries the queue as it stands
(:attr:`~meetbot.contract.reports.Commands.output_audio`, folded by
:func:`meetbot.control.service.runners.pending_outputs`); the runner plays the first, unmuted, and
reports ``output_audio_started`` / ``_finished`` (the ``output_audio.*`` events). Any replica
answers from the database. The runner reads a clip's bytes here, with its token.
"""

from __future__ import annotations

from dataclasses import dataclass

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Status
from meetbot.contract.media_format import (
    OUTPUT_AUDIO_RATE,
    SAMPLE_WIDTH,
    output_audio_key,
    output_audio_prefix,
)
from meetbot.contract.models import Bot
from meetbot.contract.platforms import info
from meetbot.contract.reports import OutputAudioRequest, OutputAudioStop
from meetbot.control.media import ffmpeg, speech
from meetbot.control.output_audio import (
    MAX_SECONDS,
    InvalidAudio,
    InvalidVoice,
    sniff_format,
)
from meetbot.control.service.camera import BotNotInCall
from meetbot.control.service.chat import UnsupportedForPlatform
from meetbot.control.service.core import Services, new_id
from meetbot.control.service.runners import authenticate


@dataclass(frozen=True, slots=True)
class Queued:
    """A clip queued: its id and length."""

    id: str
    duration_s: float


async def decode_file(data: bytes) -> bytes:
    """An uploaded audio file as the bot's PCM; :class:`InvalidAudio` if it does not decode."""
    kind = sniff_format(data)
    try:
        pcm = await ffmpeg.decode_pcm(
            data, input_format=kind, rate=OUTPUT_AUDIO_RATE, max_seconds=MAX_SECONDS
        )
    except ffmpeg.RecordingFailed as exc:
        raise InvalidAudio(f"The audio file does not decode: {exc}") from None
    if not pcm:
        raise InvalidAudio("The audio file holds no sound.")
    return pcm


async def decode_text(text: str, voice: str) -> bytes:
    """``text`` said by espeak-ng's ``voice``, as the bot's PCM."""
    if not text.strip():
        raise errors.InvalidRequest("text: empty.", extra={"field": "text"})
    known = await speech.voices()
    if voice not in known:
        raise InvalidVoice(
            f"No voice {voice!r}; this server speaks: {', '.join(known)}.",
            extra={"field": "voice"},
        )
    wav = await speech.speak(text, voice)
    return await ffmpeg.decode_pcm(
        wav, input_format="wav", rate=OUTPUT_AUDIO_RATE, max_seconds=MAX_SECONDS
    )


async def check_bot(svc: Services, workspace_id: str, bot_id: str) -> Bot:
    """The bot, if it can say something now (before any decoding)."""
    async with svc.store.transaction(write=False) as tx:
        return _check(await tx.bots.get(bot_id, workspace_id=workspace_id))


async def output_audio(
    svc: Services, workspace_id: str, bot_id: str, pcm: bytes, *, interrupt: bool
) -> Queued:
    """Queue ``pcm`` (the bot's PCM) to be said (``interrupt``: instead of what is queued)."""
    if svc.media_storage is None:
        raise InvalidAudio("this server has no media storage for the bot's audio")
    clip_id = new_id()
    key = output_audio_key(bot_id, clip_id)
    duration = len(pcm) / (OUTPUT_AUDIO_RATE * SAMPLE_WIDTH)
    await svc.media_storage.put(key, pcm, "application/octet-stream")
    async with svc.store.transaction() as tx:
        bot = _check(await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True))
        request = OutputAudioRequest(
            at=svc.clock.now(), id=clip_id, key=key, duration_s=duration, interrupt=interrupt
        )
        await tx.observations.append(bot.id, request)
    svc.commands.notify(bot_id)
    return Queued(clip_id, duration)


async def stop_output_audio(svc: Services, workspace_id: str, bot_id: str) -> None:
    """Stop what the bot says and drop what is queued (``DELETE``)."""
    async with svc.store.transaction() as tx:
        bot = _check(await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True))
        await tx.observations.append(bot.id, OutputAudioStop(at=svc.clock.now()))
    svc.commands.notify(bot_id)


async def runner_clip(svc: Services, bot_id: str, token: str, key: str) -> bytes:
    """The clip ``key`` for the bot's runner (its token): only under its ``output_audio/``."""
    bot = await authenticate(svc, bot_id, token)
    if not key.startswith(output_audio_prefix(bot.id)) or svc.media_storage is None:
        raise errors.NotFound("No such clip for this bot.")
    try:
        return await svc.media_storage.get(key)
    except (FileNotFoundError, KeyError):
        raise errors.NotFound("No such clip for this bot.") from None


def _check(bot: Bot | None) -> Bot:
    if bot is None:
        raise errors.NotFound("No bot with this id.")
    row = info(bot.meeting.platform)
    if not row.voice:
        raise UnsupportedForPlatform(
            f"{row.title}: meetbot's adapter cannot unmute the bot on this platform"
            " (docs/platforms.md says which platforms can)."
        )
    policies.check_command(bot)
    if bot.status is not Status.RECORDING:
        raise BotNotInCall(
            f"The bot is {bot.status.value}: only a bot in the call (recording) can speak."
        )
    return bot
