"""The CPU a bot's pinning egress proxy costs (issue 12 §1): bytes/s and CPU ms per MB relayed,
and CPU ms per proxied request.

The proxy (``meetbot.runner.egress_proxy.EgressProxy`` with the runner's ``EgressGuard``) runs
alone in this process's event loop, as in a runner; a load generator runs in a child process
(its CPU is not counted): an origin server on 127.0.0.1 and the clients, which go through the
proxy as Chromium does. Reported, for this process only (``time.process_time``):

1. **download**: ``--streams`` tunnels (``CONNECT``) at once, the origin sending ``--mb`` MiB
   down each (a page's media, WebSocket traffic);
2. **upload**: the same, the client sending;
3. **requests**: ``--requests`` plain ``GET http://...`` one after another (judge, connect,
   relay a small answer, close): CPU ms per request.

    .venv/bin/python bench/egress_proxy.py [--streams 4] [--mb 256] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

CHUNK = 1 << 16


async def _origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """``down N``: send N bytes; ``up N``: read N bytes, answer ``ok``; a GET: a small page."""
    line = await reader.readline()
    if line.startswith(b"GET "):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n" + b"x" * 512)
    elif line.startswith(b"down "):
        left = int(line.split()[1])
        block = b"\0" * CHUNK
        while left > 0:
            writer.write(block[: min(left, CHUNK)])
            left -= CHUNK
            await writer.drain()
    else:
        left = int(line.split()[1])
        while left > 0:
            left -= len(await reader.read(1 << 18))
        writer.write(b"ok")
    await writer.drain()
    writer.close()


async def _tunnel(proxy: int, origin: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy)
    writer.write(f"CONNECT 127.0.0.1:{origin} HTTP/1.1\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return reader, writer


async def _down(proxy: int, origin: int, size: int) -> None:
    reader, writer = await _tunnel(proxy, origin)
    writer.write(f"down {size}\n".encode())
    got = 0
    while data := await reader.read(1 << 18):
        got += len(data)
    assert got == size, got
    writer.close()


async def _up(proxy: int, origin: int, size: int) -> None:
    reader, writer = await _tunnel(proxy, origin)
    writer.write(f"up {size}\n".encode())
    block = b"\0" * (1 << 18)
    left = size
    while left > 0:
        writer.write(block[: min(left, len(block))])
        left -= len(block)
        await writer.drain()
    assert await reader.read() == b"ok"
    writer.close()


async def _get(proxy: int, origin: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy)
    writer.write(f"GET http://127.0.0.1:{origin}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    assert answer.endswith(b"x" * 512), answer[-100:]
    writer.close()


async def generate(proxy: int, streams: int, mb: int, requests: int) -> None:
    """The child: one phase per line read on stdin, "done" written after each."""
    server = await asyncio.start_server(_origin, "127.0.0.1", 0)
    origin = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    size = mb << 20
    for phase in ("down", "up", "requests"):
        await loop.run_in_executor(None, sys.stdin.readline)
        if phase == "down":
            await asyncio.gather(*(_down(proxy, origin, size) for _ in range(streams)))
        elif phase == "up":
            await asyncio.gather(*(_up(proxy, origin, size) for _ in range(streams)))
        else:
            for _ in range(requests):
                await _get(proxy, origin)
        print("done", flush=True)
    server.close()


async def measure(streams: int, mb: int, requests: int) -> dict[str, object]:
    from meetbot.egress import HostAllowList
    from meetbot.runner.egress import EgressGuard
    from meetbot.runner.egress_proxy import EgressProxy

    proxy = EgressProxy(EgressGuard(HostAllowList.parse("127.0.0.1")))
    port = await proxy.start()
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--generate", str(port), "--streams", str(streams),
        "--mb", str(mb), "--requests", str(requests),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    figures: dict[str, object] = {}
    total_mb = streams * mb
    for phase in ("download", "upload", "requests"):
        cpu, wall = time.process_time(), time.perf_counter()
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        assert (await child.stdout.readline()).strip() == b"done"
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if phase == "requests":
            figures[phase] = {
                "requests": requests,
                "per_second": round(requests / wall),
                "cpu_ms_per_request": round(cpu * 1000 / requests, 3),
            }
        else:
            figures[phase] = {
                "streams": streams,
                "mib": total_mb,
                "mib_per_s": round(total_mb / wall),
                "cpu_ms_per_mib": round(cpu * 1000 / total_mb, 3),
                "proxy_cpu_share": round(cpu / wall, 2),
            }
    child.stdin.close()
    await child.wait()
    await proxy.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--mb", type=int, default=256, help="MiB per stream")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        asyncio.run(generate(args.generate, args.streams, args.mb, args.requests))
        return
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    figures = asyncio.run(measure(args.streams, args.mb, args.requests))
    print(json.dumps(figures, indent=1))
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
