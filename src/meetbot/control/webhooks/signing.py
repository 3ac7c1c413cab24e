"""Standard Webhooks signing: ``whsec_`` secrets and the three ``webhook-*`` headers."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime
from math import floor

from standardwebhooks import Webhook

from meetbot.timefmt import utc

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""Secrets hold 24 to 64 random bytes (Standard Webhooks recommends 24..64); we make 32."""


def new_secret(nbytes: int = SECRET_BYTES) -> str:
    """A fresh signing secret: ``whsec_`` + base64 of ``nbytes`` random bytes."""
    if not 24 <= nbytes <= 64:
        raise ValueError("a webhook secret holds 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def is_valid_secret(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        return False
    return 24 <= len(raw) <= 64


def sign(secret: str, msg_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt of one message."""
    return sign_all((secret,), msg_id, timestamp, body)


def sign_all(
    secrets_: Sequence[str], msg_id: str, timestamp: datetime, body: bytes
) -> dict[str, str]:
    """Sign with several secrets (current first, then one being rotated out).

    Receivers accept a message when any ``v1,`` signature matches, so a rotation never breaks a
    receiver that still holds the previous secret.
    """
    if not secrets_:
        raise ValueError("at least one secret is needed")
    at = utc(timestamp)
    text = body.decode("utf-8")
    signatures = [Webhook(s).sign(msg_id=msg_id, timestamp=at, data=text) for s in secrets_]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
