"""The bot's picture as its camera (issue 16 §4): ``bot_image`` on create, ``output_video``.

An image is checked (:mod:`meetbot.control.bot_image`), stored in media storage under the
bot's prefix (``bots/<id>/camera/<digest>.<png|jpeg>``), and its key kept on the bot
(``Bot.bot_image``). The runner gets the key in its assignment and, while it runs, in every
answer (:attr:`meetbot.contract.reports.Commands.camera`, a state like ``paused``): a changed
key is a new picture to show. No image bytes travel on the report channel.
"""

from __future__ import annotations

from meetbot import errors
from meetbot.contract import policies
from meetbot.contract.lifecycle import Status
from meetbot.contract.media_format import camera_key, camera_prefix
from meetbot.contract.models import Bot
from meetbot.control.bot_image import (
    MAX_BYTES,
    BotImage,
    InvalidBotImage,
    InvalidBotImageUrl,
    check_image,
    decode_base64,
    is_url,
)
from meetbot.control.service.core import Services
from meetbot.control.service.runners import authenticate


class BotNotInCall(errors.Conflict):
    """``output_video`` for a bot that is not in the call (not ``recording``)."""

    code = "bot_not_in_call"


async def read_image(svc: Services, value: str) -> BotImage:
    """The checked image a client sent: base64 (plain or a data URL) or an https URL, fetched
    under the webhook egress rules."""
    if svc.media_storage is None:
        raise InvalidBotImage("this server has no media storage for bot images")
    if is_url(value):
        if svc.image_fetcher is None:
            raise InvalidBotImageUrl("this server does not fetch image URLs")
        data = await svc.image_fetcher.fetch(value, MAX_BYTES)
    else:
        data = decode_base64(value)
    return check_image(data)


async def store_image(svc: Services, bot_id: str, image: BotImage) -> str:
    """Put the image under the bot's prefix; its key."""
    assert svc.media_storage is not None  # read_image refused the image otherwise
    key = camera_key(bot_id, image.digest, image.kind)
    await svc.media_storage.put(key, image.data, image.content_type)
    return key


async def output_video(svc: Services, workspace_id: str, bot_id: str, image: BotImage) -> Bot:
    """Show ``image`` as the bot's camera from now on; only a bot in the call takes one."""
    async with svc.store.transaction(write=False) as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id)
    _check_in_call(bot)
    key = await store_image(svc, bot_id, image)
    async with svc.store.transaction() as tx:
        bot = await tx.bots.get(bot_id, workspace_id=workspace_id, for_update=True)
        bot = _check_in_call(bot)
        if bot.bot_image != key:
            bot = bot.evolve(bot_image=key, updated_at=svc.clock.now())
            await tx.bots.update(bot)
    svc.commands.notify(bot.id)  # its runner's long poll answers with the new key
    return bot


async def runner_picture(svc: Services, bot_id: str, token: str, key: str) -> bytes:
    """The picture ``key`` for the bot's runner (its token): only a key under the bot's own
    ``camera/`` prefix. Runners read pictures here, not from storage: they may hold no
    storage credentials (upload-only targets)."""
    bot = await authenticate(svc, bot_id, token)
    if not key.startswith(camera_prefix(bot.id)) or svc.media_storage is None:
        raise errors.NotFound("No such picture for this bot.")
    try:
        return await svc.media_storage.get(key)
    except (FileNotFoundError, KeyError):
        raise errors.NotFound("No such picture for this bot.") from None


def _check_in_call(bot: Bot | None) -> Bot:
    if bot is None:
        raise errors.NotFound("No bot with this id.")
    policies.check_command(bot)
    if bot.status is not Status.RECORDING:
        raise BotNotInCall(
            f"The bot is {bot.status.value}: only a bot in the call (recording) can change"
            " its picture."
        )
    return bot
