"""The data directory is its owner's only: ``0700``, and every file meetbot makes in it ``0600``.

It holds the database (SQLite), the server secret, media and runner logs. :func:`prepare`
creates it (or tightens one made by an older meetbot or by hand), makes the SQLite files
already there owner-only, and sets this process's umask to ``077`` so that whatever it (and
the runners it starts) creates later is owner-only too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600
UMASK: Final = 0o077
_DB_FILES: Final = ("meetbot.db", "meetbot.db-wal", "meetbot.db-shm", "secret.key")


def prepare(data_dir: Path) -> None:
    os.umask(UMASK)
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    data_dir.chmod(DIR_MODE)
    for name in _DB_FILES:
        path = data_dir / name
        if path.exists():
            path.chmod(FILE_MODE)
