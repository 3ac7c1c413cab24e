"""Fakes for the runner's boundaries: a scripted meeting page, a browser, a report channel,
and an in-memory storage. With them :class:`meetbot.runner.session.Session` runs its whole
flow without Chromium or a control plane."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from meetbot.contract.reports import AudioOut, Command, JoinAnswer, Joining, Report
from meetbot.runner.platforms.base import Participant, Phase, Snapshot
from meetbot.storage.errors import ObjectNotFound


class FakePage:
    """A :class:`~meetbot.runner.platforms.base.MeetingPage` that plays a script of snapshots.

    Each :meth:`poll` returns the next scripted snapshot and then keeps returning the last one;
    :meth:`show` replaces what the page shows from now on.
    """

    platform: ClassVar[str] = "fake"

    def __init__(self, *script: Snapshot, join_error: Exception | None = None) -> None:
        self._script = list(script) or [Snapshot(Phase.IN_CALL)]
        self._join_error = join_error
        self.joined: list[tuple[str, str]] = []
        self.polls = 0
        self.left = False
        self.join_delay = 0.0

    def init_scripts(self) -> list[str]:
        return ["/* fake platform */"]

    def show(self, snapshot: Snapshot) -> None:
        self._script = [snapshot]

    async def join(self, page: object, url: str, bot_name: str) -> None:
        if self.join_delay:
            await asyncio.sleep(self.join_delay)
        self.joined.append((url, bot_name))
        if self._join_error is not None:
            raise self._join_error

    async def poll(self, page: object) -> Snapshot:
        self.polls += 1
        if len(self._script) > 1:
            return self._script.pop(0)
        return self._script[0]

    async def leave(self, page: object) -> None:
        self.left = True


def in_call(*names: str, speaking: Sequence[str] = ()) -> Snapshot:
    """An IN_CALL snapshot with participants ``names`` (ids = names)."""
    return Snapshot(
        Phase.IN_CALL,
        participants=tuple(Participant(id=n, name=n, speaking=n in speaking) for n in names),
    )


class FakeBrowser:
    """What the session needs of :class:`meetbot.runner.browser.ChromiumBrowser`."""

    def __init__(self) -> None:
        self.page: Any = object()
        self.on_audio: Any = None
        self.on_frames: Any = None
        self.crashed = False
        self.blocked_navigation: Any = None
        """Set it to a :class:`meetbot.runner.egress.Blocked` as the egress rules would."""
        self.init_scripts: list[str] = []
        self.capturing = False
        self.audio_tracks = False
        """Whether :meth:`audio_flowing` says remote audio reaches the page."""
        self.closed = False

    def feed(self, pcm: bytes) -> None:
        """Deliver a piece of audio as the page would."""
        if self.on_audio is not None:
            self.on_audio(pcm)

    async def add_init_scripts(self, scripts: Sequence[str]) -> None:
        self.init_scripts.extend(scripts)

    async def start_capture(self) -> bool:
        self.capturing = True
        return True

    async def audio_flowing(self) -> bool:
        """Remote audio tracks in the page (``audio_tracks``, set by tests)."""
        return self.audio_tracks

    async def stop_capture(self) -> None:
        self.capturing = False

    async def screenshot(self) -> bytes:
        return b"\x89PNG fake"

    async def html(self) -> str:
        return "<html>fake</html>"

    async def close(self) -> None:
        self.closed = True


class FakeReports:
    """A report channel that records what the session emits; commands are pushed by tests."""

    def __init__(self) -> None:
        self.reports: list[Report] = []
        self.commands: asyncio.Queue[Command] = asyncio.Queue()
        self.camera: str | None = None
        self.pictures: dict[str, bytes] = {}
        """What :meth:`picture` answers, by key."""
        self.output_audio: list[AudioOut] = []
        self.clips: dict[str, bytes] = {}
        """What :meth:`clip` answers, by key."""
        self.lost = asyncio.Event()
        self.join_answer: JoinAnswer | None = JoinAnswer()
        """What ``start_joining`` answers (``None``: the control plane is lost)."""

    def emit(self, report: Report) -> None:
        self.reports.append(report)

    async def picture(self, key: str) -> bytes:
        return self.pictures[key]

    async def clip(self, key: str) -> bytes:
        return self.clips[key]

    def command(self, type_: str) -> None:
        self.commands.put_nowait(Command.model_validate({"type": type_}))

    @property
    def types(self) -> list[str]:
        return [r.type for r in self.reports]

    def of(self, type_: str) -> list[Report]:
        return [r for r in self.reports if r.type == type_]

    async def drain(self, timeout: float) -> bool:
        return True

    async def send_loop(self) -> None:
        await asyncio.Event().wait()

    async def command_loop(self) -> None:
        await asyncio.Event().wait()

    async def start_joining(self, at: datetime) -> JoinAnswer | None:
        """Records a ``joining`` report (what the control plane makes of the call)."""
        self.reports.append(Joining(at=at))
        if self.join_answer is None:
            self.lost.set()
        return self.join_answer


@dataclass
class MemoryStorage:
    """:class:`meetbot.ports.Storage` in a dict; ``fail_puts`` makes the next puts raise.

    An outage: ``down = True`` makes every put raise until ``down = False`` (each refused put is
    counted in ``refused``); :meth:`down_for` does both, ``seconds`` apart.
    """

    objects: dict[str, bytes] = field(default_factory=dict)
    content_types: dict[str, str | None] = field(default_factory=dict)
    fail_puts: int = 0
    down: bool = False
    refused: int = 0
    puts: list[str] = field(default_factory=list)
    """Keys in the order they were stored."""

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionRefusedError("storage unreachable (fake outage)")
        if self.fail_puts > 0:
            self.fail_puts -= 1
            raise OSError("storage unavailable (fake)")
        self.objects[key] = bytes(data)
        self.content_types[key] = content_type
        self.puts.append(key)

    async def down_for(self, seconds: float) -> None:
        """An outage of ``seconds`` (run it as a task beside the code under test)."""
        self.down = True
        try:
            await asyncio.sleep(seconds)
        finally:
            self.down = False

    async def get(self, key: str) -> bytes:
        if key not in self.objects:  # what every backend raises (the pipeline relies on it)
            raise ObjectNotFound(key)
        return self.objects[key]

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    async def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self.objects if k.startswith(prefix)]:
            del self.objects[key]

    def signed_url(self, key: str, ttl_seconds: int) -> str:
        return f"memory://{key}?ttl={ttl_seconds}"
