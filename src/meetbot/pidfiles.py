"""One small JSON file per runner process: ``<data_dir>/runners/`` for ``meetbot serve``'s own
agent (the single-machine launcher), ``<data_dir>/agent/runners/`` for a fleet agent.

They let a restarted control plane or agent find the busy runners its predecessor started
(runners outlive it: they finish their meeting) and adopt them: count them against capacity
and, for an agent, report their bots (``token_sha`` lets a hand-off delivered again start
nothing when the adopted runner already has that bot and token). Used by
``agent/processes.py`` (:class:`~meetbot.agent.processes.ProcessHost`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RUNNER_MARK = "meetbot.runner"
"""What a runner's command line contains (``python -m meetbot.runner``)."""


@dataclass(frozen=True, slots=True)
class PidRecord:
    pid: int
    slot: str
    started_at: float
    """``time.time()`` at launch."""
    bot_id: str | None = None
    log: str | None = None
    token_sha: str | None = None
    """The runner token's :func:`token_digest`: a hand-off delivered again to a restarted
    agent starts nothing when the adopted runner already has that bot and token."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class PidDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _file(self, pid: int) -> Path:
        return self.path / f"{pid}.json"

    def write(self, record: PidRecord) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{record.pid}.json.tmp"
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self._file(record.pid))

    def remove(self, pid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(pid).unlink()

    def records(self) -> list[PidRecord]:
        """Every readable record (unreadable files are removed)."""
        found: list[PidRecord] = []
        if not self.path.is_dir():
            return found
        for file in sorted(self.path.glob("[0-9]*.json")):
            try:
                found.append(PidRecord(**json.loads(file.read_text())))
            except (OSError, ValueError, TypeError):
                with contextlib.suppress(OSError):
                    file.unlink()
        return found


def runner_alive(pid: int) -> bool:
    """Is ``pid`` a live (not zombie) process whose command line is a meetbot runner?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc") / str(pid)
    if not proc.exists():  # no procfs: trust kill(0)
        return True
    try:
        status = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    if status.rpartition(")")[2].split()[0:1] == ["Z"]:
        return False
    return RUNNER_MARK in cmdline
