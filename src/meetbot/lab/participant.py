"""A person in a lab meeting: a :mod:`meetbot.lab.browser` subprocess, driven from the host.

The subprocess runs inside the namespace (Chromium must); this handle talks to it over its
stdin/stdout. Blocking calls; from async code use ``await asyncio.to_thread(...)``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from meetbot.lab.chromium import CHROMIUM, MediaStats

_NAME_RE = re.compile(r"^[A-Za-z0-9]+$")
_EOF = "__eof__"


class ParticipantError(RuntimeError):
    """The participant could not join (``detail`` is the page's message) or died."""


class Participant:
    """Start with :meth:`launch` (or ``Lab.add_participant``); always :meth:`close`."""

    def __init__(self, name: str, url: str, process: subprocess.Popen[str], log: Path) -> None:
        self.name = name
        self.url = url
        self.process = process
        self.log = log
        self.id: int | None = None
        """Janus participant id, once joined."""
        self.alerts: list[str] = []
        """Modal texts the page showed after joining (e.g. "The room has been destroyed")."""
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        assert process.stdout is not None
        self._pump_thread = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        self._pump_thread.start()

    @classmethod
    def launch(
        cls,
        url: str,
        name: str,
        *,
        wav: Path | None,
        exec_prefix: Sequence[str],
        log: Path,
        executable: str = CHROMIUM,
        join_timeout: float = 20.0,
    ) -> Participant:
        """Start the browser process; returns at once (see :meth:`wait_joined`).

        ``name`` must be letters and digits (the demo page refuses anything else).
        """
        if not _NAME_RE.match(name):
            raise ValueError(f"participant name must be alphanumeric: {name!r}")
        cmd = [*exec_prefix, sys.executable, "-m", "meetbot.lab.browser", "--url", url]
        cmd += ["--name", name, "--executable", executable, "--timeout", str(join_timeout)]
        if wav is not None:
            cmd += ["--wav", str(wav)]
        with log.open("w") as err:
            process = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                bufsize=1, start_new_session=True,
            )  # fmt: skip
        return cls(name, url, process, log)

    def _pump(self, stdout: IO[str]) -> None:
        with stdout:
            for line in stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("event") == "alert":
                    self.alerts.append(str(event.get("detail", "")))
                else:
                    self._events.put(event)
        self._events.put({"event": _EOF})

    def _next(self, wanted: set[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self._events.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                raise TimeoutError(f"{self.name}: no {sorted(wanted)} in {timeout} s") from None
            kind = event.get("event")
            if kind in wanted:
                return event
            if kind == "error":
                raise ParticipantError(f"{self.name}: {event.get('detail')}")
            if kind == _EOF:
                raise ParticipantError(f"{self.name}: process ended ({self._log_tail()})")

    def _send(self, command: str) -> None:
        if self.process.stdin is None or self.process.poll() is not None:
            raise ParticipantError(f"{self.name}: process is not running")
        try:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        except OSError as exc:
            raise ParticipantError(f"{self.name}: process is not running ({exc})") from exc

    def wait_joined(self, timeout: float = 30.0) -> int:
        """Block until in the room; return the Janus participant id.

        Raises :class:`ParticipantError` with the page's message (``No such room (N)``,
        ``Unauthorized (not in the allowed list)``) if joining failed.
        """
        if self.id is None:
            self.id = int(self._next({"joined"}, timeout)["id"])
        return self.id

    def stats(self, timeout: float = 10.0) -> MediaStats:
        """Audio counters of the participant's PeerConnections, right now."""
        self._send("stats")
        return MediaStats.from_json(self._next({"stats"}, timeout))

    def video_colours(self, timeout: float = 20.0) -> list[tuple[int, int, int] | None]:
        """The mean colour of the middle of a frame of each remote video the page receives."""
        self._send("colours")
        found = self._next({"colours"}, timeout)["colours"]
        return [(int(c[0]), int(c[1]), int(c[2])) if c is not None else None for c in found]

    def wait_audio(
        self, *, min_bytes: int = 1, min_energy: float = 0.0, timeout: float = 20.0
    ) -> MediaStats:
        """Poll :meth:`stats` until at least ``min_bytes`` of audio arrived from the room and
        what was heard carries ``min_energy`` (speech: ~0.2 per second; silence: ~1e-9).
        Returns the last stats (check them: no error on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            enough = (
                stats.audio_bytes_received >= min_bytes and stats.inbound_audio_energy >= min_energy
            )
            if enough or time.monotonic() > deadline:
                return stats
            time.sleep(0.25)

    def wait_alert(self, timeout: float = 10.0) -> str:
        """Block until the page shows a modal after joining (e.g. the room was destroyed)."""
        deadline = time.monotonic() + timeout
        while not self.alerts:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no alert in {timeout} s")
            time.sleep(0.1)
        return self.alerts[0]

    def open_chat(self, timeout: float = 30.0) -> str:
        """Join the room's chat (its TextRoom); return this participant's chat username."""
        self._send("chat_open")
        return str(self._next({"chat_ready"}, timeout)["username"])

    def send_chat(self, text: str, to: str = "everyone", timeout: float = 10.0) -> bool:
        self._send("chat_send " + json.dumps({"text": text, "to": to}))
        return bool(self._next({"chat_sent"}, timeout)["ok"])

    def chat_inbox(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The chat messages received since the last call (from, display, text, to)."""
        self._send("chat_inbox")
        return list(self._next({"chat_inbox"}, timeout)["messages"])

    def leave(self, timeout: float = 10.0) -> None:
        """Leave politely (the page's Stop button) and end the process."""
        self._send("leave")
        self._next({"left"}, timeout)
        self.close()

    def terminate(self) -> None:
        """Ask the process to end (browser closed without leaving); :meth:`close` waits."""
        if self.process.poll() is None:
            self.process.terminate()

    def close(self, timeout: float = 5.0) -> None:
        """End the process (browser closed without leaving if it had not). Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        self._pump_thread.join(timeout)  # it closes stdout at EOF

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "no log"

    def __repr__(self) -> str:
        return f"Participant({self.name!r}, id={self.id}, url={self.url!r})"
