"""Webhook signing secrets are sealed at rest with the server's :class:`SecretBox`.

Both kinds: an endpoint's (``webhook_endpoint:<id>`` is the associated data: a sealed secret
copied to another endpoint's row does not open there) and a bot's own ``webhook_secret``
(``bot_webhook:<bot id>``). The service seals a secret before it is stored and hands the
plaintext back once, in the response that shows it. A delivery row copies its target's stored
(sealed) value; the delivery worker opens the secrets of each delivery it claims just before
signing. A value that is not sealed (``whsec_...``: a secret stored before secrets were sealed,
or a store without a server secret, as in tests) is used as it is. A sealed secret that does not
open (the server secret was replaced) signs nothing: the delivery fails with "no signing
secret", as it would with none.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from meetbot.crypto import VERSION, SecretBox, SecretBoxError

log = logging.getLogger("meetbot.control.webhooks")

_SEALED = VERSION + "."


def context(endpoint_id: str) -> str:
    return f"webhook_endpoint:{endpoint_id}"


def bot_context(bot_id: str) -> str:
    return f"bot_webhook:{bot_id}"


def seal(box: SecretBox | None, endpoint_id: str, secret: str) -> str:
    """An endpoint's ``secret`` as stored: sealed under ``box``, or as is without one."""
    return box.seal(secret.encode(), context(endpoint_id)) if box else secret


def seal_for_bot(box: SecretBox | None, bot_id: str, secret: str) -> str:
    """A bot's own ``webhook_secret`` as stored: sealed under ``box``, or as is without one."""
    return box.seal(secret.encode(), bot_context(bot_id)) if box else secret


def target_context(endpoint_id: str | None, bot_id: str | None) -> str | None:
    """The associated data of a delivery's secrets: its endpoint's, else its bot's."""
    if endpoint_id is not None:
        return context(endpoint_id)
    return bot_context(bot_id) if bot_id is not None else None


def is_sealed(value: str) -> bool:
    return value.startswith(_SEALED)


def open_all(box: SecretBox | None, target: str | None, values: Iterable[str]) -> tuple[str, ...]:
    """The plaintexts of ``values`` (stored secrets of the target whose context is
    ``target``, see :func:`target_context`); those that do not open are left out."""
    opened: list[str] = []
    for value in values:
        if not is_sealed(value) or target is None:
            opened.append(value)
            continue
        if box is None:
            log.error("%s: its secret is sealed and no server secret is loaded", target)
            continue
        try:
            opened.append(box.open(value, target).decode())
        except SecretBoxError as exc:
            log.error("%s: its signing secret does not open: %s", target, exc)
    return tuple(opened)


def open_one(box: SecretBox | None, target: str, value: str | None) -> str | None:
    """One stored secret's plaintext (``None`` when there is none or it does not open)."""
    if value is None:
        return None
    opened = open_all(box, target, (value,))
    return opened[0] if opened else None
