"""Log lines: human-readable by default, one JSON object per line with ``MEETBOT_LOG_FORMAT=json``.

Every line logged while a request or a bot is being handled carries its ``request_id``,
``bot_id`` and ``workspace_id`` (context variables, set by the API's request middleware, the
authentication dependency and the runner): a JSON line has them as fields, a text line as a
``[request_id=... bot_id=...]`` suffix. :func:`setup` is called once by each entrypoint
(``meetbot serve``, ``deliver``, ``agent``, the runner); passcodes are redacted from every line
(:mod:`meetbot.redaction`).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from meetbot import redaction

request_id: ContextVar[str | None] = ContextVar("meetbot_request_id", default=None)
bot_id: ContextVar[str | None] = ContextVar("meetbot_bot_id", default=None)
workspace_id: ContextVar[str | None] = ContextVar("meetbot_workspace_id", default=None)

FIELDS: Final = (("request_id", request_id), ("bot_id", bot_id), ("workspace_id", workspace_id))
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def context() -> dict[str, str]:
    """The context fields set now (those unset are left out)."""
    return {name: value for name, var in FIELDS if (value := var.get()) is not None}


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Set context fields (``request_id``, ``bot_id``, ``workspace_id``) for the block."""
    variables = dict((name, var) for name, var in FIELDS)
    tokens = [(variables[name], variables[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Copies the context fields onto each record (``record.meetbot_context``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "meetbot_context"):
            record.meetbot_context = context()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the context
    fields, ``process`` and ``exception`` (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        line.update(getattr(record, "meetbot_context", None) or context())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The readable line, with the context fields appended in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "meetbot_context", None) or context()
        if not fields:
            return text
        suffix = " ".join(f"{k}={v}" for k, v in fields.items())
        head, sep, rest = text.partition("\n")
        return f"{head} [{suffix}]{sep}{rest}"


def handler(
    log_format: str, *, stream: TextIO | None = None, fmt: str = TEXT_FORMAT
) -> logging.Handler:
    """A stream handler writing ``log_format`` (``json`` or ``text``) lines, with the
    context and redaction filters."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(fmt))
    out.addFilter(ContextFilter())
    out.addFilter(redaction.RedactingFilter())
    return out


def setup(
    level: str, log_format: str, *, fmt: str = TEXT_FORMAT, stream: TextIO | None = None
) -> None:
    """Configure the root logger once for this process (an entrypoint calls it)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format, stream=stream, fmt=fmt))
    root.setLevel(level.upper())
