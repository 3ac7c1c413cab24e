"""Signing in to the dashboard: a sealed session cookie and its CSRF token.

The cookie holds, sealed with AES-256-GCM under a key derived from the server's secret (HKDF,
info ``meetbot dashboard sessions v1``), the SHA-256 hash of the API key (the key itself never
leaves the sign-in request), the session's CSRF token and when it was issued. Each request opens
it and looks the key hash up as the API does, so a revoked key's session stops working.

- Cookie ``meetbot_session``: ``HttpOnly``, ``SameSite=Strict``, ``Path=/dashboard``, and
  ``Secure`` when ``MEETBOT_PUBLIC_URL`` is https. It lives :data:`SESSION_TTL`.
- Every form carries the session's CSRF token (``csrf``); a POST whose token is not the
  session's is refused (403). The sign-in form, before any session exists, uses a double-submit
  cookie (``meetbot_signin``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO: Final = b"meetbot dashboard sessions v1"
COOKIE: Final = "meetbot_session"
SIGNIN_COOKIE: Final = "meetbot_signin"
PATH: Final = "/dashboard"
SESSION_TTL: Final = timedelta(hours=12)
_NONCE: Final = 12
_AD: Final = b"dashboard session"
_MAX_COOKIE: Final = 1000


@dataclass(frozen=True, slots=True)
class Session:
    key_hash: str
    csrf: str
    issued_at: float


class SessionSealer:
    """Seals and opens session cookies; the key never leaves the object."""

    __slots__ = ("_aead",)

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(server_secret)
        self._aead = AESGCM(key)

    @classmethod
    def ephemeral(cls) -> SessionSealer:
        return cls(os.urandom(32))

    def __repr__(self) -> str:
        return "SessionSealer(<key hidden>)"

    def new(self, key_hash: str, now: float | None = None) -> tuple[Session, str]:
        """A fresh session for ``key_hash`` and its cookie value."""
        session = Session(key_hash, secrets.token_urlsafe(24), time.time() if now is None else now)
        plain = json.dumps({"k": session.key_hash, "c": session.csrf, "t": session.issued_at})
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, plain.encode(), _AD)
        return session, base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session in ``cookie``; None if absent, altered, foreign or expired."""
        if not cookie or len(cookie) > _MAX_COOKIE:
            return None
        try:
            raw = base64.b64decode(cookie + "=" * (-len(cookie) % 4), altchars=b"-_", validate=True)
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _AD)
            data = json.loads(plain)
            session = Session(str(data["k"]), str(data["c"]), float(data["t"]))
        except (binascii.Error, ValueError, InvalidTag, KeyError, TypeError):
            return None
        age = (time.time() if now is None else now) - session.issued_at
        if not 0 <= age < SESSION_TTL.total_seconds():
            return None
        return session


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of CSRF tokens (an empty one never matches)."""
    return bool(expected and given) and hmac.compare_digest(expected, given or "")


def new_token() -> str:
    return secrets.token_urlsafe(24)
