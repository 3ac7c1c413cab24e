"""Pure page-reading decisions: the adapters' rule tables, names, captions, origins, tokens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from meetbot.runner.platforms import google_meet, teams, webex, zoom
from meetbot.runner.platforms.base import Participant, Phase
from meetbot.runner.platforms.credentials import AccountLogin, Credentials, ZoomTokens
from meetbot.runner.platforms.phrases import has_phrase, phrase_key
from meetbot.runner.platforms.reading import CaptionLine, Person, Reading, control_signals
from meetbot.runner.platforms.registry import UnsupportedPlatform, page_for
from meetbot.runner.platforms.rules import (
    CaptionTracker,
    NameRules,
    Origins,
    Rule,
    UnknownPageTimer,
    classify,
    clean_name,
    normalise,
    others,
)

MEET, TEAMS, ZOOM, WEBEX = google_meet.RULES, teams.RULES, zoom.RULES, webex.RULES
DOCS = Path(__file__).resolve().parents[2] / "docs" / "platforms.md"


def reading(text: str = "", url: str = "https://example.test/", *signals: str) -> Reading:
    """A screen whose text is all in headings, dialogs or alerts (see the chatter tests)."""
    return Reading(url=url, text=text, prominent=text, signals=frozenset(signals))


CASES = [
    # Google Meet
    (MEET, "Asking to be let in\u2026", "", (), Phase.WAITING_ROOM, None),
    (MEET, "You\u2019ll join the call when someone lets you in", "", (), Phase.WAITING_ROOM, None),
    (MEET, "Asking to be let in\u2026", "", ("in_call",), Phase.WAITING_ROOM, None),
    (MEET, "", "", ("in_call",), Phase.IN_CALL, None),
    (
        MEET,
        "Asking to be let in\u2026\nSomeone in the call denied your request to join",
        "", (), Phase.DENIED, "request_denied",
    ),
    (
        MEET, "No one responded to your request to join the call", "", (),
        Phase.DENIED, "request_not_answered",
    ),
    (MEET, "You can't join this video call", "", (), Phase.BLOCKED, "google_meet_bot_blocked"),
    (
        MEET, "You can't join this video call\nYou can't ask to join this call", "", (),
        Phase.SIGN_IN_REQUIRED, "google_meet_knocking_disabled",
    ),
    (MEET, "Check your meeting code", "", (), Phase.NOT_FOUND, "meeting_not_found"),
    (MEET, "You've been removed from the meeting", "", (), Phase.REMOVED, "removed_by_host"),
    (MEET, "This call has ended", "", (), Phase.ENDED, "meeting_ended"),
    (MEET, "Waiting for the host to join", "", (), Phase.WAITING_FOR_HOST, "host_not_joined"),
    (
        MEET, "Sign in\nUse your Google Account", "https://accounts.google.com/v3/signin/x", (),
        Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in",
    ),
    (
        MEET, "Sign in to continue with your Google Account", "", (),
        Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in",
    ),
    (
        MEET, "Wrong password. Try again or click Forgot password to reset it.",
        "https://accounts.google.com/v3/signin/challenge/pwd", (),
        Phase.INVALID_CREDENTIALS, "sign_in_wrong_password",
    ),
    (
        MEET, "Couldn't find your Google Account", "https://accounts.google.com/", (),
        Phase.INVALID_CREDENTIALS, "sign_in_unknown_account",
    ),
    (MEET, "Ready to join?", "", (), None, None),
    # Teams
    (TEAMS, "Someone in the meeting should let you in soon", "", (), Phase.WAITING_ROOM, None),
    (TEAMS, "Hi! The organizer will let you in soon", "", (), Phase.WAITING_ROOM, None),
    (
        TEAMS, "When the meeting starts, we\u2019ll let people know you\u2019re waiting.", "", (),
        Phase.WAITING_FOR_HOST, "host_not_joined",
    ),
    (
        TEAMS, "Sign in", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize", (),
        Phase.SIGN_IN_REQUIRED, "teams_anonymous_join_disabled",
    ),
    (
        TEAMS, "Due to org policy, you need to sign in or use Teams on the web", "", (),
        Phase.SIGN_IN_REQUIRED, "teams_anonymous_join_disabled",
    ),
    (
        TEAMS, "Your account or password is incorrect.", "https://login.microsoftonline.com/", (),
        Phase.INVALID_CREDENTIALS, "sign_in_wrong_password",
    ),
    (
        TEAMS, "Sorry, but you were denied access to the meeting.", "", (),
        Phase.DENIED, "request_denied",
    ),
    (
        TEAMS, "Looks like the meeting URL is incorrect. Please check the URL", "", (),
        Phase.NOT_FOUND, "meeting_not_found",
    ),
    (TEAMS, "Verify you're a real person", "", (), Phase.BLOCKED, "teams_captcha"),
    (TEAMS, "You've been removed from this meeting", "", (), Phase.REMOVED, "removed_by_host"),
    (TEAMS, "The meeting has ended", "", ("in_call",), Phase.ENDED, "meeting_ended"),
    (TEAMS, "", "", ("in_call",), Phase.IN_CALL, None),
    # Zoom
    (
        ZOOM, "Please wait, the meeting host will let you in soon.", "", (),
        Phase.WAITING_ROOM, None,
    ),
    (
        ZOOM, "Waiting for the host to start this meeting", "", (),
        Phase.WAITING_FOR_HOST, "zoom_meeting_not_started",
    ),
    (
        ZOOM, "The host has another meeting in progress.", "", (),
        Phase.WAITING_FOR_HOST, "host_in_another_meeting",
    ),
    (ZOOM, "Passcode wrong", "", (), Phase.NOT_FOUND, "zoom_passcode_incorrect"),
    (ZOOM, "This meeting link is invalid (3,001)", "", (), Phase.NOT_FOUND, "meeting_not_found"),
    (
        ZOOM, "This meeting is for authorized attendees only", "", (),
        Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in",
    ),
    (
        ZOOM, "You have been removed from this meeting by the host", "", ("in_call",),
        Phase.REMOVED, "removed_by_host",
    ),
    (ZOOM, "This meeting has been ended by host", "", (), Phase.ENDED, "meeting_ended"),
    (ZOOM, "", "", ("in_call",), Phase.IN_CALL, None),
    # Webex (read inside the web client's iframe)
    (
        WEBEX, "The meeting is locked. The host will let you in soon.", "", (),
        Phase.WAITING_ROOM, None,
    ),
    (WEBEX, "", "", ("lobby",), Phase.WAITING_ROOM, None),
    (WEBEX, "Waiting for host", "", (), Phase.WAITING_FOR_HOST, "host_not_joined"),
    (WEBEX, "Meeting not found", "", (), Phase.NOT_FOUND, "meeting_not_found"),
    (WEBEX, "Incorrect password", "", (), Phase.NOT_FOUND, "webex_password_incorrect"),
    (WEBEX, "Meeting has ended", "", ("in_call",), Phase.ENDED, "meeting_ended"),
    (
        WEBEX, "Only signed-in users can join this meeting", "", (),
        Phase.SIGN_IN_REQUIRED, "meeting_requires_sign_in",
    ),
    (WEBEX, "Enter the characters you see", "", (), Phase.BLOCKED, "webex_captcha"),
    (WEBEX, "The host denied your request to join", "", (), Phase.DENIED, "request_denied"),
    (
        WEBEX, "You've been removed from the meeting", "", ("in_call",),
        Phase.REMOVED, "removed_by_host",
    ),
    (WEBEX, "", "", ("in_call",), Phase.IN_CALL, None),
]  # fmt: skip


@pytest.mark.parametrize(("rules", "text", "url", "signals", "phase", "sub_code"), CASES)
def test_rules(
    rules: Sequence[Rule],
    text: str,
    url: str,
    signals: tuple[str, ...],
    phase: Phase | None,
    sub_code: str | None,
) -> None:
    verdict = classify(reading(text, url or "https://x.test/", *signals), rules)
    if phase is None:
        assert verdict is None
        return
    assert verdict is not None
    assert (verdict.phase, verdict.sub_code) == (phase, sub_code)


def test_urls_are_read_as_the_real_ones_through_the_test_origins() -> None:
    origins = Origins({"https://accounts.google.com": "http://127.0.0.1:9/accounts.google.com"})
    local = "http://127.0.0.1:9/accounts.google.com/v3/signin/identifier?continue=x"
    verdict = classify(reading("", local), MEET, origins)
    assert verdict is not None
    assert verdict.sub_code == "meeting_requires_sign_in"
    assert classify(reading("", local), MEET) is None


def test_normalise_straightens_typography() -> None:
    assert normalise("You\u2019ve  been\xa0removed\u2026") == "you've been removed..."


def test_origins_rewrite_only_the_given_hosts_both_ways() -> None:
    origins = Origins({"https://meet.google.com": "http://127.0.0.1:8/meet.google.com"})
    assert origins.to_local("https://meet.google.com/abc-defg-hij?authuser=0") == (
        "http://127.0.0.1:8/meet.google.com/abc-defg-hij?authuser=0"
    )
    assert (
        origins.to_real("http://127.0.0.1:8/meet.google.com/abc") == "https://meet.google.com/abc"
    )
    for untouched in ("https://meet.google.community/x", "https://zoom.us/j/1"):
        assert origins.to_local(untouched) == untouched
    assert Origins().to_local("https://meet.google.com/x") == "https://meet.google.com/x"


def test_names_lose_decorations_and_mark_the_bot() -> None:
    rules = NameRules(drop=(", context menu available", "(Guest)"))
    assert clean_name("Alice, context menu available", rules) == ("Alice", False)
    assert clean_name("Bob (Guest)\nMuted", rules) == ("Bob", False)
    assert clean_name("Notetaker (You)", rules) == ("Notetaker", True)
    assert clean_name("You", rules) == ("You", True)


def test_others_excludes_the_bot_and_merges_tiles_with_roster_rows() -> None:
    people = [
        Person("dev/1", "Alice"),
        Person("dev/1", "Alice", speaking=True),  # her roster row, same platform id
        Person("el3", "Bob"),
        Person("el9", "Bob (Guest)"),  # no platform ids: merged by name
        Person("dev/2", "Notetaker"),  # the bot by name
        Person("dev/3", "Carol (You)"),  # the bot by marker
        Person("dev/4", "Dan", is_self=True),  # the bot by a self selector
        Person("dev/5", ""),
    ]
    found = others(people, "Notetaker", NameRules(drop=("(Guest)",)))
    assert found == (
        Participant("dev/1", "Alice", speaking=True),
        Participant("name:bob", "Bob", speaking=False),
    )


def test_captions_settle_then_grow_and_flush() -> None:
    tracker = CaptionTracker(settle=1.0)
    assert tracker.update([CaptionLine("c1", "Alice", "Hello")], 0.0) == ()
    assert tracker.update([CaptionLine("c1", "Alice", "Hello every")], 0.5) == ()
    assert tracker.update([CaptionLine("c1", "Alice", "Hello everyone")], 1.0) == ()
    assert tracker.update([CaptionLine("c1", "Alice", "Hello everyone")], 2.1) == (
        ("Alice", "Hello everyone"),
    )
    assert tracker.update([CaptionLine("c1", "Alice", "Hello everyone")], 3.5) == ()
    grown = [CaptionLine("c1", "Alice", "Hello everyone, welcome"), CaptionLine("c2", "", "Hi")]
    assert tracker.update(grown, 4.0) == (("Alice", "welcome"),)  # superseded: emitted now
    assert tracker.update([CaptionLine("c3", "Bob", "Thanks")], 4.2) == (("Alice", "Hi"),)
    assert tracker.update([], 4.3) == (("Bob", "Thanks"),)


def test_an_unknown_page_times_out_unless_something_is_recognised() -> None:
    timer = UnknownPageTimer(limit=5.0)
    assert not timer.expired(False, 0.0)
    assert not timer.expired(False, 4.9)
    assert not timer.expired(True, 5.0)  # recognised: starts over
    assert not timer.expired(False, 6.0)
    assert timer.expired(False, 11.0)


def test_zoom_tokens_go_into_the_web_client_url() -> None:
    url = "https://app.zoom.us/wc/join/81234567890?pwd=abc"
    assert zoom.web_client_url(url, None) == url
    assert zoom.web_client_url(url, ZoomTokens(zak="Z1", obf_token="O1")) == (
        "https://app.zoom.us/wc/join/81234567890?pwd=abc&zak=Z1&obf_token=O1"
    )
    assert zoom.web_client_url(url, ZoomTokens(obf_token="O1")).endswith("pwd=abc&obf_token=O1")


def test_credentials_hide_secrets_and_validate() -> None:
    creds = Credentials.from_mapping(
        {"google": {"email": "bot@example.com", "password": "hunter2"}, "zoom": {"zak": "ZAK"}}
    )
    assert creds.google == AccountLogin("bot@example.com", "hunter2")
    assert "hunter2" not in repr(creds)
    assert "ZAK" not in repr(creds)
    assert creds.microsoft is None
    with pytest.raises(ValueError, match="e-mail"):
        AccountLogin("", "x")
    with pytest.raises(ValueError, match="ZAK"):
        ZoomTokens()
    with pytest.raises(ValueError, match="unknown credential"):
        Credentials.from_mapping({"webex": {}})


def test_registry_knows_the_tables_adapters_and_says_what_it_lacks() -> None:
    for name in ("google_meet", "teams", "zoom", "webex", "janus"):
        assert page_for(name).platform == name
    with pytest.raises(UnsupportedPlatform, match="no adapter for platform 'skype'"):
        page_for("skype")


def test_every_sub_code_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    codes = {r.sub_code for rules in (MEET, TEAMS, ZOOM, WEBEX) for r in rules if r.sub_code}
    codes |= {"ui_element_not_found", "zoom_passcode_incorrect"}
    missing = sorted(c for c in codes if f"`{c}`" not in docs)
    assert not missing, f"sub_codes missing from docs/platforms.md: {missing}"


# -- signals by text in the right place -------------------------------------------------------

CHATTER = [
    (MEET, "Alice: We can pick this up after the call has ended."),
    (MEET, "The host ended the meeting for everyone last week"),
    (TEAMS, "You've been removed from this meeting invite, Bob"),
    (ZOOM, "This meeting has been ended by host yesterday, remember?"),
    (WEBEX, "Meeting has ended for Carol"),
]


@pytest.mark.parametrize(("rules", "line"), CHATTER)
def test_a_terminal_phrase_outside_headings_dialogs_and_alerts_does_not_end_a_call(
    rules: list[Rule], line: str
) -> None:
    """In the call (its controls shown), a caption or chat line that slipped past the reading's
    exclusions (unknown markup) is screen text, not a heading, dialog or alert: it ends nothing."""
    page = Reading(url="https://x.test/", text=f"Call\n{line}", signals=frozenset({"in_call"}))
    verdict = classify(page, rules)
    assert verdict is not None
    assert verdict.phase is Phase.IN_CALL


@pytest.mark.parametrize(
    ("rules", "text", "phase"),
    [
        (MEET, "Your host ended the meeting for everyone", Phase.ENDED),
        (MEET, "YOU\u2019VE BEEN REMOVED FROM THE MEETING.", Phase.REMOVED),
        (MEET, "Asking to be let in...", Phase.WAITING_ROOM),
        (TEAMS, "Hi there, someone in the meeting should let you in soon.", Phase.WAITING_ROOM),
        (ZOOM, "You\u2019ve been removed from this meeting by the host", Phase.REMOVED),
        (ZOOM, "PLEASE WAIT, THE MEETING HOST WILL LET YOU IN SOON", Phase.WAITING_ROOM),
        (WEBEX, "The host will let you in soon\u2026", Phase.WAITING_ROOM),
    ],
)
def test_phrases_match_whatever_the_case_quotes_ellipses_and_surrounding_words(
    rules: list[Rule], text: str, phase: Phase
) -> None:
    verdict = classify(reading(text), rules)
    assert verdict is not None
    assert verdict.phase is phase


def test_phrases_match_whole_words_only_and_contractions_either_way() -> None:
    assert has_phrase(phrase_key("You have been removed."), "You've been removed")
    assert has_phrase(phrase_key("We can\u2019t connect"), "we cannot connect")
    assert not has_phrase(phrase_key("The meeting has ended-ish"), "meeting has end")


def test_the_bots_own_name_is_never_read_as_a_screen() -> None:
    page = reading("Hi, The call has ended bot\nAsking to be let in")
    verdict = classify(page, MEET, bot_name="The call has ended bot")
    assert verdict is not None
    assert verdict.phase is Phase.WAITING_ROOM


def test_controls_are_signals_by_accessible_name_whatever_the_markup() -> None:
    wanted = {"in_call": ("Leave call",)}
    assert control_signals(["Leave call (ctrl + q)"], wanted) == {"in_call"}
    assert control_signals(["  leave CALL"], wanted) == {"in_call"}
    assert control_signals(["Leave", "Call me"], wanted) == frozenset()


def test_an_unknown_page_times_out_from_when_it_stopped_changing() -> None:
    timer = UnknownPageTimer(limit=5.0)
    assert not timer.expired(False, now=0.0, look="spinner")
    assert not timer.expired(False, now=4.0, look="page")  # changed: counting again
    assert not timer.expired(False, now=8.0, look="page")
    assert timer.expired(False, now=9.0, look="page")
    ticking = UnknownPageTimer(limit=5.0)
    assert not any(ticking.expired(False, now=t, look=t) for t in range(10))
    assert ticking.expired(False, now=10.0, look=10)  # at most twice the limit
    acting = UnknownPageTimer(limit=5.0)
    assert not acting.expired(False, now=0.0, look=0)
    acting.touch(now=8.0)  # the bot typed its name: progress, not a stuck page
    assert not acting.expired(False, now=12.0, look=12)
    assert acting.expired(False, now=18.0, look=18)
