"""`meetbot serve` as a subprocess, for acceptance tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

MEETBOT = [sys.executable, "-m", "meetbot.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(
        self, data_dir: Path, port: int, env: dict[str, str], prefix: Sequence[str] = ()
    ) -> None:
        """``prefix``: a command the server runs under (e.g. ``unshare ...``), or none."""
        self.prefix = list(prefix)
        self.data_dir = data_dir
        self.port = port
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _flags(self) -> list[str]:
        return ["--port", str(self.port), "--data-dir", str(self.data_dir)]

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.prefix, *MEETBOT, "serve", *self._flags()],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line.rstrip())
            if "listening on" in line:
                break
        # Keep reading what the server prints, so a chatty server never blocks on a full pipe.
        threading.Thread(target=self._drain, name="serve-output", daemon=True).start()
        for _ in range(100):
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + "\n".join(self.output))

    def _drain(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip())

    def first_key(self) -> str:
        marker = self.output.index("Created the first API key (shown only once; keep it):")
        return self.output[marker + 1].strip()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_server(data_dir: Path, env: dict[str, str], port: int | None = None) -> Server:
    server = Server(data_dir, port or free_port(), env)
    server.start()
    return server
