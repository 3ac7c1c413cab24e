"""The delivery child of ``meetbot serve`` (MEETBOT_DELIVERY=process): started, ready, stopped."""

from __future__ import annotations

import asyncio
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


async def _idle(pid: int, timeout: float = 60.0) -> None:
    """Until the process spends no CPU for half a second (its imports are done: it waits)."""
    process = psutil.Process(pid)
    deadline = asyncio.get_running_loop().time() + timeout
    last = -1.0
    while asyncio.get_running_loop().time() < deadline:
        used = sum(process.cpu_times()[:2])
        if used == last:
            return
        last = used
        await asyncio.sleep(0.5)
    raise AssertionError("the child never went idle")


async def test_a_held_child_imports_then_waits_for_its_release(tmp_path: Path) -> None:
    """``meetbot serve`` spawns the child before its own imports; the child must not open the
    store or the secret before the server's build made them."""
    data = tmp_path / "data"
    child = DeliveryProcess(data, held=True)
    await child.spawn()
    try:
        assert child.pid is not None
        assert "--wait-go" in psutil.Process(child.pid).cmdline()
        await _idle(child.pid)
        assert not child.ready
        assert not data.exists()  # neither the store nor the secret opened
        await child.start()  # releases it
        assert child.ready
        assert any(data.iterdir())  # it opened them once released
    finally:
        await child.close()
    assert child.returncode == 0
    assert child.starts == 1


async def test_a_held_child_never_released_exits_when_the_server_closes_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    child = DeliveryProcess(data, held=True)
    await child.spawn()
    assert child.pid is not None
    await child.close()
    assert child.returncode == 0
    assert not data.exists()
