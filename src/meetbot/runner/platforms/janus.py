"""The ``janus`` platform: the Janus VideoRoom demo pages as a meeting.

Pages: ``videoroomtest.html?room=N`` (one PeerConnection per remote feed) and
``mvideoroomtest.html?room=N`` (one PeerConnection, many tracks). The bot joins with the demo's
``subscriber-mode=yes``: it enters the room as a participant under its name (others see it in
``listparticipants`` and, with ``notify_joining``, in ``joining`` events) but never calls
``getUserMedia`` nor publishes; a bot with a picture (``bot_image``) publishes it as its camera.

Observation is an init script (``js/janus.js``) that taps janus.js's HTTP long polls. Janus has
no lobby; its refusals stand in for one:

- error 426 "No such room": the host has not started the meeting → ``WAITING_FOR_HOST``;
- error 433 "Unauthorized" (the room's ``allowed`` ACL): → ``WAITING_ROOM``;

and while refused the adapter re-sends the join every :attr:`JanusPage.retry_interval`
seconds, so the host creating the room or opening the ACL lets the bot in. A kick
(``{"leaving":"ok","reason":"kicked"}``) is ``REMOVED``, ``{"videoroom":"destroyed"}`` is
``ENDED``, and a URL whose server does not answer, answers an error status, or serves no
VideoRoom demo page is ``NOT_FOUND``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from importlib import resources
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from meetbot.runner.platforms.base import ChatLine, Participant, Phase, Snapshot
from meetbot.runner.voice import microphone_script

log = logging.getLogger(__name__)

NAVIGATION_TIMEOUT_MS: Final = 15_000
STEP_TIMEOUT_MS: Final = 10_000
_PLAIN_NAME: Final = re.compile(r"^[a-zA-Z0-9]+$")
"""What the demo's own form accepts; other names are sent through the page's handle."""
_START_BOUND: Final = """() => {
  const el = document.querySelector('#start');
  const ev = el && window.jQuery ? jQuery._data(el, 'events') : null;
  return !!(ev && ev.click && ev.click.length);
}"""
_SETTLED: Final = """() => {
  const st = window.__meetbotJanus;
  const form = document.querySelector('#username');
  return (form && form.offsetParent !== null) || !!document.querySelector('.bootbox')
    || (st && st.fetchFailures > 0);
}"""

_PUBLISH_IF_CAMERA: Final = """() => {
  if (window.__meetbotCamera && window.__meetbotCamera.active()) window.subscriber_mode = false;
}"""
"""A bot with a picture (``runner/camera.py``) publishes: the demo then asks getUserMedia for
its camera and microphone, and gets the picture (and silence, or the bot's voice)."""


PUBLISH_TIMEOUT_MS: Final = 10_000
SUBSCRIBE_GRACE_S: Final = 1.5
_PUBLISH: Final = """() => {
  const h = window.sfutest;
  if (!h || (h.webrtcStuff && h.webrtcStuff.pc) || typeof window.publishOwnFeed !== 'function')
    return false;
  window.publishOwnFeed(true);
  return true;
}"""
"""A subscriber-mode bot publishes through the demo's own ``publishOwnFeed`` (once)."""
_PUBLISHED: Final = """() => {
  const pc = window.sfutest && window.sfutest.webrtcStuff && window.sfutest.webrtcStuff.pc;
  return !!pc && ['connected', 'completed'].includes(pc.iceConnectionState);
}"""


def tap_script() -> str:
    return (resources.files("meetbot.runner") / "js" / "janus.js").read_text(encoding="utf-8")


def chat_script() -> str:
    """The room's chat: its Janus TextRoom over a data channel (``js/janus_chat.js``)."""
    return (resources.files("meetbot.runner") / "js" / "janus_chat.js").read_text(encoding="utf-8")


def join_url(url: str) -> str:
    """The meeting URL with ``subscriber-mode=yes`` (join without camera or microphone)."""
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "subscriber-mode"
    ]
    query.append(("subscriber-mode", "yes"))
    return urlunsplit(parts._replace(query=urlencode(query)))


