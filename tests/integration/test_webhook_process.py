"""The delivery child of ``meetbot serve`` (MEETBOT_DELIVERY=process): started, ready, stopped."""

from __future__ import annotations

from pathlib import Path

import psutil

from meetbot.control.webhooks.process import DeliveryProcess


async def test_start_returns_once_the_child_delivers_and_close_stops_it(tmp_path: Path) -> None:
    """Events of the server's first moments must not wait for the child's imports."""
    child = DeliveryProcess(tmp_path / "data")
    await child.start()
    try:
        assert child.ready
        assert child.pid is not None
        assert "deliver" in psutil.Process(child.pid).cmdline()
        child.notify()  # a nudge is one byte down the pipe
    finally:
        await child.close()
    assert child.returncode == 0
    assert child.starts == 1
