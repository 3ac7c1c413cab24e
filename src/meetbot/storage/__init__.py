"""Media storage: a local directory or an S3 bucket, behind :class:`meetbot.ports.Storage`.

The control plane opens it with :func:`open_storage`. Runners no longer open it: their
assignment says ``{"kind": "upload"}`` and they store each object through a target scoped to
one key (:mod:`meetbot.contract.uploads`, issue 12). :func:`storage_descriptor` and
:func:`storage_from_descriptor` remain for tests and for a runner given an older control plane's
assignment; for S3 such a descriptor carries the bucket's keys, so the control plane no longer
hands it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meetbot.config import Settings
from meetbot.contract.storage_keys import guess_content_type, validate_key, validate_prefix
from meetbot.ports import Storage
from meetbot.storage.errors import (
    InvalidKey,
    InvalidMediaSignature,
    ObjectNotFound,
    StorageUnavailable,
)
from meetbot.storage.local import LocalStorage, resolve_media_file
from meetbot.storage.signing import media_signature, signed_media_url, verify_media_signature

_S3_FIELDS = ("endpoint_url", "bucket", "region", "access_key", "secret_key")


def media_root(settings: Settings) -> Path:
    """The directory of the local backend: ``<data_dir>/media``, absolute."""
    return (settings.data_dir / "media").resolve()


def open_storage(settings: Settings, secret: bytes) -> Storage:
    """The control plane's storage; ``secret`` signs ``/media`` links of the local backend."""
    if settings.storage == "local":
        return LocalStorage(media_root(settings), secret, settings.effective_public_url)
    return _s3_storage(storage_descriptor(settings))


def storage_descriptor(settings: Settings) -> dict[str, Any]:
    """A JSON-able description of the storage for runners (no signing secret in it)."""
    if settings.storage == "local":
        return {"kind": "local", "root": str(media_root(settings))}
    return {
        "kind": "s3",
        "endpoint_url": settings.s3_endpoint_url,
        "bucket": settings.s3_bucket,
        "region": settings.s3_region,
        "access_key": settings.s3_access_key,
        "secret_key": settings.s3_secret_key,
    }


def storage_from_descriptor(descriptor: Mapping[str, Any]) -> Storage:
    """Open the storage a :func:`storage_descriptor` dict describes (runner side: no signing)."""
    kind = descriptor.get("kind")
    if kind == "local":
        root = descriptor.get("root")
        if not isinstance(root, str) or not Path(root).is_absolute():
            raise ValueError(f"A local storage descriptor needs an absolute 'root', got {root!r}.")
        return LocalStorage(Path(root))
    if kind == "s3":
        return _s3_storage(descriptor)
    raise ValueError(f"Unknown storage kind {kind!r}; expected 'local' or 's3'.")


def _s3_storage(descriptor: Mapping[str, Any]) -> Storage:
    values = {name: descriptor.get(name) for name in _S3_FIELDS}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"S3 storage descriptor field {name!r} must be a string.")
    if not values["bucket"]:
        raise ValueError("An S3 storage descriptor needs a 'bucket'.")
    from meetbot.storage.s3 import S3Storage  # boto3 is imported only when S3 is used

    return S3Storage(
        values["endpoint_url"],
        str(values["bucket"]),
        values["region"] or "us-east-1",
        values["access_key"],
        values["secret_key"],
    )


__all__ = [
    "InvalidKey",
    "InvalidMediaSignature",
    "LocalStorage",
    "ObjectNotFound",
    "StorageUnavailable",
    "guess_content_type",
    "media_root",
    "media_signature",
    "open_storage",
    "resolve_media_file",
    "signed_media_url",
    "storage_descriptor",
    "storage_from_descriptor",
    "validate_key",
    "validate_prefix",
    "verify_media_signature",
]
