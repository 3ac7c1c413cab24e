"""Credentials: sealed before they reach the store, opened only to hand them to a runner or a
transcription vendor, never shown (the API shows which kinds are set).

Kinds: ``google`` / ``microsoft`` (``{"email", "password"}``), ``zoom`` (``{"zak",
"obf_token"}``), ``deepgram_api_key`` / ``openai_api_key`` / ``assemblyai_api_key`` (strings).
A bot's own credentials (sealed with context ``bot:<id>``) win kind by kind over its
workspace's defaults (context ``workspace:<id>``); vendor keys fall back further to the
server's settings. A bot whose transcription model needs a vendor key is refused at create
(and PATCH) when none of the three has one (:func:`require_transcription_key`).

A runner gets only the kind its meeting platform signs in with (the platform table's
``credential_kind``: Google Meet → ``google``, Teams → ``microsoft``, Zoom → ``zoom``).
A ciphertext that does not open raises :class:`~meetbot.errors.CredentialsUnreadable`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from pydantic import SecretStr

from meetbot import errors
from meetbot.contract.models import CREDENTIAL_KINDS, Bot, Platform
from meetbot.contract.platforms import PLATFORMS
from meetbot.control.ports import Tx
from meetbot.control.service.core import Services
from meetbot.crypto import SecretBox, SecretBoxError
from meetbot.transcription.models import VENDOR_LABELS, ModelSpec

KINDS: Final = CREDENTIAL_KINDS
VENDOR_KINDS: Final = ("deepgram_api_key", "openai_api_key", "assemblyai_api_key")
PLATFORM_KIND: Final[Mapping[Platform, str]] = {
    row.platform: row.credential_kind for row in PLATFORMS if row.credential_kind is not None
}
UNREADABLE: Final = "credentials_unreadable"


def bot_context(bot_id: str) -> str:
    return f"bot:{bot_id}"


def workspace_context(workspace_id: str) -> str:
    return f"workspace:{workspace_id}"


def kinds_of(data: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(kind for kind in KINDS if data.get(kind))


def _box(svc: Services) -> SecretBox:
    if svc.secret_box is None:
        raise errors.CredentialsUnreadable("This server has no secret to seal credentials with.")
    return svc.secret_box


def _open(svc: Services, token: str, context: str) -> dict[str, Any]:
    try:
        return _box(svc).open_json(token, context)
    except SecretBoxError as exc:
        raise errors.CredentialsUnreadable(
            f"Stored credentials cannot be decrypted: {exc}."
        ) from exc


def seal_for_bot(svc: Services, bot: Bot, data: Mapping[str, Any] | None) -> Bot:
    """The bot with ``data`` as its own credentials (none when ``data`` is empty)."""
    data = {k: v for k, v in (data or {}).items() if k in KINDS and v}
    if not data:
        return bot.evolve(credentials_ciphertext=None, credential_kinds=())
    token = _box(svc).seal_json(data, bot_context(bot.id))
    return bot.evolve(credentials_ciphertext=token, credential_kinds=kinds_of(data))


async def lookup(
    svc: Services,
    tx: Tx,
    bot: Bot,
    wanted: Collection[str],
    shared: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The ``wanted`` kinds that are set: the bot's own, else its workspace's. ``shared``: the
    workspaces' sealed credentials already read in this transaction (a batch reads each once)."""
    found: dict[str, Any] = {}
    if bot.credentials_ciphertext and any(k in bot.credential_kinds for k in wanted):
        own = _open(svc, bot.credentials_ciphertext, bot_context(bot.id))
        found = {k: own[k] for k in wanted if own.get(k)}
    missing = [k for k in wanted if k not in found]
    if missing:
        if shared is None:
            token = await tx.credentials.get(bot.workspace_id)
        elif bot.workspace_id in shared:
            token = shared[bot.workspace_id]
        else:
            token = shared[bot.workspace_id] = await tx.credentials.get(bot.workspace_id)
        if token:
            shared = _open(svc, token, workspace_context(bot.workspace_id))
            found.update({k: shared[k] for k in missing if shared.get(k)})
    return found


async def platform_credentials(
    svc: Services, tx: Tx, bot: Bot, shared: dict[str, str | None] | None = None
) -> dict[str, Any] | None:
    """What the bot's runner signs in with (only its platform's kind), or ``None``
    (``shared``: see :func:`lookup`)."""
    kind = PLATFORM_KIND.get(bot.meeting.platform)
    if kind is None:
        return None
    return await lookup(svc, tx, bot, (kind,), shared) or None


async def vendor_keys(svc: Services, bot: Bot) -> dict[str, str]:
    """The bot's (else its workspace's) transcription vendor keys that are set."""
    async with svc.store.transaction(write=False) as tx:
        return await lookup(svc, tx, bot, VENDOR_KINDS)


def _server_has(svc: Services, kind: str) -> bool:
    value: object = getattr(svc.settings, kind, None)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value)


async def require_transcription_key(
    svc: Services,
    workspace_id: str,
    spec: ModelSpec,
    *,
    own: Mapping[str, Any] | None = None,
    bot: Bot | None = None,
) -> None:
    """Raise :class:`~meetbot.errors.MissingTranscriptionKey` when ``spec`` needs a vendor key
    and none is set: not in the request's credentials ``own`` (else, when ``own`` is ``None``,
    in ``bot``'s stored ones), not in the workspace's, not in the server's settings."""
    kind, setting = spec.engine.key_kind, spec.engine.key_setting
    if kind is None or setting is None:
        return
    if _server_has(svc, kind):
        return
    if own is not None:
        if own.get(kind):
            return
    elif bot is not None and kind in bot.credential_kinds:
        return
    async with svc.store.transaction(write=False) as tx:
        token = await tx.credentials.get(workspace_id)
    if token and _open(svc, token, workspace_context(workspace_id)).get(kind):
        return
    vendor = VENDOR_LABELS[spec.engine]
    raise errors.MissingTranscriptionKey(
        f"transcription_model {spec.name!r} needs a {vendor} API key and none is set: give "
        f'one in the bot\'s credentials ("credentials": {{"{kind}": "..."}}, or the '
        f"workspace's with PUT /api/v1/credentials/), or set {setting} on the server.",
        extra={"credential": kind, "setting": setting},
    )


# --- workspace defaults ---------------------------------------------------------------------


async def put_workspace_credentials(
    svc: Services, workspace_id: str, data: Mapping[str, Any]
) -> tuple[str, ...]:
    """Replace the workspace's default credentials; returns the kinds now set."""
    data = {k: v for k, v in data.items() if k in KINDS and v}
    token = _box(svc).seal_json(data, workspace_context(workspace_id))
    async with svc.store.transaction() as tx:
        await tx.credentials.put(workspace_id, token, svc.clock.now())
    return kinds_of(data)


async def get_workspace_credentials(svc: Services, workspace_id: str) -> tuple[str, ...]:
    """The kinds of default credentials the workspace has set."""
    async with svc.store.transaction(write=False) as tx:
        token = await tx.credentials.get(workspace_id)
    if token is None:
        return ()
    return kinds_of(_open(svc, token, workspace_context(workspace_id)))


async def delete_workspace_credentials(svc: Services, workspace_id: str) -> None:
    async with svc.store.transaction() as tx:
        await tx.credentials.delete(workspace_id)
