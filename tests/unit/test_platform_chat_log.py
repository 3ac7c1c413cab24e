"""The chat panels' reading (issue 16): successive readings of a Meet, Teams, Zoom or Webex chat
panel become each message once, with its sender (runs of messages name the sender once), never
the bot's own; and which platforms send where (``contract/platforms.py``)."""

from __future__ import annotations

import pytest

from meetbot.contract.platforms import PLATFORMS, Platform, info
from meetbot.control.service.chat import UnsupportedForPlatform, check_chat
from meetbot.runner.platforms.base import ChatLine
from meetbot.runner.platforms.chat_panel import ChatLog, RawMessage, chat_lines


def m(sender: str, text: str, id_: str = "") -> RawMessage:
    return RawMessage(id_, sender, text)


def texts(found: list[RawMessage]) -> list[tuple[str, str]]:
    return [(r.sender, r.text) for r in found]


def test_a_run_of_messages_takes_the_sender_of_its_header() -> None:
    log = ChatLog()
    found = log.update([m("Alice", "one"), m("", "two"), m("Bob", "three"), m("", "four")], "Bot")
    assert texts(found) == [("Alice", "one"), ("Alice", "two"), ("Bob", "three"), ("Bob", "four")]


def test_each_message_is_reported_once_across_readings() -> None:
    log = ChatLog()
    assert texts(log.update([m("Alice", "hi")], "Bot")) == [("Alice", "hi")]
    assert log.update([m("Alice", "hi")], "Bot") == []
    later = log.update([m("Alice", "hi"), m("", "again"), m("Bob", "hi")], "Bot")
    assert texts(later) == [("Alice", "again"), ("Bob", "hi")]


def test_the_same_words_twice_are_two_messages() -> None:
    log = ChatLog()
    assert texts(log.update([m("Alice", "ok")], "Bot")) == [("Alice", "ok")]
    assert texts(log.update([m("Alice", "ok"), m("", "ok")], "Bot")) == [("Alice", "ok")]


def test_ids_tell_messages_apart_when_the_page_gives_them() -> None:
    log = ChatLog()
    assert len(log.update([m("Alice", "ok", "m1")], "Bot")) == 1
    # the panel re-rendered: an older message scrolled out, the same words under a new id
    assert texts(log.update([m("Alice", "ok", "m2")], "Bot")) == [("Alice", "ok")]
    assert log.update([m("Alice", "ok", "m1"), m("Alice", "ok", "m2")], "Bot") == []


@pytest.mark.parametrize("own", ["You", "me", "Notetaker", " Notetaker "])
def test_the_bots_own_messages_and_their_runs_are_left_out(own: str) -> None:
    log = ChatLog()
    found = log.update([m(own, "I record"), m("", "still me"), m("Alice", "ok")], "Notetaker")
    assert texts(found) == [("Alice", "ok")]


def test_a_message_not_rendered_yet_is_read_again() -> None:
    log = ChatLog()
    assert log.update([m("Alice", "  ")], "Bot") == []
    assert texts(log.update([m("Alice", "there now")], "Bot")) == [("Alice", "there now")]


def test_a_message_without_any_sender_is_not_reported() -> None:
    assert ChatLog().update([m("", "who said this?")], "Bot") == []


def test_chat_lines_name_the_sender_by_participant_id_where_known() -> None:
    lines = chat_lines([m("Alice", "hi"), m("Carol", "yo")], {"Alice": "spaces/x/devices/7"})
    assert lines == (
        ChatLine("spaces/x/devices/7", "Alice", "hi"),
        ChatLine("Carol", "Carol", "yo"),
    )


def test_every_platform_reads_chat_and_speaks() -> None:
    assert all(row.chat and row.voice for row in PLATFORMS)


@pytest.mark.parametrize("platform", [p for p in Platform if not info(p).private_chat])
def test_a_private_message_where_the_adapter_sends_to_everyone_only_is_refused(
    platform: Platform,
) -> None:
    check_chat(platform, "everyone")
    with pytest.raises(UnsupportedForPlatform):
        check_chat(platform, "participant-7")


def test_janus_sends_private_messages() -> None:
    check_chat(Platform.JANUS, "participant-7")
