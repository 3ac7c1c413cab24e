"""What runners observed (participants, speech, captions, audio chunks, artifacts), per bot."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import TypeAdapter

from meetbot.contract.reports import BaseReport, Report
from meetbot.control.store.repo import SqlRepo
from meetbot.control.store.tables import observations

_REPORT: TypeAdapter[Any] = TypeAdapter(Report)


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

    async def delete_for(self, bot_id: str) -> None:
        self.check_write("observations.delete_for")
        await self.conn.execute(sa.delete(observations).where(observations.c.bot_id == bot_id))
