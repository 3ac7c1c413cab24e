"""A runner stores its bot's media through URLs scoped to one key (issue 12): the control
plane presigns an S3 ``PUT`` for it, or takes the object itself (local storage). Runners hold
no storage keys (:mod:`meetbot.contract.uploads`)."""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from meetbot import errors
from meetbot.contract.media_format import runner_may_store
from meetbot.contract.uploads import (
    MAX_UPLOAD_BYTES,
    PRESIGNED_TTL_SECONDS,
    UploadRequest,
    UploadTarget,
    object_path,
)
from meetbot.control.service.core import Services
from meetbot.control.service.runners import authenticate
from meetbot.ports import Storage
from meetbot.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)


@runtime_checkable
class PresigningStorage(Protocol):
    """A storage that can hand out a URL to PUT one key (S3)."""

    def presigned_put(self, key: str, content_type: str | None, ttl_seconds: int) -> str: ...


class ForeignKey(errors.MeetbotError):
    """A runner asked to store a key that is not its own bot's."""

    status = 403
    code = "forbidden_key"


def _storage(svc: Services) -> Storage:
    if svc.media_storage is None:
        raise errors.StoreUnavailable("No media storage is configured.")
    return svc.media_storage


def _own(bot_id: str, key: str) -> None:
    if not runner_may_store(bot_id, key):
        log.warning("bot %s: refused an upload of another key", bot_id)
        raise ForeignKey(
            f"A runner stores only its own bot's keys (bots/{bot_id}/..., not segments/)."
        )


async def upload_target(
    svc: Services, bot_id: str, token: str, request: UploadRequest
) -> UploadTarget:
    """Where the runner of ``bot_id`` PUTs ``request.key``: a presigned URL for that key alone,
    or the control plane's upload route."""
    await authenticate(svc, bot_id, token)
    _own(bot_id, request.key)
    storage = _storage(svc)
    if isinstance(storage, PresigningStorage):
        url = storage.presigned_put(request.key, request.content_type, PRESIGNED_TTL_SECONDS)
        headers = {"Content-Type": request.content_type} if request.content_type else {}
        return UploadTarget(url=url, headers=headers)
    return UploadTarget(url=object_path(bot_id, request.key))


async def store_object(
    svc: Services, bot_id: str, token: str, key: str, body: bytes, content_type: str | None
) -> None:
    """Store an object a runner sent through the control plane (local storage)."""
    await authenticate(svc, bot_id, token)
    _own(bot_id, key)
    if len(body) > MAX_UPLOAD_BYTES:
        raise errors.InvalidRequest(f"An upload is at most {MAX_UPLOAD_BYTES} bytes.")
    try:
        await _storage(svc).put(key, body, content_type)
    except OSError as exc:  # a full or read-only disk: the runner's spool keeps it, retries
        raise StorageUnavailable(f"Media storage refused the object: {exc.strerror}.") from exc
