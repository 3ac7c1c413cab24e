"""Webhook delivery in its own OS process, so it has a core of its own (``MEETBOT_DELIVERY``).

``meetbot serve`` starts ``meetbot deliver --data-dir ...`` as a child (:class:`DeliveryProcess`)
with the same environment, so the same settings. The child's stdin is a pipe from the server:
each byte written to it is a nudge (events were committed: look for due deliveries now), and its
end of file means the server is gone (stopped, or killed with -9), so the child stops claiming,
lets in-flight sends finish for a while and exits (:func:`run_child`). The child also looks for
due deliveries every :data:`POLL_INTERVAL` seconds, so a nudge lost to a full pipe or a restart
only delays a delivery. A child that dies is started again after :data:`RESTART_DELAY` seconds.

``meetbot serve`` spawns the child first thing (``held``, :meth:`DeliveryProcess.spawn`), so
the child's imports overlap the server's own imports and build; a held child imports, then
waits for one byte on its stdin (``--wait-go``) before it opens the store and the secret, which
the server sends once its build has made them (:meth:`DeliveryProcess.release`, called by
:meth:`~DeliveryProcess.start`). This module imports no more than it needs to spawn the child.

Nothing here changes the guarantees: the worker holds every delivery under a lease in the
database, so a killed child or server leaves leases that expire and are claimed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meetbot.config import Settings
    from meetbot.control.webhooks.delivery import DeliveryWorker

log = logging.getLogger("meetbot.control.webhooks")
POLL_INTERVAL = 0.2
RESTART_DELAY = 1.0
STOP_GRACE = 5.0
"""Seconds the child gets beyond its drain before it is terminated."""
READY_WAIT = 30.0
"""Seconds the server's startup waits for the first child to be delivering."""


class DeliveryProcess:
    """The server's side: start the child, nudge it, start it again if it dies, stop it."""

    def __init__(self, data_dir: Path, *, drain_timeout: float = 10.0, held: bool = False) -> None:
        """``held``: each child waits for :meth:`release` before it opens the store."""
        self._command = [
            sys.executable,
            "-m",
            "meetbot.cli",
            "deliver",
            "--data-dir",
            str(data_dir),
            *(["--wait-go"] if held else []),
        ]
        self._released = not held
        self._released_to: asyncio.subprocess.Process | None = None
        self._drain_timeout = drain_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        self._spawned = asyncio.Event()
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def ready(self) -> bool:
        """A child has said it delivers."""
        return self._ready.is_set()

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    def notify(self) -> None:
        """Events were committed: one byte down the pipe, unless one is still on its way."""
        proc = self._proc
        if not self._released or proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        transport = proc.stdin.transport
        if transport.get_write_buffer_size() == 0:
            with contextlib.suppress(OSError):
                proc.stdin.write(b"!")

    async def spawn(self) -> None:
        """Start the child (once); returns once its process exists, without waiting for it
        to deliver (so a caller's blocking work that follows overlaps the child's)."""
        self._supervising()
        assert self._task is not None
        spawned = asyncio.ensure_future(self._spawned.wait())
        await asyncio.wait((spawned, self._task), return_when=asyncio.FIRST_COMPLETED)
        spawned.cancel()  # the task ended first: it could not start the child (start says)

    def _supervising(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name="webhooks-process")

    def release(self) -> None:
        """The store and the secret exist: a held child may open them (this one and every
        child started again later)."""
        self._released = True
        self._go()

    def _go(self) -> None:
        proc = self._proc
        if not self._released or proc is None or proc is self._released_to:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            with contextlib.suppress(OSError):
                proc.stdin.write(b"g")
        self._released_to = proc

    async def start(self) -> None:
        """Start the child (or release the one :meth:`spawn` started) and wait until it
        delivers (so events of the first moments wait for no import), for at most
        :data:`READY_WAIT` seconds."""
        self._supervising()
        self.release()
        try:
            async with asyncio.timeout(READY_WAIT):
                await self._ready.wait()
        except TimeoutError:
            log.warning("webhook delivery process not ready after %g s", READY_WAIT)

    async def _supervise(self) -> None:
        while not self._stopping:
            ready, ready_w = os.pipe()
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self._command,
                    "--ready-fd",
                    str(ready_w),
                    stdin=asyncio.subprocess.PIPE,
                    pass_fds=(ready_w,),
                )
            finally:
                os.close(ready_w)
            self.starts += 1
            self._spawned.set()
            self._go()
            waiter = asyncio.create_task(self._wait_ready(ready))
            rc = await self._proc.wait()
            await waiter
            if self._stopping:
                return
            log.warning("webhook delivery process exited (%s); starting it again", rc)
            await asyncio.sleep(RESTART_DELAY)

    async def _wait_ready(self, fd: int) -> None:
        """The child writes a byte to ``fd`` once it delivers; end of file: it died first."""
        try:
            if await asyncio.to_thread(os.read, fd, 1):
                self._ready.set()
        finally:
            os.close(fd)

    async def close(self) -> None:
        """Close the pipe (the child drains and exits); terminate it if it takes too long."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(self._drain_timeout + STOP_GRACE):
                    await proc.wait()
            except TimeoutError:
                proc.terminate()
                try:
                    async with asyncio.timeout(STOP_GRACE):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class _Nudges(asyncio.Protocol):
    """The child's stdin: a byte wakes the worker, end of file stops it."""

    def __init__(self, worker: DeliveryWorker) -> None:
        self._worker = worker

    def data_received(self, data: bytes) -> None:
        self._worker.notify()

    def eof_received(self) -> bool:
        self._worker.stop()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker.stop()


async def run_child(
    settings: Settings, ready_fd: int | None = None, *, wait_go: bool = False
) -> None:
    """``meetbot deliver``: deliver until stdin closes or SIGTERM, then drain and return.
    Once delivering, write a byte to ``ready_fd`` and close it. ``wait_go``: after the
    imports, wait for a byte on stdin before opening anything (end of file: return)."""
    from meetbot.clock import SystemClock
    from meetbot.control.store import open_store
    from meetbot.control.webhooks.delivery import DeliveryOptions, DeliveryWorker
    from meetbot.control.webhooks.sender import HttpSender
    from meetbot.control.webhooks.targets import TargetPolicy
    from meetbot.crypto import SecretBox
    from meetbot.secrets_file import load_or_create_secret

    if wait_go and not await asyncio.to_thread(os.read, sys.stdin.fileno(), 1):
        return  # the server is gone before it let us start
    store = await open_store(settings.effective_database_url)
    sender = HttpSender(TargetPolicy.from_settings(settings))
    options = DeliveryOptions.from_settings(settings, poll_interval=POLL_INTERVAL)
    box = SecretBox(
        load_or_create_secret(settings.data_dir, settings.given_secret)
    )  # opens endpoints' secrets
    worker = DeliveryWorker(store, sender, SystemClock(), settings, options=options, box=box)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    transport, _ = await loop.connect_read_pipe(lambda: _Nudges(worker), sys.stdin)
    try:
        task = worker.start()
        if ready_fd is not None:
            os.write(ready_fd, b"r")
            os.close(ready_fd)
        await task
    finally:
        transport.close()
        await sender.aclose()
        await store.close()
