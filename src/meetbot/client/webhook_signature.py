"""Check that a webhook came from your meetbot server (Standard Webhooks, as it signs them).

The server sends ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(space-separated ``v1,<base64 HMAC-SHA256>``; two while a secret is being rotated). The HMAC key
is the base64 after ``whsec_`` in the secret; the signed text is ``<id>.<timestamp>.<body>``.
Verify the raw body bytes as received, before parsing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from meetbot.client.errors import MeetbotClientError

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300
"""How far the timestamp may be from now (replays of old messages are refused)."""


class WebhookVerificationError(MeetbotClientError):
    """The message is not signed by this secret, or its timestamp is too old or too new."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key in (name, f"svix-{name.removeprefix('webhook-')}"):
        for k, v in headers.items():
            if k.lower() == key:
                return v
    return None


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookVerificationError("The secret is not a whsec_ secret.") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,...`` signature of one message (what the server puts in the header)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_webhook(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance: float = TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The event (``{"type", "id", "created_at", "data"}``) if ``body`` is signed by
    ``secret``; else :class:`WebhookVerificationError`. ``headers``: the request's, any case."""
    raw = body.encode() if isinstance(body, str) else body
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("Missing webhook-id, webhook-timestamp or signature.")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a number.") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("The timestamp is too far from now (a replay?).")
    expected = signature(secret, msg_id, timestamp, raw)
    offered = [s for s in signatures.split(" ") if s.startswith("v1,")]
    if not any(hmac.compare_digest(expected, s) for s in offered):
        raise WebhookVerificationError("No signature matches this secret.")
    try:
        event: dict[str, Any] = json.loads(raw)
    except ValueError as exc:
        raise WebhookVerificationError("The body is not JSON.") from exc
    return event
