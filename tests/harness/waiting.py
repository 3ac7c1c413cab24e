"""Waiting in tests for what another task, thread or process does: poll a check until it holds.

A fixed ``sleep`` before an assertion guesses how fast the machine is; on a loaded CI runner the
guess fails. These poll instead and fail with a message once a generous ``timeout`` has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(
    check: Callable[[], bool], timeout: float = 30.0, *, every: float = 0.005, what: str = ""
) -> None:
    """Let the event loop run until ``check()`` holds; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or check}")
        await asyncio.sleep(every)


def wait_until(
    check: Callable[[], bool], timeout: float = 30.0, *, every: float = 0.05, what: str = ""
) -> None:
    """Block until ``check()`` holds; ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or check}")
        time.sleep(every)
