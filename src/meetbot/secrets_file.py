"""The server's own secret (signs media URLs, encrypts stored credentials), kept in the data
dir and created on first start with owner-only permissions."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "secret.key"


def load_or_create_secret(data_dir: Path, given: str | None = None) -> bytes:
    """``given`` (``MEETBOT_SECRET``: 64 hex characters, the same for every replica) when set,
    else the data dir's ``secret.key``, created on first start."""
    if given:
        return bytes.fromhex(given)
    path = data_dir / SECRET_FILE
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex())
    try:
        os.link(tmp, path)  # first writer wins if two servers start at once
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())
