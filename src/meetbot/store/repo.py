"""What every SQL repository shares: its transaction's connection and whether it may write."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection


class ReadOnlyTransactionError(RuntimeError):
    """A write (or a row lock) was attempted in a ``transaction(write=False)``."""


@dataclass(frozen=True, slots=True)
class SqlRepo:
    conn: AsyncConnection
    writable: bool

    @property
    def is_postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def check_write(self, what: str) -> None:
        if not self.writable:
            raise ReadOnlyTransactionError(f"{what} needs transaction(write=True)")
