"""Real-time scheduling for the thread that clocks a bot's audio.

Without a sound card, Chromium plays the page's audio into a fake output stream timed by the
browser process's ``AudioThread``, at normal priority. On a busy machine that thread wakes up
late and the fake stream skips the periods it missed: the page's WebAudio graph renders less
audio than the wall time, and the recording falls behind the meeting (``drift`` in
``bench/runner_capacity.py``). Chromium already runs its other audio threads (the renderer's
``AudioOutputDevice`` and AudioWorklet threads) as ``SCHED_RR`` 8; this gives the clock thread
the same. It needs ``CAP_SYS_NICE`` (root, or a container granted it); without it nothing
changes and the bot records as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

AUDIO_THREADS: Final = frozenset({"AudioThread"})
RT_PRIORITY: Final = 8
"""Chromium's own priority for its real-time audio threads."""

Setter = Callable[[int], None]


def _set_rr(tid: int) -> None:
    os.sched_setscheduler(tid, os.SCHED_RR, os.sched_param(RT_PRIORITY))


def descendants(root: int, proc: Path = Path("/proc")) -> list[int]:
    """Every process below ``root`` (not ``root`` itself), from ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def raise_audio_threads(
    root: int | None = None, *, proc: Path = Path("/proc"), set_rr: Setter = _set_rr
) -> int:
    """Make the audio clock threads below ``root`` (default: this process) ``SCHED_RR``.

    Returns how many threads were raised; threads that vanish or may not be raised are
    skipped (never raises).
    """
    raised = 0
    for pid in descendants(os.getpid() if root is None else root, proc):
        with contextlib.suppress(OSError):
            for task in (proc / str(pid) / "task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    if (task / "comm").read_text().strip() in AUDIO_THREADS:
                        set_rr(int(task.name))
                        raised += 1
    if raised:
        log.info("audio clock: %d thread(s) at SCHED_RR %d", raised, RT_PRIORITY)
    return raised
