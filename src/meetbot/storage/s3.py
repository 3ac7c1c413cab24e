"""Media in an S3 bucket (AWS, SeaweedFS, MinIO, ...). The only module that imports boto3."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from meetbot.contract.storage_keys import guess_content_type, validate_key, validate_prefix
from meetbot.storage.errors import InvalidKey, ObjectNotFound, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_T = TypeVar("_T")
_DELETE_BATCH = 1000
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})


class S3Storage:
    """The :class:`meetbot.ports.Storage` of one S3 bucket, created on first use if missing.

    boto3 is blocking; every call runs in a worker thread (``asyncio.to_thread``). The bucket
    check retries for ``startup_timeout`` seconds while the endpoint refuses connections or
    answers 5xx, so a SeaweedFS started alongside has time to come up.
    """

    def __init__(
        self,
        endpoint_url: str | None,
        bucket: str,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        create_bucket: bool = True,
        startup_timeout: float = 30.0,
    ) -> None:
        self._bucket = bucket
        self._region = region
        self._create_bucket = create_bucket
        self._startup_timeout = startup_timeout
        self._ready = False
        self._ready_lock = threading.Lock()
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=16,
            # Only the checksums S3 requires: S3-compatible servers differ in support for the
            # newer default (CRC32 trailers in aws-chunked bodies).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        self._client: S3Client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        validate_key(key)
        ctype = content_type or guess_content_type(key)
        await self._run(
            lambda: self._client.put_object(
                Bucket=self._bucket, Key=key, Body=data, ContentType=ctype
            )
        )

    async def get(self, key: str) -> bytes:
        validate_key(key)
        return await self._run(lambda: self._get_sync(key))

    async def exists(self, key: str) -> bool:
        validate_key(key)
        return await self._run(lambda: self._exists_sync(key))

    async def list(self, prefix: str) -> list[str]:
        validate_prefix(prefix)
        return await self._run(lambda: _list_keys(self._client, self._bucket, prefix))

    async def delete_prefix(self, prefix: str) -> None:
        if not prefix:
            raise InvalidKey("Refusing to delete everything: delete_prefix needs a prefix.")
        validate_prefix(prefix)
        await self._run(lambda: self._delete_prefix_sync(prefix))

    def signed_url(self, key: str, ttl_seconds: int) -> str:
        validate_key(key)
        if ttl_seconds < 1:
            raise ValueError("ttl_seconds must be at least 1.")
        params = {"Bucket": self._bucket, "Key": key}
        if _is_debug_artifact(key):  # a page the bot met: a download, never a page
            params["ResponseContentDisposition"] = "attachment"
        return self._client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=ttl_seconds
        )

    def presigned_put(self, key: str, content_type: str | None, ttl_seconds: int) -> str:
        """A URL that lets its holder PUT ``key`` (and only it) until ``ttl_seconds`` pass;
        with ``content_type``, the PUT must send that ``Content-Type``."""
        validate_key(key)
        params = {"Bucket": self._bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        return self._client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=ttl_seconds
        )

    async def ensure_bucket(self) -> None:
        """Check (and create) the bucket now rather than on first use."""
        await asyncio.to_thread(self._ensure_bucket)

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    # --- blocking halves, run in a worker thread --------------------------------------------

    async def _run(self, call: Callable[[], _T]) -> _T:
        def run() -> _T:
            self._ensure_bucket()
            try:
                return call()
            except BotoConnectionError as exc:
                raise StorageUnavailable(f"S3 endpoint unreachable: {exc}") from exc

        return await asyncio.to_thread(run)

    def _get_sync(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                raise ObjectNotFound(key) from None
            raise
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()

    def _exists_sync(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                return False
            raise
        return True

    def _delete_prefix_sync(self, prefix: str) -> None:
        keys = _list_keys(self._client, self._bucket, prefix)
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            response = self._client.delete_objects(
                Bucket=self._bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"S3 refused to delete {len(errors)} object(s) under {prefix!r}, e.g. "
                    f"{first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )

    def _ensure_bucket(self) -> None:
        if self._ready or not self._create_bucket:
            return
        with self._ready_lock:
            if self._ready:
                return
            deadline = time.monotonic() + self._startup_timeout
            delay = 0.1
            while True:
                try:
                    self._create_bucket_once()
                    break
                except (BotoConnectionError, ClientError) as exc:
                    if isinstance(exc, ClientError) and _status(exc) < 500:
                        raise
                    if time.monotonic() >= deadline:
                        raise StorageUnavailable(
                            f"S3 bucket {self._bucket!r} not reachable after "
                            f"{self._startup_timeout:g}s: {exc}"
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
            self._ready = True

    def _create_bucket_once(self) -> None:
        try:
            self._client.head_bucket(Bucket=self._bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _MISSING_CODES:
                raise
        kwargs: dict[str, Any] = {}
        if self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self._client.create_bucket(Bucket=self._bucket, **kwargs)
        except ClientError as exc:
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise


def _list_keys(client: S3Client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if "Key" in obj)
    return sorted(keys)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _is_debug_artifact(key: str) -> bool:
    """``bots/<id>/debug/...``: a screenshot or the HTML of whatever page the bot met."""
    parts = key.split("/")
    return len(parts) > 3 and parts[0] == "bots" and parts[2] == "debug"
