"""The bots of :class:`~meetbot.testing.memory_store.MemoryStore` (``tx.bots``)."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from meetbot.contract.lifecycle import ENDED, Status
from meetbot.contract.models import Bot
from meetbot.control.ports import BotQuery
from meetbot.errors import Conflict, DuplicateBot, NotFound
from meetbot.testing.memory_state import MemoryRepo
from meetbot.timefmt import utc


def _dedup_active(bot: Bot) -> str | None:
    return None if bot.status in ENDED else bot.deduplication_key


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _normalised(bot: Bot) -> Bot:
    """The bot as the SQL store gives it back: UTC times, a plain dict of metadata."""
    return bot.evolve(
        join_at=_opt_utc(bot.join_at),
        created_at=utc(bot.created_at),
        updated_at=utc(bot.updated_at),
        leave_requested_at=_opt_utc(bot.leave_requested_at),
        last_seen_at=_opt_utc(bot.last_seen_at),
        dispatched_at=_opt_utc(bot.dispatched_at),
        metadata=dict(bot.metadata),
        status_changes=tuple(dataclasses.replace(c, at=utc(c.at)) for c in bot.status_changes),
        credential_kinds=tuple(bot.credential_kinds),
    )


@dataclass(frozen=True, slots=True)
class MemoryBotRepo(MemoryRepo):
    async def insert(self, bot: Bot) -> Bot:
        self.check_write("bots.insert")
        if bot.id in self.state.bots:
            raise Conflict(f"A bot with id {bot.id} already exists.")
        self._check_duplicate(bot)
        self.state.bot_seq += 1
        stored = _normalised(bot).evolve(seq=self.state.bot_seq)
        self.state.bots[bot.id] = stored
        return bot.evolve(seq=stored.seq)

    async def get(
        self,
        bot_id: str,
        *,
        workspace_id: str | None = None,
        for_update: bool = False,
        history: bool = True,
    ) -> Bot | None:
        if for_update:
            self.check_write("bots.get(for_update=True)")
        bot = self.state.bots.get(bot_id)
        if bot is None or (workspace_id is not None and bot.workspace_id != workspace_id):
            return None
        return bot if history else bot.evolve(status_changes=())

    async def update_many(self, many: Sequence[Bot]) -> None:
        for bot in many:
            await self.update(bot)

    async def update(self, bot: Bot) -> None:
        self.check_write("bots.update")
        old = self.state.bots.get(bot.id)
        if old is None:
            raise NotFound(f"No bot {bot.id}.")
        # Like the SQL store: identity and creation time never change; stored history is kept
        # and only the changes beyond it are appended.
        new = bot.evolve(
            seq=old.seq,
            workspace_id=old.workspace_id,
            created_at=old.created_at,
            status_changes=old.status_changes + bot.status_changes[len(old.status_changes) :],
        )
        self._check_duplicate(new)
        self.state.bots[bot.id] = _normalised(new)

    async def delete(self, bot_id: str) -> None:
        self.check_write("bots.delete")
        self.state.bots.pop(bot_id, None)

    async def list(self, workspace_id: str, query: BotQuery) -> builtins.list[Bot]:
        after = _opt_utc(query.join_at_after)
        before = _opt_utc(query.join_at_before)

        def matches(bot: Bot) -> bool:
            if bot.workspace_id != workspace_id:
                return False
            if query.status is not None and bot.status != query.status:
                return False
            if after is not None and (bot.join_at is None or bot.join_at < after):
                return False
            if before is not None and (bot.join_at is None or bot.join_at >= before):
                return False
            if query.meeting_url is not None and bot.meeting.url != query.meeting_url:
                return False
            if any(bot.metadata.get(k) != v for k, v in query.metadata.items()):
                return False
            if query.platform is not None and bot.meeting.platform != query.platform:
                return False
            if query.search and not _found(bot, query.search):
                return False
            return query.before_seq is None or (bot.seq or 0) < query.before_seq

        found = sorted(filter(matches, self.state.bots.values()), key=_seq, reverse=True)
        return found[: max(query.limit, 0)]

    async def find_active_duplicate(self, workspace_id: str, key: str) -> Bot | None:
        for bot in self.state.bots.values():
            if bot.workspace_id == workspace_id and _dedup_active(bot) == key:
                return bot
        return None

    async def due_for_dispatch(self, cutoff: datetime, limit: int) -> builtins.list[Bot]:
        self.check_write("bots.due_for_dispatch")
        cutoff = utc(cutoff)
        due = [
            bot
            for bot in self.state.bots.values()
            if bot.status is Status.SCHEDULED and bot.join_at is not None and bot.join_at <= cutoff
        ]
        due.sort(key=lambda bot: (bot.join_at, _seq(bot)))
        return due[: max(limit, 0)]

    async def lock_schedule(self) -> None:
        self.check_write("bots.lock_schedule")  # write transactions are serialised already

    async def holding_capacity(
        self, join_after: datetime, join_before: datetime, running: Collection[Status]
    ) -> builtins.list[Bot]:
        after, before = utc(join_after), utc(join_before)
        return sorted(
            (
                b
                for b in self.state.bots.values()
                if b.status in running
                or (
                    b.status is Status.SCHEDULED
                    and b.join_at is not None
                    and after <= b.join_at < before
                )
            ),
            key=_seq,
        )

    async def count_holding_capacity(
        self, join_after: datetime, join_before: datetime, running: Collection[Status]
    ) -> int:
        return len(await self.holding_capacity(join_after, join_before, running))

    async def in_statuses(
        self,
        statuses: Collection[Status],
        limit: int = 1000,
        *,
        updated_since: datetime | None = None,
        pushed: bool = False,
    ) -> builtins.list[Bot]:
        found = sorted(
            (
                b
                for b in self.state.bots.values()
                if b.status in statuses
                and (updated_since is None or b.updated_at >= updated_since)
                and (not pushed or b.realtime_endpoints)
            ),
            key=_seq,
        )
        return found[: max(limit, 0)]

    async def silent(
        self, statuses: Collection[Status], before: datetime, limit: int = 1000
    ) -> builtins.list[Bot]:
        found = sorted(
            (
                b
                for b in self.state.bots.values()
                if b.status in statuses
                and (b.last_seen_at or b.dispatched_at or b.updated_at) < utc(before)
            ),
            key=_seq,
        )
        return found[: max(limit, 0)]

    async def touch(self, bot_id: str, at: datetime) -> None:
        self.check_write("bots.touch")
        bot = self.state.bots.get(bot_id)
        if bot is not None:
            self.state.bots[bot_id] = bot.evolve(last_seen_at=utc(at))

    def _check_duplicate(self, bot: Bot) -> None:
        key = _dedup_active(bot)
        if key is None:
            return
        for other in self.state.bots.values():
            if (
                other.id != bot.id
                and other.workspace_id == bot.workspace_id
                and _dedup_active(other) == key
            ):
                raise DuplicateBot(other.id)


def _seq(bot: Bot) -> int:
    return bot.seq or 0


def _found(bot: Bot, term: str) -> bool:
    """The store's search: a part of the meeting URL or name (any case), or the whole id."""
    low = term.lower()
    return low in bot.meeting.url.lower() or low in bot.bot_name.lower() or bot.id == term
