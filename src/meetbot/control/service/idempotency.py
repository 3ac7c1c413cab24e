"""The first answer to an idempotent create, as stored: sealed, because it shows the bot's
``webhook_secret`` once and a repeat must get it again, byte for byte.

The answer is sealed under the server's :class:`~meetbot.crypto.SecretBox`, bound to its
workspace and key (``idempotency:<workspace id>:<key>``): the record keeps no secret in clear.
A record stored before answers were sealed (its body is the JSON itself) is given back as it
is; so is every answer on a server without a secret (as in tests).
"""

from __future__ import annotations

import logging

from meetbot import errors
from meetbot.control.service.core import Services
from meetbot.crypto import VERSION, SecretBoxError

log = logging.getLogger("meetbot.control.service.idempotency")

_SEALED = (VERSION + ".").encode()


def context(workspace_id: str, key: str) -> str:
    return f"idempotency:{workspace_id}:{key}"


def seal_answer(svc: Services, workspace_id: str, key: str, body: bytes) -> bytes:
    """``body`` as the record stores it."""
    if svc.secret_box is None:
        return body
    return svc.secret_box.seal(body, context(workspace_id, key)).encode()


def open_answer(svc: Services, workspace_id: str, key: str, stored: bytes) -> bytes:
    """The answer a repeat gets: ``stored`` opened (or as is, when it was never sealed)."""
    if not stored.startswith(_SEALED):
        return stored
    try:
        if svc.secret_box is None:
            raise SecretBoxError("no server secret is loaded")
        return svc.secret_box.open(stored.decode(), context(workspace_id, key))
    except SecretBoxError as exc:
        log.error(
            "idempotency key of workspace %s: its answer does not open: %s", workspace_id, exc
        )
        raise errors.IdempotencyKeyReused(
            "The first answer to this Idempotency-Key cannot be read back (the server's secret "
            "changed): send the request with a new key."
        ) from exc
