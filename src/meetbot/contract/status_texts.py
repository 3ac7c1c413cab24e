"""Human-readable texts for the status changes that end or stop a bot (the ``message`` field).

Keyed by plain strings (stop reasons, statuses, sub-codes) so :mod:`meetbot.contract.lifecycle` can
use them without an import cycle. :func:`describe` picks the most specific text: the sub-code's,
else the stop reason's, else the status's; a detail (what the runner saw: the browser's error,
the page's text) is appended after a colon. Texts are the client's; they never hold secrets
(:func:`redact` strips join tokens from URLs in details).
"""

from __future__ import annotations

from typing import Final

from meetbot.redaction import redact

MAX_MESSAGE: Final = 1000

REASONS: Final[dict[str, str]] = {
    # finished
    "kicked": "The bot was removed from the meeting.",
    "meeting_ended": "The meeting ended.",
    "empty_meeting_timeout": (
        "Nobody else joined the meeting within stop_options.empty_meeting_timeout."
    ),
    "last_person_detected": (
        "Everyone else left the meeting (stop_options.last_person_detection)."
    ),
    "manually_stopped": "The bot was stopped with leave_call.",
    "silence_detection_triggered": ("Nobody spoke for stop_options.silence_detection minutes."),
    "time_limit": (
        "The bot reached stop_options.time_limit, counted from when it started joining."
    ),
    # not_admitted
    "invalid_meeting_url": "The meeting URL leads to no meeting the bot can join.",
    "call_already_finished": "The meeting had already ended when the bot arrived.",
    "waiting_room_timeout": "Nobody admitted the bot within stop_options.waiting_room_timeout.",
    "request_denied": "The host denied the bot's request to join.",
    "host_in_another_meeting": (
        "The host is currently in another meeting and has not started this one yet "
        "(common in Zoom)."
    ),
}

STATUSES: Final[dict[str, str]] = {
    "auth_required": "The meeting admits signed-in users only and the bot has no account for it.",
    "invalid_credentials": "The platform refused the bot's credentials.",
    "invalid_api_key": "The transcription vendor refused its API key.",
    "bot_detected": "The platform blocked the bot as a bot.",
    "failed": "The bot failed.",
}

SUB_CODES: Final[dict[str, str]] = {
    "bot_process_lost": "The bot's runner stopped reporting (no heartbeat).",
    "failed_to_launch_in_time": "No runner could be started for the bot in time.",
    "bot_launch_failed": "The bot's runner could not be started.",
    "credentials_unreadable": "The bot's stored credentials cannot be decrypted.",
    "browser_launch_failed": "The bot's browser did not start.",
    "browser_crashed": "The bot's browser crashed.",
    "join_failed": "The bot could not open the meeting.",
    "join_timeout": "The bot could not ask to join in time.",
    "poll_failed": "The bot could no longer read the meeting page.",
    "ui_element_not_found": "The meeting page showed nothing the bot recognises.",
    "unsupported_platform": "The bot's runner has no adapter for this platform.",
    "invalid_credentials_format": "The bot's credentials are not in a form its runner reads.",
    "invalid_storage": "The bot's runner cannot reach media storage.",
    "runner_error": "The bot's runner stopped on an unexpected error.",
    "page_error": "The meeting page showed an error.",
    "transcription_failed": "The transcription failed.",
    "meeting_not_found": "The meeting does not exist.",
    "zoom_passcode_incorrect": "The Zoom passcode is wrong or missing (pwd= in the link).",
    "host_shutdown": "The bot's runner host shut down (drained or evicted); the bot left.",
}


def describe(
    status: str, stop_reason: str | None, sub_code: str | None, detail: str | None = None
) -> str:
    """The message of a status change that ends or stops a bot."""
    text = (
        SUB_CODES.get(sub_code or "")
        or REASONS.get(stop_reason or "")
        or STATUSES.get(status)
        or f"The bot is {status.replace('_', ' ')}."
    )
    if sub_code and sub_code not in SUB_CODES and status == "failed":
        text = f"The bot failed ({sub_code})."
    if detail and detail.strip():
        text = f"{text.rstrip('.')}: {redact(detail.strip())}"
    return text[:MAX_MESSAGE]


def error_text(exc: BaseException) -> str:
    """What an exception says, in one line (a browser error's first line: ``Page.goto:
    net::ERR_NAME_NOT_RESOLVED at https://...``), for a message; its type if it says nothing."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:MAX_MESSAGE] if lines else type(exc).__name__
