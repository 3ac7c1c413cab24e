"""The control plane's fan-out of the live audio (issue 16 §1): each piece to every stream
client of its bot (the oldest dropped for one that falls behind) and to the listeners; the
runner's registration; the frame format."""

from __future__ import annotations

import pytest

from meetbot.contract.live_audio import HEADER_BYTES, live_frame, parse_live_frame
from meetbot.control.live_audio import QUEUE_PIECES, LiveAudioHub


def test_a_piece_goes_to_each_client_of_its_bot_and_to_the_listeners() -> None:
    hub = LiveAudioHub()
    seen: list[tuple[str, int, bytes]] = []
    hub.listeners.append(lambda *piece: seen.append(piece))
    with hub.subscribe("b1") as one, hub.subscribe("b1") as two, hub.subscribe("b2") as other:
        assert hub.listening("b1") == 2
        hub.publish("b1", 800, b"\x01\x00")
        assert one.get_nowait() == two.get_nowait() == (800, b"\x01\x00")
        assert other.empty()
    assert hub.listening("b1") == 0
    hub.publish("b1", 801, b"\x02\x00")  # nobody subscribed: the listeners still get it
    assert seen == [("b1", 800, b"\x01\x00"), ("b1", 801, b"\x02\x00")]
    assert hub.pieces == 2


def test_a_client_that_falls_behind_loses_its_oldest_pieces_only() -> None:
    hub = LiveAudioHub()
    with hub.subscribe("b1") as slow, hub.subscribe("b1") as fast:
        for i in range(QUEUE_PIECES + 2):
            hub.publish("b1", i, b"\x00\x00")
            fast.get_nowait()
        assert slow.qsize() == QUEUE_PIECES
        assert slow.get_nowait()[0] == 2
    assert hub.dropped_pieces == 2


def test_a_newer_runner_socket_takes_over_and_the_older_one_leaving_keeps_it() -> None:
    hub = LiveAudioHub()
    older = hub.runner("b1")
    older.__enter__()
    assert hub.connected("b1")
    with hub.runner("b1"):
        older.__exit__(None, None, None)  # the older socket's close comes late
        assert hub.connected("b1")
    assert not hub.connected("b1")


@pytest.mark.parametrize(
    ("frame", "parsed"),
    [
        (live_frame(16_000, b"\x01\x00\x02\x00"), (16_000, b"\x01\x00\x02\x00")),
        (live_frame(-5, b"\x01\x00"), (0, b"\x01\x00")),
        (live_frame(3, b""), None),  # no audio
        (live_frame(3, b"\x01"), None),  # half a sample
        (live_frame(3, bytes(32_002)), None),  # over one second
        (b"\x00" * (HEADER_BYTES - 1), None),
    ],
)
def test_live_frames(frame: bytes, parsed: tuple[int, bytes] | None) -> None:
    assert parse_live_frame(frame) == parsed
