"""Webhook endpoints' signing secrets are sealed at rest with the server's :class:`SecretBox`.

The service seals a secret before it is stored (``webhook_endpoint:<id>`` is the associated
data: a sealed secret copied to another endpoint's row does not open there) and hands the
plaintext back once, in the response that shows it. The delivery worker opens the secrets of
each delivery it claims just before signing. A value that is not sealed (``whsec_...``: an
endpoint made before secrets were sealed, or a store without a server secret, as in tests) is
used as it is. A sealed secret that does not open (the server secret was replaced) signs
nothing: the delivery fails with "no signing secret", as it would with none.

Per-bot webhook secrets are not sealed yet (see docs/security.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from meetbot.crypto import VERSION, SecretBox, SecretBoxError

log = logging.getLogger("meetbot.control.webhooks")

_SEALED = VERSION + "."


def context(endpoint_id: str) -> str:
    return f"webhook_endpoint:{endpoint_id}"


def seal(box: SecretBox | None, endpoint_id: str, secret: str) -> str:
    """``secret`` as stored: sealed under ``box``, or as is without one."""
    return box.seal(secret.encode(), context(endpoint_id)) if box else secret


def is_sealed(value: str) -> bool:
    return value.startswith(_SEALED)


def open_all(
    box: SecretBox | None, endpoint_id: str | None, values: Iterable[str]
) -> tuple[str, ...]:
    """The plaintexts of ``values`` (stored secrets); those that do not open are left out."""
    opened: list[str] = []
    for value in values:
        if not is_sealed(value) or endpoint_id is None:
            opened.append(value)
            continue
        if box is None:
            log.error(
                "endpoint %s: its secret is sealed and no server secret is loaded", endpoint_id
            )
            continue
        try:
            opened.append(box.open(value, context(endpoint_id)).decode())
        except SecretBoxError as exc:
            log.error("endpoint %s: its signing secret does not open: %s", endpoint_id, exc)
    return tuple(opened)
