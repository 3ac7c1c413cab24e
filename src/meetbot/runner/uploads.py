"""The runner's media storage without storage keys (issue 12): each object goes to a URL the
control plane scopes to that one key (:mod:`meetbot.contract.uploads`).

:class:`UploadStorage` implements the one method a runner uses of
:class:`meetbot.ports.Storage`, ``put``: ask ``POST /internal/bots/{id}/uploads`` for a target,
then ``PUT`` the bytes there (a presigned S3 URL, or the control plane's ``objects/`` route
with the runner token). Any failure raises (:class:`UploadFailed`, or httpx's errors), so the
spool (:mod:`meetbot.runner.spool`) keeps the object and tries again: a storage outage and a
control plane outage are the same to it.
"""

from __future__ import annotations

import httpx

from meetbot.contract.assignment import Assignment
from meetbot.contract.uploads import UploadRequest, UploadTarget

TIMEOUT = 30.0


class UploadFailed(RuntimeError):
    """The control plane or the storage refused an upload (retried by the spool)."""


class UploadStorage:
    """``put`` only: a runner writes, it never reads, lists, deletes or signs."""

    def __init__(self, client: httpx.AsyncClient, *, control_url: str, bot_id: str, token: str):
        self._client = client
        self._base = control_url.rstrip("/")
        self._uploads_url = f"{self._base}/internal/bots/{bot_id}/uploads"
        self._auth = {"Authorization": f"Bearer {token}"}

    @classmethod
    def for_assignment(cls, client: httpx.AsyncClient, assignment: Assignment) -> UploadStorage:
        return cls(
            client,
            control_url=assignment.control_url,
            bot_id=assignment.bot_id,
            token=assignment.token,
        )

    async def target(self, key: str, content_type: str | None) -> UploadTarget:
        request = UploadRequest(key=key, content_type=content_type)
        response = await self._client.post(
            self._uploads_url,
            content=request.model_dump_json(),
            headers={**self._auth, "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
        if response.status_code != 200:
            raise UploadFailed(f"no upload URL for {key} ({response.status_code})")
        return UploadTarget.model_validate_json(response.content)

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target = await self.target(key, content_type)
        headers = dict(target.headers)
        url = target.url
        if target.on_control_plane:  # local storage: through the control plane, our token
            url = self._base + target.url
            headers |= self._auth
            if content_type:
                headers["Content-Type"] = content_type
        response = await self._client.request(
            target.method, url, content=data, headers=headers, timeout=TIMEOUT
        )
        if response.status_code not in (200, 201, 204):
            raise UploadFailed(f"{key} was not stored ({response.status_code})")

    async def get(self, key: str) -> bytes:
        raise NotImplementedError("a runner never reads media")

    async def exists(self, key: str) -> bool:
        raise NotImplementedError("a runner never reads media")

    async def list(self, prefix: str) -> list[str]:
        raise NotImplementedError("a runner never lists media")

    async def delete_prefix(self, prefix: str) -> None:
        raise NotImplementedError("a runner never deletes media")

    def signed_url(self, key: str, ttl_seconds: int) -> str:
        raise NotImplementedError("only the control plane signs links")
