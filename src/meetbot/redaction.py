"""Meeting passcodes stay out of logs: a passcode in a URL is replaced before a line is written.

Zoom carries the passcode in ``pwd=``, Teams in ``p=`` (``/meet/<id>?p=...``), Webex in
``pwd=``/``password=``; invitation and join links may add ``passcode=``, ``tk=``/``token=``
(Zoom registration tokens), ``zak=``/``obf_token=`` (Zoom join tokens) or ``userinfo@``
credentials. :func:`redact` replaces each value
with ``<redacted>``, wherever the URL sits in the text. :class:`RedactingFilter`, installed on
the handlers of ``meetbot serve``, ``deliver``, the runner and the doctor (:func:`install`),
applies it to every log line, whoever logs it; a status change's ``message`` is redacted with
it too (:mod:`meetbot.contract.status_texts`).

The stored meeting URL keeps its passcode (the bot needs it to join); only logs lose it.
"""

from __future__ import annotations

import logging
import re
from typing import Final

MASK: Final = "<redacted>"
SECRET_PARAMS: Final = (
    "pwd", "passcode", "password", "pass", "p", "tk", "token", "zak", "obf_token",
)  # fmt: skip

_PARAM = re.compile(
    r"(?i)(?P<head>[?&;](?:" + "|".join(SECRET_PARAMS) + r")=)(?P<value>[^&#\s\"'<>]+)"
)
_USERINFO = re.compile(r"(?i)(?P<head>\b[a-z][a-z0-9+.-]*://)(?P<value>[^/@\s\"'<>]+)@")


def redact(text: str) -> str:
    """``text`` with the passcodes of the URLs in it replaced by :data:`MASK`."""
    if "=" in text:
        text = _PARAM.sub(lambda m: m["head"] + MASK, text)
    if "@" in text:
        text = _USERINFO.sub(lambda m: m["head"] + MASK + "@", text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and its traceback text) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (default: the root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
