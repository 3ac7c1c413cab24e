"""The webhook receiver for bench/webhooks.py: a separate process on 127.0.0.1.

Raw HTTP/1.1 with keep-alive; answers 200 at once and logs arrival time, ``webhook-id``, the
event's ``created_at`` and type, one line each. Run as ``webhooks_receiver.py PORT LOG``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


async def serve_receiver(port: int, log_path: Path) -> None:
    out = log_path.open("a", buffering=1 << 16)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while line := await reader.readline():
                if not line.strip():
                    continue
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                arrived = time.time()
                writer.write(answer)
                try:
                    event = json.loads(body)
                    created, kind = event.get("created_at", ""), event.get("type", "")
                except ValueError:
                    created, kind = "", "?"
                wid = headers.get("webhook-id", "")
                out.write(f"{arrived:.6f}\t{wid}\t{created}\t{kind}\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    async def flusher() -> None:
        while not stop.is_set():
            out.flush()
            await asyncio.sleep(0.1)

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    flushing = asyncio.create_task(flusher())
    print("receiving", flush=True)
    await stop.wait()
    server.close()
    for writer in list(writers):
        writer.close()
    await asyncio.sleep(0.1)
    flushing.cancel()
    out.flush()
    out.close()


@dataclass
class Arrival:
    at: float
    webhook_id: str
    created: float
    type: str


class Receiver:
    """The receiver subprocess and its log."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self._offset = 0
        self._seen: list[Arrival] = []
        self._ids: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        cmd = [sys.executable, __file__, str(self.port), str(self.log)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "receiving":
            raise RuntimeError("receiver did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def arrivals(self) -> list[Arrival]:
        """Every arrival logged so far (the log is read on from where the last call stopped)."""
        if not self.log.exists():
            return list(self._seen)
        with self.log.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            parts = line.split("\t")
            if len(parts) != 4:
                continue
            at, wid, created, kind = parts
            when = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            self._seen.append(Arrival(float(at), wid, when, kind))
            self._ids.add(wid)
        return list(self._seen)

    def distinct(self) -> int:
        self.arrivals()
        return len(self._ids)


if __name__ == "__main__":
    asyncio.run(serve_receiver(int(sys.argv[1]), Path(sys.argv[2])))
