"""A simulated browser and meeting page for ``meetbot agent --simulate``.

:class:`SimulatedMeeting` is a :class:`meetbot.runner.platforms.base.MeetingPage` whose meeting
needs no server: asked to join, the bot waits in a lobby for ``lobby_seconds``, is admitted,
sees two participants (one of them speaking now and then), and ``call_seconds`` after its
admission the meeting ends. :class:`SimulatedBrowser` is a
:class:`meetbot.runner.session_ports.Browser` with no page behind it and no audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from meetbot.runner.egress import Blocked
from meetbot.runner.platforms.base import Participant, Phase, Snapshot


class SimulatedBrowser:
    def __init__(self) -> None:
        self.page: Any = None
        self.on_audio: Callable[[bytes], None] | None = None
        self.on_frames: Callable[[str, int, float, bytes], None] | None = None
        self.crashed = False

    @property
    def blocked_navigation(self) -> Blocked | None:
        return None

    async def add_init_scripts(self, scripts: Sequence[str]) -> None:
        return None

    async def start_capture(self) -> bool:
        return True

    async def audio_flowing(self) -> bool:
        return False

    async def stop_capture(self) -> None:
        return None

    async def screenshot(self) -> bytes:
        return b""

    async def html(self) -> str:
        return "<html><body>simulated meeting</body></html>"

    async def close(self) -> None:
        return None


class SimulatedMeeting:
    platform: ClassVar[str] = "simulated"

    def __init__(self, call_seconds: float = 60.0, lobby_seconds: float = 0.3) -> None:
        self.call_seconds = call_seconds
        self.lobby_seconds = lobby_seconds
        self._asked_at: float | None = None
        self._left = False

    def init_scripts(self) -> list[str]:
        return []

    async def join(self, page: Any, url: str, bot_name: str) -> None:
        self._asked_at = time.monotonic()

    async def poll(self, page: Any) -> Snapshot:
        if self._asked_at is None or self._left:
            return Snapshot(Phase.JOINING)
        in_call = time.monotonic() - self._asked_at - self.lobby_seconds
        if in_call < 0:
            return Snapshot(Phase.WAITING_ROOM)
        if in_call >= self.call_seconds:
            return Snapshot(Phase.ENDED)
        speaking = int(in_call) % 4 < 2
        return Snapshot(
            Phase.IN_CALL,
            participants=(
                Participant(id="sim-alice", name="Alice", speaking=speaking),
                Participant(id="sim-bob", name="Bob", speaking=not speaking),
            ),
        )

    async def leave(self, page: Any) -> None:
        self._left = True
