"""Signed ``/media`` links for the local backend: pure functions, no I/O.

A link is ``{public_url}/media/{key}?expires=<unix seconds>&signature=<hex>``, where the
signature is HMAC-SHA256 under the control plane's secret of ``meetbot-media-v1``, the expiry
and the key. Changing any of the three invalidates it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote

_DOMAIN = b"meetbot-media-v1"


def media_signature(secret: bytes, key: str, expires: int) -> str:
    """The hex HMAC-SHA256 of (key, expires) under ``secret``."""
    if not secret:
        raise ValueError("The media signing secret must not be empty.")
    message = b"\n".join((_DOMAIN, str(expires).encode(), key.encode("utf-8", "surrogatepass")))
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signed_media_url(public_url: str, secret: bytes, key: str, expires: int) -> str:
    """The full link to ``key``, valid until the unix time ``expires`` (inclusive)."""
    signature = media_signature(secret, key, expires)
    path = quote(key, safe="/")
    return f"{public_url.rstrip('/')}/media/{path}?expires={expires}&signature={signature}"


def verify_media_signature(
    secret: bytes, key: str, expires: int | str, signature: str, now: datetime | float
) -> bool:
    """Whether ``signature`` signs (key, expires) under ``secret`` and ``now`` is not past it.

    ``now`` is a timezone-aware datetime or unix seconds. The comparison is constant-time.
    """
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return False
    if str(expires_at) != str(expires).strip() or not secret:
        return False
    now_ts = now.timestamp() if isinstance(now, datetime) else float(now)
    if now_ts > expires_at:
        return False
    expected = media_signature(secret, key, expires_at).encode("ascii")
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


def is_expired(expires: int | str, now: datetime | float) -> bool:
    """Whether a link with this ``expires`` value is past its time (malformed counts as past)."""
    try:
        expires_at = int(expires)
    except (TypeError, ValueError):
        return True
    now_ts = now.timestamp() if isinstance(now, datetime) else float(now)
    return now_ts > expires_at
