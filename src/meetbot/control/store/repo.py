"""What every SQL repository shares: its transaction's connection and whether it may write."""

from __future__ import annotations

import contextlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

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

    def statement_guard(self, needed: bool = True) -> AbstractAsyncContextManager[Any]:
        """Wrap a statement whose failure the transaction survives (a constraint to report).

        PostgreSQL aborts the whole transaction on an error, so the statement gets a savepoint
        (unless not ``needed``: no failure the caller goes on from is possible); SQLite undoes
        only the failed statement, so it needs none (two statements fewer).
        """
        if self.is_postgres and needed:
            return self.conn.begin_nested()
        return contextlib.nullcontext()

    def check_write(self, what: str) -> None:
        if not self.writable:
            raise ReadOnlyTransactionError(f"{what} needs transaction(write=True)")
