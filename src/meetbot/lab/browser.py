"""The participant program: one Chromium that joins a Janus demo room like a person would.

Run inside the lab namespace (``Lab.exec_prefix``); :class:`meetbot.lab.participant.Participant`
does that for you::

    python -m meetbot.lab.browser --url URL --name NAME [--wav FILE.wav]

Protocol (one JSON object per line on stdout; commands one per line on stdin):

- out ``{"event": "joined", "id": N}`` — in the room as Janus participant ``N`` and, unless
  the URL says ``subscriber-mode=yes``, publishing (its audio connected to Janus);
- out ``{"event": "error", "detail": "..."}`` — joining failed (the page's alert text, e.g.
  ``No such room (42)``); the program then exits with status 1;
- out ``{"event": "alert", "detail": "..."}`` — a modal after joining (e.g. the room was
  destroyed);
- in ``stats`` → out ``{"event": "stats", ...}`` (see :class:`meetbot.lab.chromium.MediaStats`);
- in ``chat_open`` → joins the room's chat (its TextRoom), out ``{"event": "chat_ready",
  "username": ...}``; in ``chat_send {"text": ..., "to": ...}`` → out ``{"event": "chat_sent"}``;
  in ``chat_inbox`` → out ``{"event": "chat_inbox", "messages": [...]}`` (and clears it);
- in ``colours`` → out ``{"event": "colours", "colours": [[r, g, b] | null, ...]}``: the middle
  of a frame of each remote video track;
- in ``leave`` → clicks Stop (the session ends: Janus tells the room), out ``{"event": "left"}``,
  exit 0;
- in ``quit``, end of stdin, or SIGTERM → close the browser without leaving, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meetbot.lab.chromium import (
    CHROMIUM,
    FLAGS,
    MEDIA_STATS_JS,
    PC_TRACKER_JS,
    VIDEO_COLOURS_JS,
    fake_capture_flags,
)

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage, Page

JOINED_JS = "() => typeof myid !== 'undefined' && myid !== null ? myid : null"
PUBLISHING_JS = """() => (window.__mbPCs || []).some((pc) => pc.connectionState === 'connected'
    && pc.getSenders().some((s) => s.track && s.track.kind === 'audio'))"""
ALERT = ".bootbox-body"


def emit(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def _read_commands(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str]) -> None:
    # A daemon thread: a blocked readline must never keep the process alive.
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line.strip())
    loop.call_soon_threadsafe(queue.put_nowait, "quit")


async def join(page: Page, url: str, name: str, timeout_ms: float) -> int | str:
    """Join through the demo page's own UI; return the participant id or the alert text.

    Unless the URL says ``subscriber-mode=yes``, also wait until the microphone's audio flows
    to Janus (so the room lists the participant as a publisher). Needs :data:`PC_TRACKER_JS`.
    """
    await page.goto(url)
    await page.wait_for_function("() => window.Janus && Janus.initDone", timeout=timeout_ms)
    await page.click("#start", timeout=timeout_ms)
    await page.fill("#username", name, timeout=timeout_ms)
    await page.click("#register", timeout=timeout_ms)
    joined = asyncio.ensure_future(page.wait_for_function(JOINED_JS, timeout=timeout_ms))
    alert = asyncio.ensure_future(page.locator(ALERT).first.wait_for(timeout=timeout_ms))
    done, pending = await asyncio.wait({joined, alert}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if joined in done and joined.exception() is None:
        participant_id = int(await joined.result().json_value())
        if "subscriber-mode=yes" not in url:
            await page.wait_for_function(PUBLISHING_JS, timeout=timeout_ms)
        return participant_id
    if alert in done and alert.exception() is None:
        return (await page.locator(ALERT).first.inner_text()).strip()
    error = joined.exception() if joined in done else alert.exception()
    assert error is not None
    raise error


def chat_script() -> str:
    """The bots' chat script (the room's TextRoom over a data channel), shared with them."""
    return (resources.files("meetbot.runner") / "js" / "janus_chat.js").read_text("utf-8")


async def chat(page: Page, command: str, name: str) -> None:
    """``chat_open``, ``chat_send {"text", "to"}``, ``chat_inbox`` (see the module's doc)."""
    verb, _, rest = command.partition(" ")
    if verb == "chat_open":
        await page.evaluate("(name) => window.__meetbotChatOpen(name)", name)
        await page.wait_for_function("() => window.__meetbotChat.joined", timeout=20_000)
        emit("chat_ready", username=await page.evaluate("() => window.__meetbotChat.username"))
    elif verb == "chat_send":
        body = json.loads(rest)
        sent = await page.evaluate(
            "([t, to]) => window.__meetbotChatSend(t, to)", [body["text"], body.get("to")]
        )
        emit("chat_sent", ok=bool(sent))
    elif verb == "chat_inbox":
        emit("chat_inbox", messages=await page.evaluate("() => window.__meetbotChatTake()"))


async def watch_alerts(page: Page) -> None:
    with contextlib.suppress(Exception):
        await page.locator(ALERT).first.wait_for(timeout=0)
        emit("alert", detail=(await page.locator(ALERT).first.inner_text()).strip())


async def leave(page: Page) -> None:
    # "Stop" destroys the Janus session; the page reloads once Janus confirmed it.
    with contextlib.suppress(Exception):
        async with page.expect_navigation(timeout=5000):
            await page.click("#start", timeout=5000)


def _log_console(message: ConsoleMessage) -> None:
    # janus.js logs everything at debug level; keep what helps a post-mortem.
    if message.type in ("error", "warning"):
        print(f"console.{message.type}: {message.text}", file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_signal_handler(signal.SIGTERM, commands.put_nowait, "quit")
    threading.Thread(target=_read_commands, args=(loop, commands), daemon=True).start()
    flags = [*FLAGS, *fake_capture_flags(args.wav)]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.executable, args=flags)
        try:
            page = await browser.new_page()
            page.on("console", _log_console)
            await page.add_init_script(PC_TRACKER_JS)
            await page.add_init_script(chat_script())
            outcome = await join(page, args.url, args.name, args.timeout * 1000)
            if isinstance(outcome, str):
                emit("error", detail=outcome)
                return 1
            emit("joined", id=outcome)
            watcher = asyncio.ensure_future(watch_alerts(page))
            while (command := await commands.get()) != "quit":
                if command == "stats":
                    emit("stats", **await page.evaluate(MEDIA_STATS_JS))
                elif command.startswith("chat"):
                    await chat(page, command, args.name)
                elif command == "colours":
                    emit("colours", colours=await page.evaluate(VIDEO_COLOURS_JS))
                elif command == "leave":
                    await leave(page)
                    emit("left")
                    break
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        finally:
            await browser.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meetbot.lab.browser", description=__doc__)
    parser.add_argument("--url", required=True, help="demo room URL (see DemoSite.room_url)")
    parser.add_argument("--name", required=True, help="display name (letters and digits only)")
    parser.add_argument("--wav", type=Path, help="48 kHz mono WAV to speak once")
    parser.add_argument("--executable", default=CHROMIUM)
    parser.add_argument("--timeout", type=float, default=20.0, help="join timeout, seconds")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args))
    except Exception as exc:
        emit("error", detail=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
