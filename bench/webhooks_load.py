"""Event generators for bench/webhooks.py: the public API, and runners' status reports.

:class:`Driver` creates bots (``POST /api/v1/bot/``, one ``status_update`` each) and makes them
leave (``leave_call``, one more). :class:`Runners` plays the runners of bots already created:
it gives each bot a runner token (written to the database, as a launcher would hand one to a
runner process) and posts each bot's whole life as one batch of reports to
``POST /internal/bots/{id}/events`` (the runner wire contract, ``meetbot.contract.reports``), which
the server applies in one transaction: joining, waiting room, in call, participants joining and
leaving, leaving, left; the media pipeline then ends the bot (no audio: ``processing`` →
``finished``). :class:`Db` reads counts straight from the database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from meetbot.lab.serve import Server

MEET = "https://meet.google.com/abc-defg-hij"
IN_FLIGHT = ("booting", "joining", "recording", "leaving", "processing", "transcribing")


class Db:
    """Direct SQL on the server's database (SQLite file or a PostgreSQL URL)."""

    def __init__(self, data_dir: Path, pg_url: str | None) -> None:
        self.sqlite = data_dir / "meetbot.db"
        self.pg_url = pg_url

    def execute(self, sql: str, params: list[tuple[Any, ...]] | None = None) -> list[Any]:
        if self.pg_url:
            with psycopg.connect(self.pg_url, autocommit=True) as conn:
                if params:
                    with conn.cursor() as cur:
                        cur.executemany(sql.replace("?", "%s"), params)
                    return []
                return list(conn.execute(sql.replace("?", "%s")).fetchall())
        conn = sqlite3.connect(self.sqlite, timeout=30)
        try:
            if params:
                with conn:
                    conn.executemany(sql, params)
                return []
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def scalar(self, sql: str) -> int:
        return int(self.execute(sql)[0][0] or 0)

    def max_delivery_seq(self) -> int:
        return self.scalar("SELECT max(seq) FROM webhook_deliveries")

    def deliveries_after(self, seq: int) -> int:
        return self.scalar(f"SELECT count(*) FROM webhook_deliveries WHERE seq > {seq}")

    def bots_in_flight(self) -> int:
        statuses = ", ".join(f"'{s}'" for s in IN_FLIGHT if s != "booting")
        return self.scalar(f"SELECT count(*) FROM bots WHERE status IN ({statuses})")


class CpuMeter:
    """CPU time of the server process and its children (API, scheduler, delivery)."""

    def __init__(self, server: Server) -> None:
        assert server.proc is not None
        self.proc = psutil.Process(server.proc.pid)
        self.reset()

    def _cpu(self) -> float:
        total = 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def reset(self) -> None:
        self.cpu, self.wall = self._cpu(), time.monotonic()

    def percent(self) -> float:
        return (self._cpu() - self.cpu) / (time.monotonic() - self.wall) * 100

    def seconds(self) -> float:
        """CPU seconds used since :meth:`reset`."""
        return self._cpu() - self.cpu


class Driver:
    def __init__(self, server: Server, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(
            base_url=server.url,
            headers={"Authorization": f"Token {server.first_key()}"},
            limits=limits,
            timeout=60,
        )
        self.concurrency = concurrency
        self.errors: dict[int, int] = {}
        self.cpu = CpuMeter(server)

    def _error(self, status: int) -> None:
        self.errors[status] = self.errors.get(status, 0) + 1

    async def create(self) -> str | None:
        r = await self.client.post("/api/v1/bot/", json={"meeting_url": MEET})
        if r.status_code != 201:
            self._error(r.status_code)
            return None
        bot_id: str = r.json()["id"]
        return bot_id

    async def leave(self, bot_id: str) -> bool:
        r = await self.client.post(f"/api/v1/bot/{bot_id}/leave_call/")
        if r.status_code != 200:
            self._error(r.status_code)
        return r.status_code == 200

    async def create_many(self, bots: int) -> list[str]:
        """``bots`` creates, ``concurrency`` in flight; the ids of those created."""
        todo = list(range(bots))
        ids: list[str] = []

        async def creator() -> None:
            while todo:
                todo.pop()
                if (bot_id := await self.create()) is not None:
                    ids.append(bot_id)

        await asyncio.gather(*(creator() for _ in range(self.concurrency)))
        return ids

    async def create_and_leave(self, bots: int) -> int:
        """``bots`` creates then as many leaves; events emitted."""
        ids = await self.create_many(bots)
        pending = list(ids)
        left = 0

        async def leaver() -> None:
            nonlocal left
            while pending:
                if await self.leave(pending.pop()):
                    left += 1

        await asyncio.gather(*(leaver() for _ in range(self.concurrency)))
        return len(ids) + left

    async def close(self) -> None:
        await self.client.aclose()


def runner_token(bot_id: str) -> str:
    return f"bench-runner-{bot_id}"


def life(participants: int) -> list[dict[str, Any]]:
    """A bot's reports from joining to left, all stamped now (events carry ``at``)."""
    at = datetime.now(UTC).isoformat()
    people = [(f"p{i}", f"Participant {i}") for i in range(participants)]
    return [
        {"type": "joining", "at": at},
        {"type": "waiting", "at": at, "sub_status": "waiting_room"},
        {"type": "in_call", "at": at},
        *(
            {"type": "participant_joined", "at": at, "participant_id": p, "name": n}
            for p, n in people
        ),
        *(
            {"type": "participant_left", "at": at, "participant_id": p, "name": n}
            for p, n in people
        ),
        {"type": "leaving", "at": at, "stop_reason": "meeting_ended"},
        {"type": "left", "at": at},
    ]


class Runners:
    """Plays the runners of bots created through the API (fake launcher: no processes)."""

    def __init__(self, server: Server, db: Db, concurrency: int) -> None:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60)
        self.db = db
        self.concurrency = concurrency
        self.errors: dict[int, int] = {}

    def arm(self, bot_ids: list[str]) -> None:
        """Give each bot a runner token, as a launcher does when it assigns a runner."""
        rows = [(hashlib.sha256(runner_token(b).encode()).hexdigest(), b) for b in bot_ids]
        self.db.execute("UPDATE bots SET runner_token_hash = ? WHERE id = ?", rows)

    async def report(self, bot_id: str, events: list[dict[str, Any]]) -> bool:
        r = await self.client.post(
            f"/internal/bots/{bot_id}/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {runner_token(bot_id)}"},
        )
        if r.status_code != 200:
            self.errors[r.status_code] = self.errors.get(r.status_code, 0) + 1
        return r.status_code == 200

    async def live(self, bot_ids: list[str], participants: int) -> int:
        """Each bot's life in one report batch, ``concurrency`` in flight; batches accepted."""
        pending = list(bot_ids)
        done = 0

        async def runner() -> None:
            nonlocal done
            while pending:
                if await self.report(pending.pop(), life(participants)):
                    done += 1

        await asyncio.gather(*(runner() for _ in range(self.concurrency)))
        return done

    async def wait_ended(self, timeout: float) -> int:
        """Wait until no bot is between joining and finished; how many still are."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.db.bots_in_flight()
            if not left or time.monotonic() >= deadline:
                return left
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.client.aclose()