class JanusPage:
    platform: ClassVar[str] = "janus"
    retry_interval: float = 2.0

    def __init__(self) -> None:
        self._bot_name = ""
        self._final: Snapshot | None = None
        self._last_retry = 0.0

    def init_scripts(self) -> list[str]:
        return [tap_script(), chat_script(), microphone_script()]

    async def join(self, page: Page, url: str, bot_name: str) -> None:
        self._bot_name = bot_name
        try:
            response = await page.goto(
                join_url(url), wait_until="domcontentloaded", timeout=NAVIGATION_TIMEOUT_MS
            )
        except PlaywrightError as exc:
            self._end(Phase.NOT_FOUND, "unreachable", _first_line(exc))
            return
        if response is not None and response.status >= 400:
            self._end(Phase.NOT_FOUND, f"http_{response.status}", f"HTTP {response.status}")
            return
        try:
            await page.wait_for_function(_START_BOUND, timeout=STEP_TIMEOUT_MS)
        except PlaywrightError:
            self._end(Phase.NOT_FOUND, "not_a_videoroom", "no Janus VideoRoom demo on the page")
            return
        await page.evaluate(_PUBLISH_IF_CAMERA)
        await page.click("#start", timeout=STEP_TIMEOUT_MS)
        # The session and the plugin handle come up; then the name form shows (or an error).
        await page.wait_for_function(_SETTLED, timeout=STEP_TIMEOUT_MS)
        if not await page.locator("#username").is_visible():
            return  # an error dialog: poll() reports it
        self._last_retry = time.monotonic()
        if _PLAIN_NAME.match(bot_name):
            await page.fill("#username", bot_name, timeout=STEP_TIMEOUT_MS)
            await page.click("#register", timeout=STEP_TIMEOUT_MS)
        else:
            await page.evaluate("(name) => window.__meetbotJanusJoin(name)", bot_name)

    async def poll(self, page: Page) -> Snapshot:
        if self._final is not None:
            return self._final
        st: dict[str, Any] | None = await page.evaluate("() => window.__meetbotJanus || null")
        if st is None:
            return Snapshot(Phase.ERROR, sub_code="tap_missing", detail=f"page: {page.url}")
        if st["kicked"]:
            return self._end(Phase.REMOVED, "kicked", None)
        if st["destroyed"]:
            return self._end(Phase.ENDED, "destroyed", None)
        if st["joined"]:
            return Snapshot(
                Phase.IN_CALL,
                participants=_participants(st),
                chat=await self._chat(page),
                audio_owners=_audio_owners(st),
            )
        error = st["error"]
        if error is not None:
            return await self._refused(page, int(error["code"]), str(error["reason"]))
        if st["fetchFailures"] > 0 and not st["joined"]:
            return Snapshot(
                Phase.ERROR, sub_code="janus_unreachable", detail="the Janus API does not answer"
            )
        return Snapshot(Phase.JOINING)

    async def _refused(self, page: Page, code: int, reason: str) -> Snapshot:
        if code == 426:
            phase = Phase.WAITING_FOR_HOST
        elif code == 433:
            phase = Phase.WAITING_ROOM
        else:
            return Snapshot(Phase.ERROR, sub_code=f"janus_{code}", detail=reason)
        if time.monotonic() - self._last_retry >= self.retry_interval:
            self._last_retry = time.monotonic()
            await page.evaluate("(name) => window.__meetbotJanusJoin(name)", self._bot_name)
        return Snapshot(phase, sub_code=f"janus_{code}", detail=reason)

    async def _chat(self, page: Page) -> tuple[ChatLine, ...]:
        """Join the room's chat once in the call; the messages that came since the last poll."""
        taken: list[dict[str, Any]] = await page.evaluate(
            """(name) => { window.__meetbotChatOpen && window.__meetbotChatOpen(name);
                return window.__meetbotChatTake ? window.__meetbotChatTake() : []; }""",
            self._bot_name,
        )
        return tuple(
            ChatLine(str(m["from"]), str(m["display"]), str(m["text"]), str(m["to"])) for m in taken
        )

    async def send_chat(self, page: Page, text: str, to: str) -> bool:
        """Send in the room's chat (``to``: ``everyone`` or a chat username); ``False`` while
        the bot has not joined the chat yet."""
        try:
            sent = await page.evaluate(
                "([t, to]) => !!window.__meetbotChatSend && window.__meetbotChatSend(t, to)",
                [text, to],
            )
        except PlaywrightError as exc:
            log.warning("janus: chat message not sent: %s", _first_line(exc))
            return False
        return bool(sent)

    async def unmute(self, page: Page) -> None:
        """Before the bot speaks (``output_audio``): a bot that joined as a subscriber publishes
        now (its microphone, ``js/microphone.js``, and a picture or a black tile), and its
        audio is unmuted; waits (up to :data:`PUBLISH_TIMEOUT_MS`) for the publisher's
        connection, so the clip's first words are heard."""
        with contextlib.suppress(PlaywrightError):
            published_now = await page.evaluate(_PUBLISH)
            await page.wait_for_function(_PUBLISHED, timeout=PUBLISH_TIMEOUT_MS)
            await page.evaluate("() => window.sfutest && window.sfutest.unmuteAudio()")
            if published_now:  # the others subscribe to a new feed after it is announced
                await asyncio.sleep(SUBSCRIBE_GRACE_S)

    async def mute(self, page: Page) -> None:
        """After the bot spoke: its published audio muted (it stays a publisher)."""
        with contextlib.suppress(PlaywrightError):
            await page.evaluate("() => window.sfutest && window.sfutest.muteAudio()")

    async def leave(self, page: Page) -> None:
        with contextlib.suppress(PlaywrightError):
            await page.evaluate("() => window.__meetbotJanusLeave && window.__meetbotJanusLeave()")

    def _end(self, phase: Phase, sub_code: str, detail: str | None) -> Snapshot:
        self._final = Snapshot(phase, sub_code=sub_code, detail=detail)
        log.info("janus: %s (%s)", phase.value, detail or sub_code)
        return self._final


def _participants(st: dict[str, Any]) -> tuple[Participant, ...]:
    me = st.get("myId")
    return tuple(
        Participant(id=str(p["id"]), name=str(p["display"]), speaking=bool(p["talking"]))
        for p in sorted(st["participants"].values(), key=lambda p: str(p["id"]))
        if str(p["id"]) != me
    )


def _audio_owners(st: dict[str, Any]) -> tuple[tuple[int, str], ...]:
    """(SSRC, publisher id) of the subscribed audio streams the tap read from the offers."""
    found = st.get("ssrcs") or {}
    return tuple((int(k), str(v)) for k, v in found.items() if str(k).isdigit())


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
