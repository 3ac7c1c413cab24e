"""Every route of the API as a :class:`Call`: method, path, query, body, and how to read the
answer. Both clients (:mod:`.sync`, :mod:`.asynchronous`) only send these, so a route's shape
is written once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from meetbot.client import models
from meetbot.timefmt import iso
from meetbot.unset import UNSET, Unset

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)

TranscriptFormat = Literal["txt", "srt", "vtt"]
When = datetime | str


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, str | int] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    """A raw body (an audio file), sent instead of ``json``."""


def _id(value: str) -> str:
    return quote(value, safe="")


def _time(value: When) -> str:
    return iso(value) if isinstance(value, datetime) else value


def _one(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda r: model.model_validate(r.json())


def _page(model: type[M]) -> Callable[[httpx.Response], tuple[list[M], str | None]]:
    def read(r: httpx.Response) -> tuple[list[M], str | None]:
        body = r.json()
        return [model.model_validate(x) for x in body["results"]], body.get("next")

    return read


def _results(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    return lambda r: [model.model_validate(x) for x in r.json()["results"]]


def _nothing(_: httpx.Response) -> None:
    return None


def _wire(value: Any) -> Any:
    """A field as JSON takes it: times as ISO 8601, any mapping as a dict."""
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, Mapping):
        return {k: _wire(v) for k, v in value.items()}
    return value


def _given(**fields: Any) -> dict[str, Any]:
    """The fields a PATCH names (``None`` is a value: null)."""
    return {k: _wire(v) for k, v in fields.items() if v is not UNSET}


# --- bots -----------------------------------------------------------------------------------

BOTS = "/api/v1/bot/"


def create_bot(body: dict[str, Any], idempotency_key: str | None) -> Call[models.Bot]:
    """``Idempotency-Key``: the one given, else a fresh one (kept across this call's retries)."""
    key = idempotency_key or str(uuid.uuid4())
    return Call("POST", BOTS, _one(models.Bot), json=body, headers={"Idempotency-Key": key})


def bot_body(meeting_url: str, **fields: Any) -> dict[str, Any]:
    """A create's body: the fields given (``None``: left to the server's default)."""
    body: dict[str, Any] = {"meeting_url": meeting_url}
    body.update({k: _wire(v) for k, v in fields.items() if v is not None})
    return body


def list_bots(
    cursor: str | None,
    *,
    status: str | None = None,
    join_at_after: When | None = None,
    join_at_before: When | None = None,
    meeting_url: str | None = None,
    metadata: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> Call[tuple[list[models.Bot], str | None]]:
    params: dict[str, str | int] = {}
    if status is not None:
        params["status"] = status
    if join_at_after is not None:
        params["join_at_after"] = _time(join_at_after)
    if join_at_before is not None:
        params["join_at_before"] = _time(join_at_before)
    if meeting_url is not None:
        params["meeting_url"] = meeting_url
    for key, value in (metadata or {}).items():
        params[f"metadata__{key}"] = value
    if limit is not None:
        params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", BOTS, _page(models.Bot), params=params)


def get_bot(bot_id: str) -> Call[models.Bot]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/", _one(models.Bot))


def update_bot(bot_id: str, fields: dict[str, Any]) -> Call[models.Bot]:
    return Call("PATCH", f"{BOTS}{_id(bot_id)}/", _one(models.Bot), json=_given(**fields))


def delete_bot(bot_id: str) -> Call[None]:
    return Call("DELETE", f"{BOTS}{_id(bot_id)}/", _nothing)


def leave_call(bot_id: str) -> Call[models.Bot]:
    return Call("POST", f"{BOTS}{_id(bot_id)}/leave_call/", _one(models.Bot))


def transcript(bot_id: str) -> Call[models.Transcript]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/transcript/", _one(models.Transcript))


def transcript_text(bot_id: str, fmt: TranscriptFormat) -> Call[str]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/transcript/", lambda r: r.text, params={"format": fmt})


def recording(bot_id: str) -> Call[models.Recording]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/recording/", _one(models.Recording))


def participants(bot_id: str) -> Call[list[models.Participant]]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/participants/", _results(models.Participant))


def debug_artifacts(bot_id: str) -> Call[list[models.DebugArtifact]]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/debug_artifacts/", _results(models.DebugArtifact))


def delete_data(bot_id: str) -> Call[None]:
    return Call("POST", f"{BOTS}{_id(bot_id)}/delete_data/", _nothing)


def send_chat_message(bot_id: str, message: str, to: str) -> Call[models.ChatSent]:
    path = f"{BOTS}{_id(bot_id)}/send_chat_message/"
    return Call("POST", path, _one(models.ChatSent), json={"message": message, "to": to})


def chat(bot_id: str) -> Call[list[models.ChatMessage]]:
    return Call("GET", f"{BOTS}{_id(bot_id)}/chat/", _results(models.ChatMessage))


def pause_recording(bot_id: str) -> Call[models.Bot]:
    return Call("POST", f"{BOTS}{_id(bot_id)}/pause_recording/", _one(models.Bot))


def resume_recording(bot_id: str) -> Call[models.Bot]:
    return Call("POST", f"{BOTS}{_id(bot_id)}/resume_recording/", _one(models.Bot))


def output_video(bot_id: str, bot_image: str) -> Call[models.Bot]:
    path = f"{BOTS}{_id(bot_id)}/output_video/"
    return Call("POST", path, _one(models.Bot), json={"bot_image": bot_image})


AUDIO_TYPES = {b"RIFF": "audio/wav", b"OggS": "audio/ogg", b"\x1aE\xdf\xa3": "audio/webm"}


AudioSource = bytes | Path | BinaryIO
"""An audio file to say: its bytes, its path, or a binary file open for reading."""


def output_audio(
    bot_id: str, audio: AudioSource | None, text: str | None, voice: str | None, interrupt: bool
) -> Call[models.AudioQueued]:
    """A file or a text (exactly one) to say; ``ValueError`` for both or neither."""
    if (audio is None) == (text is None):
        raise ValueError("Give either an audio file or text=, not both.")
    if text is not None:
        return output_audio_text(bot_id, text, voice, interrupt)
    if voice is not None:
        raise ValueError("voice= is for text=: a file is said as it sounds.")
    assert audio is not None
    if isinstance(audio, Path):
        data = audio.read_bytes()
    elif isinstance(audio, bytes):
        data = audio
    else:
        data = audio.read()
    return output_audio_file(bot_id, data, interrupt)


def output_audio_file(bot_id: str, data: bytes, interrupt: bool) -> Call[models.AudioQueued]:
    """The file as the body (its ``Content-Type`` from its first bytes; the server tells the
    formats apart by them anyway), ``?interrupt=true`` to cut in."""
    kind = AUDIO_TYPES.get(data[:4], "audio/mpeg")
    path = f"{BOTS}{_id(bot_id)}/output_audio/"
    params: dict[str, str | int] = {"interrupt": "true"} if interrupt else {}
    headers = {"Content-Type": kind}
    return Call("POST", path, _one(models.AudioQueued), params, content=data, headers=headers)


def output_audio_text(
    bot_id: str, text: str, voice: str | None, interrupt: bool
) -> Call[models.AudioQueued]:
    body: dict[str, Any] = {"text": text, "interrupt": interrupt}
    if voice is not None:
        body["voice"] = voice
    path = f"{BOTS}{_id(bot_id)}/output_audio/"
    return Call("POST", path, _one(models.AudioQueued), json=body)


def stop_output_audio(bot_id: str) -> Call[None]:
    return Call("DELETE", f"{BOTS}{_id(bot_id)}/output_audio/", _nothing)


def stream_token(bot_id: str) -> Call[models.StreamToken]:
    return Call("POST", f"{BOTS}{_id(bot_id)}/stream_token/", _one(models.StreamToken))


StreamAudio = Literal["mixed", "separate"]


def stream_path(bot_id: str) -> str:
    """The WebSocket ``GET /api/v1/bot/{id}/stream`` (see :mod:`meetbot.client.stream`)."""
    return f"{BOTS}{_id(bot_id)}/stream"


def stream_params(after: str | None, audio: StreamAudio | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if after is not None:
        params["after"] = after
    if audio is not None:
        params["audio"] = audio
    return params


# --- webhook endpoints and deliveries -------------------------------------------------------

HOOKS = "/api/v1/webhook_endpoints/"


def create_endpoint(
    url: str, event_types: list[str] | None, enabled: bool
) -> Call[models.WebhookEndpoint]:
    body = {"url": url, "event_types": event_types, "enabled": enabled}
    return Call("POST", HOOKS, _one(models.WebhookEndpoint), json=body)


def list_endpoints(
    cursor: str | None, limit: int | None = None
) -> Call[tuple[list[models.WebhookEndpoint], str | None]]:
    return Call("GET", HOOKS, _page(models.WebhookEndpoint), params=_cursor(cursor, limit))


def get_endpoint(endpoint_id: str) -> Call[models.WebhookEndpoint]:
    return Call("GET", f"{HOOKS}{_id(endpoint_id)}/", _one(models.WebhookEndpoint))


def update_endpoint(
    endpoint_id: str,
    url: str | Unset = UNSET,
    event_types: list[str] | Unset | None = UNSET,
    enabled: bool | Unset = UNSET,
) -> Call[models.WebhookEndpoint]:
    body = _given(url=url, event_types=event_types, enabled=enabled)
    return Call("PATCH", f"{HOOKS}{_id(endpoint_id)}/", _one(models.WebhookEndpoint), json=body)


def delete_endpoint(endpoint_id: str) -> Call[None]:
    return Call("DELETE", f"{HOOKS}{_id(endpoint_id)}/", _nothing)


def rotate_secret(endpoint_id: str) -> Call[models.WebhookEndpoint]:
    path = f"{HOOKS}{_id(endpoint_id)}/rotate_secret/"
    return Call("POST", path, _one(models.WebhookEndpoint))


def replay(endpoint_id: str, start: When, end: When) -> Call[int]:
    body = {"from": _time(start), "to": _time(end)}
    path = f"{HOOKS}{_id(endpoint_id)}/replay/"
    return Call("POST", path, lambda r: int(r.json()["deliveries"]), json=body)


def list_deliveries(
    endpoint_id: str, cursor: str | None, status: str | None = None, limit: int | None = None
) -> Call[tuple[list[models.Delivery], str | None]]:
    params = _cursor(cursor, limit)
    if status is not None:
        params["status"] = status
    path = f"{HOOKS}{_id(endpoint_id)}/deliveries/"
    return Call("GET", path, _page(models.Delivery), params=params)


def get_delivery(endpoint_id: str, delivery_id: str) -> Call[models.Delivery]:
    path = f"{HOOKS}{_id(endpoint_id)}/deliveries/{_id(delivery_id)}/"
    return Call("GET", path, _one(models.Delivery))


def retry_delivery(endpoint_id: str, delivery_id: str) -> Call[models.Delivery]:
    path = f"{HOOKS}{_id(endpoint_id)}/deliveries/{_id(delivery_id)}/retry/"
    return Call("POST", path, _one(models.Delivery))


# --- events, capacity, credentials ----------------------------------------------------------


def events(after: str | None, limit: int | None = None) -> Call[models.EventPage]:
    params: dict[str, str | int] = {}
    if after is not None:
        params["after"] = after
    if limit is not None:
        params["limit"] = limit
    return Call("GET", "/api/v1/events/", _one(models.EventPage), params=params)


def capacity(
    start: When | None = None, end: When | None = None, step: int | None = None
) -> Call[models.Capacity]:
    params: dict[str, str | int] = {}
    if start is not None:
        params["from"] = _time(start)
    if end is not None:
        params["to"] = _time(end)
    if step is not None:
        params["step"] = step
    return Call("GET", "/api/v1/capacity/", _one(models.Capacity), params=params)


CREDENTIALS = "/api/v1/credentials/"


def get_credentials() -> Call[models.CredentialFlags]:
    return Call("GET", CREDENTIALS, _one(models.CredentialFlags))


def put_credentials(body: Mapping[str, Any]) -> Call[models.CredentialFlags]:
    return Call("PUT", CREDENTIALS, _one(models.CredentialFlags), json=dict(body))


def delete_credentials() -> Call[None]:
    return Call("DELETE", CREDENTIALS, _nothing)


def _cursor(cursor: str | None, limit: int | None) -> dict[str, str | int]:
    params: dict[str, str | int] = {}
    if cursor is not None:
        params["cursor"] = cursor
    if limit is not None:
        params["limit"] = limit
    return params
