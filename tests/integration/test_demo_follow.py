"""``meetbot demo`` follows its bot against a real ``meetbot serve`` (fake launcher: the bot
stays ``booting`` until it is told to leave): each status change is a line, and while none
comes the wait shows what the bot is doing (issue 17 §3: ``meetbot demo`` shows progress)."""

from __future__ import annotations

import io
import threading

import httpx
from client_server import MEET, api_key, served
from rich.console import Console

from meetbot.demo import DemoView, _ended, _follow
from meetbot.lab.serve import Server

__all__ = ["api_key", "served"]  # fixtures


def test_the_demo_prints_each_status_and_what_the_bot_does_meanwhile(
    served: Server, api_key: str
) -> None:
    out = io.StringIO()
    view = DemoView(Console(file=out, force_terminal=False, width=200))
    headers = {"Authorization": f"Token {api_key}"}
    with httpx.Client(base_url=served.url, headers=headers, timeout=30) as api:
        bot = api.post("/api/v1/bot/", json={"meeting_url": MEET}).json()
        leave = threading.Timer(1.0, lambda: api.post(f"/api/v1/bot/{bot['id']}/leave_call/"))
        leave.start()
        final, seen = _follow(api, bot["id"], view, until=_ended, timeout=30)
        leave.join()
    assert final["status"] == "not_admitted"
    assert seen == 2
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("  booting")
    assert lines[1] == "  ... the bot is booting (0 s)"
    assert lines[-1].endswith("  not_admitted stop_reason=manually_stopped")
