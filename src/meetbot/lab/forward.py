"""A Unix-socket → TCP forwarder: the host namespace's door to a port inside the lab.

Filesystem Unix sockets are not scoped by network namespaces, so a forwarder started *inside*
the namespace that listens on a path under the lab's workdir is reachable from the host, while
its TCP connections land on the namespace's private loopback. The lab uses one for Janus's REST
API (``lab.host``); from a shell: ``curl --unix-socket WORKDIR/janus-http.sock
http://janus/janus/info``.

Run as ``python -m meetbot.lab.forward SOCKET_PATH PORT`` inside the namespace (it connects to
127.0.0.1:PORT there); :func:`meetbot.lab.janus.start_forwarder` does that. Nothing in the
package imports this module, so ``-m`` runs it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def _serve(socket_path: Path, port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        # Either side ending ends both: HTTP clients never half-close before their answer.
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await asyncio.start_unix_server(handle, path=str(socket_path))
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meetbot.lab.forward", description=__doc__)
    parser.add_argument("socket_path", type=Path)
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.socket_path, args.port))
    finally:
        with contextlib.suppress(FileNotFoundError):
            args.socket_path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
