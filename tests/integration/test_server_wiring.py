"""``server.build`` wires the workers to the service's reactions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from meetbot.config import Settings
from meetbot.contract.lifecycle import Status
from meetbot.control.launchers.local import LocalLauncher
from meetbot.control.server import build
from meetbot.testing.builders import make_bot


async def test_a_runner_exit_the_launcher_reports_fails_the_bot(tmp_path: Path) -> None:
    """The launcher is built before the services; the exit it reports still reaches
    ``runner_lost`` (no runner is started: the launcher's report is called directly)."""
    settings = Settings(_env_file=None, data_dir=tmp_path, launcher="local", delivery="inline")  # type: ignore[call-arg]
    plane = await build(settings)
    svc = plane.services
    try:
        assert isinstance(svc.launcher, LocalLauncher)
        assert svc.launcher.on_exit is not None
        bot = make_bot(status=Status.RECORDING)
        async with svc.store.transaction() as tx:
            await tx.bots.insert(bot)
        svc.launcher.on_exit(bot.id, -9)
        for _ in range(200):
            async with svc.store.transaction(write=False) as tx:
                got = await tx.bots.get(bot.id)
            assert got is not None
            if got.status is Status.FAILED:
                break
            await asyncio.sleep(0.01)
        assert (got.status, got.sub_code) == (Status.FAILED, "bot_process_lost")
    finally:
        await svc.store.close()
