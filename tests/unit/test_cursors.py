"""The cursor codec: round trips, and refuses anything it did not make for this list."""

from __future__ import annotations

import pytest

from meetbot.control.cursors import CursorCodec
from meetbot.errors import InvalidCursor

SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("seq", [0, 1, 41, 2**63 - 1])
def test_round_trip(seq: int) -> None:
    codec = CursorCodec(SECRET)
    cursor = codec.encode("bots", "ws", seq)
    assert len(cursor) == 32
    assert codec.decode("bots", "ws", cursor) == seq
    assert CursorCodec(SECRET).decode("bots", "ws", cursor) == seq  # survives a restart


@pytest.mark.parametrize(
    ("kind", "workspace", "codec"),
    [
        ("events", "ws", CursorCodec(SECRET)),
        ("bots", "other", CursorCodec(SECRET)),
        ("bots", "ws", CursorCodec(b"another secret of thirty-two byt")),
    ],
)
def test_another_list_workspace_or_secret_is_refused(
    kind: str, workspace: str, codec: CursorCodec
) -> None:
    cursor = CursorCodec(SECRET).encode("bots", "ws", 7)
    with pytest.raises(InvalidCursor):
        codec.decode(kind, workspace, cursor)


@pytest.mark.parametrize("bad", ["", "x", "====", "A" * 32, "A" * 201, "é", "Yjk5OQ"])
def test_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        CursorCodec(SECRET).decode("bots", "ws", bad)


def test_an_altered_cursor_is_refused() -> None:
    cursor = CursorCodec(SECRET).encode("bots", "ws", 7)
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    with pytest.raises(InvalidCursor):
        CursorCodec(SECRET).decode("bots", "ws", flipped)
