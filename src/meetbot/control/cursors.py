"""Pagination cursors: opaque, authenticated, and scoped to one workspace and one list.

A cursor carries a row's ``seq`` (a global sequence number, which is nobody's business) sealed
with AES-SIV under a key derived from the server's secret (HKDF-SHA256, info ``meetbot cursors
v1``). The list it belongs to (``kind``, e.g. ``bots`` or ``deliveries:<endpoint id>``) and the
workspace are the associated data: a cursor opens only for the list and workspace it was made
for. AES-SIV is deterministic and needs no nonce, so a busy server never wears the key out.

- Format: base64url (no padding) of the 16-byte synthetic IV ‖ the 8-byte sealed ``seq``.
- Anything else (forged, altered, truncated, oversized, another workspace's, another list's,
  made under another server secret) → :class:`meetbot.errors.InvalidCursor` (400).

Every list of the API pages with this one codec; nothing else encodes a cursor.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meetbot.errors import InvalidCursor

INFO: Final = b"meetbot cursors v1"
MAX_LENGTH: Final = 200
"""Longer query values are refused unread (a real cursor is 32 characters)."""
_SEQ_BYTES: Final = 8


class CursorCodec:
    """Encodes and decodes the cursors of every list; the key never leaves the object."""

    __slots__ = ("_siv",)

    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 32:
            raise ValueError("the server secret must be at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=INFO).derive(server_secret)
        self._siv = AESSIV(key)

    @classmethod
    def ephemeral(cls) -> CursorCodec:
        """A codec under a random key: its cursors die with the process (tests, fakes)."""
        return cls(os.urandom(32))

    def __repr__(self) -> str:
        return "CursorCodec(<key hidden>)"

    def encode(self, kind: str, workspace_id: str, seq: int) -> str:
        if not 0 <= seq < 2**63:
            raise ValueError(f"seq out of range: {seq}")
        sealed = self._siv.encrypt(seq.to_bytes(_SEQ_BYTES, "big"), _context(kind, workspace_id))
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, kind: str, workspace_id: str, cursor: str) -> int:
        """The ``seq`` in ``cursor``; :class:`InvalidCursor` unless this codec made it for
        this list of this workspace."""
        if len(cursor) > MAX_LENGTH:
            raise InvalidCursor(f"Cursor longer than {MAX_LENGTH} characters.")
        try:
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
            plain = self._siv.decrypt(raw, _context(kind, workspace_id))
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise InvalidCursor() from exc
        if len(plain) != _SEQ_BYTES:
            raise InvalidCursor()
        return int.from_bytes(plain, "big")


def _context(kind: str, workspace_id: str) -> list[bytes]:
    return [b"v1", kind.encode(), workspace_id.encode()]
