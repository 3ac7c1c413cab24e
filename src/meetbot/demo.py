"""``meetbot demo``: a bot at work on this machine, offline.

Starts a local Janus room (the lab: needs root for its network namespace) with a participant
speaking generated sentences (espeak-ng), starts ``meetbot serve`` in a temporary data dir,
sends a bot into the room through the API and prints its statuses live, then its transcript.

Every wait shows progress (:class:`DemoView`): on a terminal a spinner with what is awaited
and the seconds so far, and a bar while the participant speaks; elsewhere (a pipe, a log) a
line every :data:`QUIET_LINE_SECONDS` while a wait lasts.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from meetbot.lab import MEETING_HOSTS, Lab, make_speech, problems
from meetbot.lab.serve import start_server

if TYPE_CHECKING:
    from rich.console import Console

SENTENCES = (
    "Good morning everyone, thanks for joining the weekly planning meeting.",
    "The release is on track for Thursday and the tests are green.",
    "Please send your notes to the team before the end of the day.",
)
QUIET_LINE_SECONDS = 10.0
"""Without a terminal, a wait prints a line this often (a spinner shows nothing there)."""

Waiting = Callable[[str], None]
"""Told what is awaited now; the view adds the seconds waited."""


class DemoView:
    """What ``meetbot demo`` shows: lines, and progress while a person waits."""

    def __init__(
        self, console: Console | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        from rich.console import Console

        self.console = console or Console(highlight=False)
        self.clock = clock

    def line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def waiting(self, what: str) -> Iterator[Waiting]:
        """A spinner ``what (12 s)`` while the block runs (a line every 10 s off a terminal);
        the block calls what it yields to say what it awaits now."""
        start = self.clock()
        said = [start - QUIET_LINE_SECONDS]  # off a terminal: the first call prints at once

        def label(now_what: str) -> str:
            return f"{now_what} ({self.clock() - start:.0f} s)"

        if not self.console.is_terminal:

            def quiet(now_what: str) -> None:
                if self.clock() - said[0] >= QUIET_LINE_SECONDS:
                    said[0] = self.clock()
                    self.line(f"  ... {label(now_what)}")

            yield quiet
            return
        with self.console.status(label(what)) as status:
            yield lambda now_what: status.update(label(now_what))

    def timed(self, what: str, seconds: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Wait ``seconds`` with a bar that fills (a line at the start and the end off a
        terminal)."""
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        if not self.console.is_terminal:
            self.line(f"  ... {what} ({seconds:.0f} s)")
            sleep(seconds)
            return
        columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(what, total=seconds)
            end = self.clock() + seconds
            while (left := end - self.clock()) > 0:
                sleep(min(0.2, left))
                bar.update(task, completed=seconds - max(0.0, end - self.clock()))


def run_demo(*, model: str = "whisper-tiny.en", view: DemoView | None = None) -> int:
    """Run the demo; returns a process exit code."""
    view = view or DemoView()
    if os.geteuid() != 0:
        view.line("meetbot demo needs root: the local meeting room runs in a network namespace.")
        return 2
    if found := problems():
        view.line("meetbot demo cannot start its meeting room: " + "; ".join(found))
        return 2
    with tempfile.TemporaryDirectory(prefix="meetbot-demo-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        with view.waiting("starting a local Janus meeting room"):
            lab = stack.enter_context(Lab.start())
        view.line("a local Janus meeting room is up")
        env = {
            "MEETBOT_LAUNCHER": "local",
            **lab.chromium_settings,
            "MEETBOT_SELF_HOSTED_MEETING_HOSTS": MEETING_HOSTS,
            "MEETBOT_ADHOC_POOL_SIZE": "1",
            "MEETBOT_TIMER_UNIT_SECONDS": "1",
            "MEETBOT_LOG_LEVEL": "warning",
        }
        with view.waiting("starting meetbot serve"):
            server = start_server(workdir / "data", env)
        view.line(f"meetbot serve answers on {server.url}")
        try:
            return _drive(lab, server.url, server.first_key(), workdir, model, view)
        finally:
            server.stop()


def _drive(lab: Lab, url: str, key: str, workdir: Path, model: str, view: DemoView) -> int:
    room = lab.new_room(audio_active_packets=25, audio_level_average=60)
    with view.waiting("writing what the participant says (espeak-ng)"):
        speech = make_speech(list(SENTENCES), workdir / "alice.wav", lead_s=2.0)
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
        body = {
            "meeting_url": lab.room_url(room),
            "bot_name": "Demo Notetaker",
            "transcription_model": model,
            "stop_options": {"last_person_detection": 3, "silence_detection": 0},
        }
        with view.waiting("waiting for a warm browser") as told:
            bot = _create(api, body, told)
        view.line(f"bot {bot['id']} created ({bot['kind']}) for {body['meeting_url']}")
        _, seen = _follow(api, bot["id"], view, until=_in_call)
        alice = lab.add_participant(room, "alice", wav=speech.path)
        view.timed("alice joins and speaks", speech.duration_s + 1)
        alice.leave()
        view.line("alice left; the bot leaves after 3 s alone")
        final, _ = _follow(api, bot["id"], view, until=_ended, seen=seen)
        if final["status"] != "finished":
            return 1
        transcript = api.get(f"/api/v1/bot/{bot['id']}/transcript/", params={"format": "txt"})
        if transcript.status_code == 200:
            view.line("\ntranscript:\n" + transcript.text)
    return 0


def _in_call(bot: dict[str, Any]) -> bool:
    return bool(bot["status"] == "recording")


def _ended(bot: dict[str, Any]) -> bool:
    return bot["status"] in (
        "finished",
        "failed",
        "not_admitted",
        "invalid_api_key",
        "auth_required",
    )


def _create(api: httpx.Client, body: dict[str, Any], told: Waiting) -> Any:
    for _ in range(120):
        r = api.post("/api/v1/bot/", json=body)
        if r.status_code != 507:
            r.raise_for_status()
            return r.json()
        told("waiting for a warm browser (the pool is starting Chromium)")
        time.sleep(0.5)
    raise RuntimeError("the warm pool never became ready")


def _follow(
    api: httpx.Client,
    bot_id: str,
    view: DemoView,
    until: Callable[[dict[str, Any]], bool],
    seen: int = 0,
    timeout: float = 180,
) -> tuple[Any, int]:
    """Print each new status change; while none comes, what the bot is doing and for how
    long."""
    deadline = time.monotonic() + timeout
    with view.waiting("the bot") as told:
        while True:
            bot = api.get(f"/api/v1/bot/{bot_id}/").json()
            for change in bot["status_changes"][seen:]:
                view.line(change_line(change))
            seen = len(bot["status_changes"])
            if until(bot) or _ended(bot) or time.monotonic() > deadline:
                return bot, seen
            told(f"the bot is {_doing(bot)}")
            time.sleep(0.2)


def change_line(change: dict[str, Any]) -> str:
    extra = " ".join(
        f"{k}={change[k]}" for k in ("sub_status", "stop_reason", "sub_code") if change.get(k)
    )
    return f"  {change['at']}  {change['status']} {extra}".rstrip()


def _doing(bot: dict[str, Any]) -> str:
    status = str(bot["status"])
    sub = bot.get("sub_status")
    return f"{status} ({sub})" if sub else status
