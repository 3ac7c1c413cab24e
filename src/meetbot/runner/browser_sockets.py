"""Where the egress proxy makes its sockets: in the network namespace of the bot's browser.

The proxy (:mod:`meetbot.runner.egress_proxy`) must listen where Chromium can reach it and
connect where Chromium would have connected. In a deployment both are the runner's own
namespace (:class:`LocalSockets`). When ``chromium_path`` starts the browser in another
network namespace (the meeting lab's wrapper does: ``ip netns exec``), the proxy's sockets are
made in that one instead (:class:`NamespaceSockets`): a thread of the runner enters the
browser's namespace (``setns``, which needs root, as entering the namespace did) and creates
them there; a socket stays in the namespace it was made in whichever thread uses it.

:func:`browser_process` finds the launched browser (by its profile directory) and
:func:`sockets_elsewhere` says whether it is another place. The one module that calls ``setns``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from meetbot.egress import IPAddress
from meetbot.runner.priority import descendants

CLONE_NEWNET = 0x40000000


class SocketSource(Protocol):
    """Makes the proxy's sockets somewhere (non-blocking)."""

    async def listener(self, host: str, port: int) -> socket.socket:
        """A TCP socket listening on ``host:port`` (``port`` 0: any free one)."""
        ...

    async def connect(self, address: IPAddress, port: int) -> socket.socket:
        """A TCP socket connected to ``address:port`` (:class:`OSError` if it cannot be)."""
        ...

    def close(self) -> None: ...


def _listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _stream(address: IPAddress) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET)
    sock.setblocking(False)
    return sock


async def _connect(sock: socket.socket, address: IPAddress, port: int) -> socket.socket:
    try:
        await asyncio.get_running_loop().sock_connect(sock, (str(address), port))
    except BaseException:
        sock.close()
        raise
    return sock


class LocalSockets:
    """Sockets in this process's own network namespace."""

    async def listener(self, host: str, port: int) -> socket.socket:
        return _listener(host, port)

    async def connect(self, address: IPAddress, port: int) -> socket.socket:
        return await _connect(_stream(address), address, port)

    def close(self) -> None:
        pass


class NamespaceSockets:
    """Sockets in the network namespace of process ``pid`` (made by a thread inside it)."""

    def __init__(self, pid: int) -> None:
        self._fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._thread = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="browser-netns", initializer=self._enter
        )

    def _enter(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.setns(self._fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into the browser's namespace: {os.strerror(errno)}")

    async def listener(self, host: str, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, _listener, host, port)

    async def connect(self, address: IPAddress, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        sock = await loop.run_in_executor(self._thread, _stream, address)
        return await _connect(sock, address, port)

    def close(self) -> None:
        self._thread.shutdown(wait=False)
        with contextlib.suppress(OSError):
            os.close(self._fd)


def browser_process(profile: Path, root: int | None = None) -> int | None:
    """The pid of the browser process below ``root`` (default: this process) started on
    ``profile`` (``--user-data-dir``; its helpers carry a ``--type``), or ``None``."""
    flag = f"--user-data-dir={profile}".encode()
    for pid in descendants(os.getpid() if root is None else root):
        with contextlib.suppress(OSError):
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if flag in args and not any(a.startswith(b"--type=") for a in args):
                return pid
    return None


def same_network(pid: int) -> bool:
    """Does ``pid`` live in this process's network namespace? (``True`` if it is gone)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return True


def sockets_elsewhere(pid: int | None) -> SocketSource | None:
    """Where to make the sockets of a proxy for the browser ``pid`` when it lives in another
    network namespace; ``None`` when it lives in this one (or was not found)."""
    if pid is None or same_network(pid):
        return None
    return NamespaceSockets(pid)
