"""Meeting passcodes never reach a log line."""

from __future__ import annotations

import io
import logging

import pytest

from meetbot.redaction import MASK, RedactingFilter, install, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://zoom.us/j/123?pwd=abcDEF.1", f"https://zoom.us/j/123?pwd={MASK}"),
        (
            "joining https://us02web.zoom.us/j/85?uname=a&pwd=Zz9#success now",
            f"joining https://us02web.zoom.us/j/85?uname=a&pwd={MASK}#success now",
        ),
        (
            "https://teams.microsoft.com/meet/123?p=SeCrEt",
            f"https://teams.microsoft.com/meet/123?p={MASK}",
        ),
        (
            "https://x.webex.com/j.php?MTID=m1&PASSWORD=s3",
            f"https://x.webex.com/j.php?MTID=m1&PASSWORD={MASK}",
        ),
        ("https://zoom.us/w/1?tk=abc&pwd=x", f"https://zoom.us/w/1?tk={MASK}&pwd={MASK}"),
        ("url='https://zoom.us/j/1?passcode=9'", f"url='https://zoom.us/j/1?passcode={MASK}'"),
        ("https://user:pw@janus.local/room", f"https://{MASK}@janus.local/room"),
        ("https://meet.google.com/abc-defg-hij", "https://meet.google.com/abc-defg-hij"),
        ("https://zoom.us/j/123?uname=bot", "https://zoom.us/j/123?uname=bot"),
        ("p=1 is no url", "p=1 is no url"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_every_log_line_through_an_installed_handler_is_redacted() -> None:
    out = io.StringIO()
    logger = logging.getLogger("test.redaction")
    logger.propagate = False
    handler = logging.StreamHandler(out)
    logger.addHandler(handler)
    install(logger)
    install(logger)  # once is enough
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    try:
        logger.warning("bot %s: zoom %s", "b1", "https://zoom.us/j/1?pwd=SECRET1")
        try:
            raise ValueError("cannot open https://zoom.us/j/1?pwd=SECRET2")
        except ValueError:
            logger.exception("join failed")
    finally:
        logger.removeHandler(handler)
    written = out.getvalue()
    assert "SECRET" not in written
    assert written.count(MASK) >= 2  # the message, the exception (and its source line)
    assert "join failed" in written
