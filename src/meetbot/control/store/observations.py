"""What runners observed (participants, speech, captions, audio chunks, artifacts), per bot."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter

from meetbot.contract.reports import BaseReport, StoredObservation
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import observations

_REPORT: TypeAdapter[Any] = TypeAdapter(StoredObservation)


def report_from_row(row: sa.RowMapping) -> BaseReport:
    report = _REPORT.validate_python(row["data"])
    assert isinstance(report, BaseReport)
    return report


@dataclass(frozen=True, slots=True)
class SqlObservationRepo(SqlRepo):
    async def append(self, bot_id: str, report: BaseReport) -> None:
        await self.append_all(bot_id, [report])

    async def append_all(self, bot_id: str, reports: Sequence[BaseReport]) -> None:
        self.check_write("observations.append")
        rows = []
        for report in reports:
            data = report.model_dump(mode="json")
            rows.append({"bot_id": bot_id, "type": data["type"], "at": report.at, "data": data})
        if rows:
            await self.conn.execute(sa.insert(observations), rows)

    async def list(
        self, bot_id: str, types: Collection[str] | None = None
    ) -> builtins.list[BaseReport]:
        stmt = sa.select(observations.c.data).where(observations.c.bot_id == bot_id)
        if types is not None:
            stmt = stmt.where(observations.c.type.in_(builtins.list(types)))
        rows = (await self.conn.execute(stmt.order_by(observations.c.seq))).mappings()
        return [report_from_row(row) for row in rows]

    async def list_after(
        self, bot_id: str, types: Collection[str], after_seq: int, limit: int
    ) -> builtins.list[tuple[int, BaseReport]]:
        stmt = (
            sa.select(observations.c.seq, observations.c.data)
            .where(
                observations.c.bot_id == bot_id,
                observations.c.seq > after_seq,
                observations.c.type.in_(builtins.list(types)),
            )
            .order_by(observations.c.seq)
            .limit(max(limit, 0))
        )
        rows = (await self.conn.execute(stmt)).mappings()
        return [(int(row["seq"]), report_from_row(row)) for row in rows]

    async def last_seq(self, bot_id: str) -> int:
        stmt = sa.select(sa.func.max(observations.c.seq)).where(observations.c.bot_id == bot_id)
        found = (await self.conn.execute(stmt)).scalar_one()
        return int(found or 0)

    async def delete_for(self, bot_id: str) -> None:
        self.check_write("observations.delete_for")
        await self.conn.execute(sa.delete(observations).where(observations.c.bot_id == bot_id))
