"""The dashboard in a real Chromium (Playwright) against `meetbot serve` and the Janus lab:
sign in, send a bot into a room from the form, watch its status change without a reload, see
its transcript appear, play the recording. Screenshots of the main pages at 1280x800 and
390x844 go to ``$MEETBOT_SCREENSHOTS_DIR`` (default: a temporary directory the test prints)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from served import TALKATIVE, serve_with_lab

from meetbot.lab import Lab, make_speech
from meetbot.lab.serve import Server
from meetbot.lab.speech import Speech
from meetbot.runner.browser import CHROMIUM_FLAGS

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def transcribing_server(lab: Lab, tmp_path: Path) -> Iterator[Server]:
    """`meetbot serve` on the lab with a small Whisper, so the transcript grows in the call."""
    srv = serve_with_lab(
        lab,
        tmp_path / "data",
        MEETBOT_DEFAULT_TRANSCRIPTION_MODEL="whisper-tiny.en",
        # the form sends the default stop timers: ten seconds a unit keeps the bot in the call
        # (silence 150 s, empty meeting 100 s) until the test presses Leave call
        MEETBOT_TIMER_UNIT_SECONDS="10",
    )
    yield srv
    srv.stop()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("MEETBOT_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    where.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots: {where}")
    return where


def send_bot(page: Page, meeting_url: str, timeout: float = 90) -> str:
    """Submit the new-bot form until a warm browser takes it (the form shows the 507 until
    then); the bot's id."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto("/dashboard/bots/")
        page.get_by_label("Meeting URL").fill(meeting_url)
        page.get_by_label("Bot name").fill("Dashboard Notes")
        page.get_by_role("button", name="Send bot").click()
        page.wait_for_load_state()
        if "/dashboard/bots/" in page.url and page.url.rstrip("/").split("/")[-1] != "bots":
            return page.url.rstrip("/").split("/")[-1]
        assert time.monotonic() < deadline, page.get_by_role("alert").inner_text()
        time.sleep(1)


def test_a_person_sends_a_bot_and_watches_it_live(
    lab: Lab, transcribing_server: Server, shots: Path, tmp_path: Path
) -> None:
    room = lab.new_room(**TALKATIVE)
    speech = make_speech(
        ["Welcome to the planning meeting.", "Let us review the launch dates."],
        tmp_path / "a.wav",
        lead_s=2.0,
    )
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_FLAGS)
        )
        context = chromium.new_context(viewport=WIDE, base_url=transcribing_server.url)
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            run_through(page, lab, room, speech, transcribing_server, shots)
        except Exception:
            page.screenshot(path=shots / "failure.png", full_page=True)
            raise
        finally:
            context.close()
            chromium.close()


def run_through(
    page: Page, lab: Lab, room: int, speech: Speech, server: Server, shots: Path
) -> None:

    page.goto("/dashboard/bots/")
    assert page.url.endswith("/dashboard/signin")
    page.screenshot(path=shots / "signin-1280.png")
    page.get_by_label("API key").fill(server.first_key())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/bots/")
    assert page.get_by_role("heading", name="Bots", level=1).is_visible()

    bot_id = send_bot(page, lab.room_url(room))
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    same_document = "() => window.__sameDocument === true"

    # the status changes on the page without a reload
    page.wait_for_function(
        f"() => ({same_document})() && "
        "document.querySelector('#bot-status')?.textContent === 'recording'",
        timeout=60_000,
    )
    alice = lab.add_participant(room, "alice", wav=speech.path, timeout=90)
    # the transcript appears while the bot is in the call, still without a reload
    page.wait_for_function(
        f"() => ({same_document})() && document.querySelectorAll('#transcript li').length > 0",
        timeout=90_000,
    )
    assert page.locator("#bot-status").inner_text() == "recording"
    page.screenshot(path=shots / "bot-live-1280.png", full_page=True)
    time.sleep(speech.duration_s)
    # the Leave call button (its confirm dialog accepted); the page reloads once the bot
    # has ended and shows the recording: it plays
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Leave call").click()
    page.wait_for_url(f"**/dashboard/bots/{bot_id}/?done=left")
    alice.leave()
    page.wait_for_selector("audio#recording", timeout=120_000)
    assert page.locator("#bot-status").inner_text() == "finished"
    played = page.evaluate(
        """async () => {
            const a = document.querySelector('#recording');
            a.muted = true;
            await a.play();
            await new Promise(r => setTimeout(r, 1500));
            return a.currentTime;
        }"""
    )
    assert played > 0
    assert page.locator("#transcript li").count() > 0
    text = page.locator("#transcript").inner_text().lower()
    assert "meeting" in text or "launch" in text, text
    page.screenshot(path=shots / "bot-finished-1280.png", full_page=True)

    for name, path in (
        ("bots", "/dashboard/bots/"),
        ("bot", f"/dashboard/bots/{bot_id}/"),
        ("webhooks", "/dashboard/webhooks/"),
        ("calendars", "/dashboard/calendars/"),
        ("capacity", "/dashboard/capacity/"),
    ):
        for label, size in (("1280", WIDE), ("390", PHONE)):
            page.set_viewport_size(size)
            page.goto(path)
            assert page.get_by_role("main").is_visible()
            # nothing wider than the viewport but the scrolling tables
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= size["width"] + 1, (name, label, wide)
            page.screenshot(path=shots / f"{name}-{label}.png", full_page=True)
