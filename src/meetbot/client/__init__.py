"""The Python SDK of the meetbot API: ``Meetbot`` (blocking) and ``AsyncMeetbot`` on httpx.

    from meetbot.client import Meetbot

    with Meetbot("http://127.0.0.1:8000", "<api key>") as meetbot:
        bot = meetbot.bots.create("https://meet.google.com/abc-defg-hij", bot_name="Notes")
        bot = meetbot.bots.wait(bot.id)          # until its work is over
        print(meetbot.bots.transcript_text(bot.id, "srt"))
        for frame in meetbot.stream(bot.id):    # its events live, until it ends
            print(frame)

See ``docs/sdk.md``. The client imports nothing of the server (``meetbot.control``).
"""

from meetbot.client.asynchronous import AsyncMeetbot
from meetbot.client.errors import (
    ApiError,
    CapacityExhausted,
    Conflict,
    Forbidden,
    InvalidRequest,
    MeetbotClientError,
    MethodNotAllowed,
    NotFound,
    NotReady,
    RateLimited,
    RequestTooLarge,
    ServerError,
    ServiceUnavailable,
    StreamLost,
    Unauthorized,
    WaitTimeout,
)
from meetbot.client.models import (
    AudioQueued,
    Bot,
    Calendar,
    CalendarEvent,
    Capacity,
    ChatMessage,
    CredentialFlags,
    DebugArtifact,
    Delivery,
    Event,
    Participant,
    Recording,
    Segment,
    StreamEvent,
    Transcript,
    WebhookEndpoint,
)
from meetbot.client.retries import NO_RETRIES, RetryPolicy
from meetbot.client.stream import AudioChunk, ParticipantAudio
from meetbot.client.sync import Meetbot
from meetbot.client.webhook_signature import WebhookVerificationError, verify_webhook

__all__ = [
    "NO_RETRIES",
    "ApiError",
    "AsyncMeetbot",
    "AudioChunk",
    "AudioQueued",
    "Bot",
    "Calendar",
    "CalendarEvent",
    "Capacity",
    "CapacityExhausted",
    "ChatMessage",
    "Conflict",
    "CredentialFlags",
    "DebugArtifact",
    "Delivery",
    "Event",
    "Forbidden",
    "InvalidRequest",
    "Meetbot",
    "MeetbotClientError",
    "MethodNotAllowed",
    "NotFound",
    "NotReady",
    "Participant",
    "ParticipantAudio",
    "RateLimited",
    "Recording",
    "RequestTooLarge",
    "RetryPolicy",
    "Segment",
    "ServerError",
    "ServiceUnavailable",
    "StreamEvent",
    "StreamLost",
    "Transcript",
    "Unauthorized",
    "WaitTimeout",
    "WebhookEndpoint",
    "WebhookVerificationError",
    "verify_webhook",
]
