"""The media lease: one control plane at a time works on a bot's recording and transcript.

Replicas sharing a database all scan for bots in ``processing``/``transcribing``; each takes
the bot's lease (``media:<bot id>``, :class:`meetbot.ports.LeaseRepo`) before working on it
and skips a bot whose lease another holds. The lease lasts ``seconds`` and is renewed every
third of that while the work goes on (a long transcription), then released; a replica that
dies leaves a lease that expires, and another takes the bot over at its next scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

from meetbot.contract.models import Bot
from meetbot.control.ports import Tx
from meetbot.control.service import Services

log = logging.getLogger("meetbot.control.media")


def lease_name(bot_id: str) -> str:
    return f"media:{bot_id}"


class MediaLease:
    def __init__(self, services: Services, seconds: float = 60.0) -> None:
        self.services = services
        self.seconds = seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who holds the leases this process takes."""
        self._released: set[str] = set()
        self.renewals = 0

    async def take(self, bot_id: str) -> tuple[bool, Bot | None]:
        """Take (or renew) the bot's lease and read the bot, in one transaction; ``False``
        (and no bot) if another control plane holds it."""
        self._released.discard(bot_id)  # held again from here: release() must release it
        now = self.services.clock.now()
        until = now + timedelta(seconds=self.seconds)
        async with self.services.store.transaction() as tx:
            if not await tx.leases.acquire(lease_name(bot_id), self.owner, until, now):
                return False, None
            return True, await tx.bots.get(bot_id)

    @contextlib.asynccontextmanager
    async def renewing(self, bot_id: str) -> AsyncIterator[None]:
        """Renew the lease every third of its length while the block runs."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.seconds / 3)
                if bot_id in self._released:  # the work ended meanwhile
                    return
                try:
                    held, _ = await self.take(bot_id)
                except Exception:
                    log.exception("bot %s: renewing the media lease failed", bot_id)
                    continue
                if not held:
                    log.warning("bot %s: the media lease passed to another replica", bot_id)
                    return
                self.renewals += 1

        task = asyncio.create_task(renew(), name=f"media:lease:{bot_id}")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def release_in(self, tx: Tx, bot_id: str) -> None:
        """Give the lease up in the caller's transaction (the one that ends the bot's media
        work); call :meth:`released` once it has committed."""
        await tx.leases.release(lease_name(bot_id), self.owner)

    def released(self, bot_id: str) -> None:
        """The lease was given up in a committed transaction: :meth:`release` has nothing to do."""
        self._released.add(bot_id)

    async def release(self, bot_id: str) -> None:
        """Give the lease up (a failure is logged: the lease expires by itself)."""
        if bot_id in self._released:
            self._released.discard(bot_id)
            return
        try:
            async with self.services.store.transaction() as tx:
                await tx.leases.release(lease_name(bot_id), self.owner)
        except Exception:
            log.exception("bot %s: releasing the media lease failed", bot_id)
