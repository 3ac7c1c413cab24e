"""Stopping the media workers: let tasks finish for a while, then cancel the late ones."""

from __future__ import annotations

import asyncio
from collections.abc import Collection


async def drain(tasks: Collection[asyncio.Task[None]], timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``tasks``, cancel those still running, and wait for
    every one to end (their outcomes retrieved, none raised)."""
    if not tasks:
        return
    _, late = await asyncio.wait(tasks, timeout=timeout)
    for task in late:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
