"""Storage errors. Each is a :class:`meetbot.errors.MeetbotError`, so the API maps it once."""

from __future__ import annotations

from typing import ClassVar

from meetbot.contract.storage_keys import InvalidKey
from meetbot.errors import MeetbotError, NotFound


class ObjectNotFound(NotFound):
    """No object is stored at this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No stored object at {key!r}.")
        self.key = key


class InvalidMediaSignature(MeetbotError):
    """A ``/media`` link whose signature does not match, or which has expired."""

    status: ClassVar[int] = 403
    code: ClassVar[str] = "invalid_signature"


class StorageUnavailable(MeetbotError):
    """The storage backend could not be reached (S3 endpoint down, still starting, ...)."""

    status: ClassVar[int] = 503
    code: ClassVar[str] = "storage_unavailable"


__all__ = ["InvalidKey", "InvalidMediaSignature", "ObjectNotFound", "StorageUnavailable"]
