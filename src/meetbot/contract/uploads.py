"""How a runner stores its bot's media without storage keys of its own (issue 12).

The assignment's storage descriptor is :data:`UPLOAD_DESCRIPTOR`: no bucket, no keys. For each
object the runner asks ``POST /internal/bots/{id}/uploads`` (its token, an
:class:`UploadRequest`) and gets an :class:`UploadTarget` scoped to that one key: a presigned
S3 ``PUT`` that expires, or, for local storage, the control plane's own
``PUT /internal/bots/{id}/objects/{key}`` (its token again, the body capped at
:data:`MAX_UPLOAD_BYTES`). A key that is not the bot's own (``bots/<id>/...``) is refused.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

UPLOAD_DESCRIPTOR: Final = {"kind": "upload"}
"""The storage descriptor of every assignment: upload through :class:`UploadTarget`\\ s."""

MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024
"""The largest object a runner may upload through the control plane (a video chunk is a few
MB)."""

PRESIGNED_TTL_SECONDS: Final = 300
"""How long a presigned PUT stays valid (one attempt of one chunk, retries ask again)."""


class UploadRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str = Field(max_length=512)
    content_type: str | None = Field(default=None, max_length=200)


class UploadTarget(BaseModel):
    model_config = ConfigDict(frozen=True)
    method: Literal["PUT"] = "PUT"
    url: str
    """Absolute (a presigned S3 URL), or a path on the control plane (send the runner token)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers the PUT must carry (the signed ``Content-Type``)."""

    @property
    def on_control_plane(self) -> bool:
        return self.url.startswith("/")


def object_path(bot_id: str, key: str) -> str:
    """The control plane's upload route for ``key`` (local storage)."""
    return f"/internal/bots/{bot_id}/objects/{key}"
