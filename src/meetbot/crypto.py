"""Encryption of stored secrets (credentials): AES-256-GCM under a key derived from the server's
secret.

- Key: HKDF-SHA256 of the 32-byte server secret (``secrets_file.load_or_create_secret``), info
  ``meetbot credentials v1``, no salt. Rotating the server secret makes every stored ciphertext
  unreadable (:class:`SecretBoxError`); credentials must then be given again.
- Each :meth:`SecretBox.seal` draws a random 96-bit nonce. The caller's *context* (e.g.
  ``"bot:<id>"``, ``"workspace:<id>"``) is the associated data: a ciphertext copied to another
  row does not open there.
- Format: ``v1.`` + base64url (no padding) of ``nonce ‖ ciphertext ‖ tag``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = "v1"
INFO: Final = b"meetbot credentials v1"
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16


class SecretBoxError(ValueError):
    """A ciphertext does not open: altered, moved to another row, or sealed under another key."""


class SecretBox:
    """Seals and opens small secrets; the key never leaves the object (nor its ``repr``)."""

    __slots__ = ("_aead",)

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(server_secret)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: bytes, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{body}"

    def open(self, token: str, context: str) -> bytes:
        """The plaintext of ``token``; :class:`SecretBoxError` unless it was sealed by this key
        for this ``context`` and not altered since."""
        version, dot, body = token.partition(".")
        if version != VERSION or not dot:
            raise SecretBoxError(f"not a {VERSION} ciphertext")
        try:
            raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretBoxError("ciphertext is not valid base64url") from exc
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise SecretBoxError("ciphertext is truncated")
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise SecretBoxError(
                f"ciphertext for {context} does not authenticate: it was altered, belongs to "
                "another record, or was sealed under another server secret"
            ) from exc

    def seal_json(self, data: Mapping[str, Any], context: str) -> str:
        return self.seal(json.dumps(data, separators=(",", ":")).encode(), context)

    def open_json(self, token: str, context: str) -> dict[str, Any]:
        try:
            value = json.loads(self.open(token, context))
        except json.JSONDecodeError as exc:
            raise SecretBoxError("ciphertext does not hold JSON") from exc
        if not isinstance(value, dict):
            raise SecretBoxError("ciphertext does not hold a JSON object")
        return value
