"""``/healthz`` (alive, no I/O) and ``/readyz`` (database and storage reachable, else 503
``service_unavailable`` naming which): what Kubernetes' probes ask."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from harness.plane import build_test_plane
from meetbot import errors
from meetbot.testing.fakes_runner import MemoryStorage
from meetbot.testing.memory_store import MemoryStore, MemoryTx


class UnreachableStore(MemoryStore):
    """Every transaction fails as an unreachable database does."""

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[MemoryTx]:
        return self._refuse()

    @asynccontextmanager
    async def _refuse(self) -> AsyncIterator[MemoryTx]:
        raise errors.StoreUnavailable("connection refused (fake)")
        yield  # pragma: no cover


class UnreachableStorage(MemoryStorage):
    async def exists(self, key: str) -> bool:
        raise ConnectionRefusedError("storage unreachable (fake)")


async def test_healthz_answers_without_a_key_or_the_database() -> None:
    plane = await build_test_plane(MemoryStore())
    plane.services.store = UnreachableStore()
    async with plane.client(key="not a key") as client:
        answer = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


async def test_readyz_is_ready_when_database_and_storage_answer() -> None:
    plane = await build_test_plane(MemoryStore())
    plane.app.state.storage = MemoryStorage()
    async with plane.client() as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ready"


async def test_readyz_names_the_database_when_it_is_unreachable() -> None:
    plane = await build_test_plane(MemoryStore())
    plane.services.store = UnreachableStore()
    plane.app.state.storage = MemoryStorage()
    async with plane.client() as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["code"] == "service_unavailable"
    assert body["failed"] == ["database"]
    assert "database" in body["detail"]


async def test_readyz_names_the_storage_when_it_is_unreachable() -> None:
    plane = await build_test_plane(MemoryStore())
    plane.app.state.storage = UnreachableStorage()
    async with plane.client() as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["failed"] == ["storage"]
