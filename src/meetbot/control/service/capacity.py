"""Reservations of bot capacity: a scheduled bot's window is booked in the transaction that
stores the bot, or refused (409 ``schedule_full``) and nothing is stored. The arithmetic is
:mod:`meetbot.control.capacity`; this module reads what is booked and decides."""

from __future__ import annotations

from datetime import datetime, timedelta

from meetbot import errors
from meetbot.contract.lifecycle import Status
from meetbot.contract.models import Bot
from meetbot.control import capacity
from meetbot.control.agents import FleetCapacity, live_since
from meetbot.control.capacity import LONGEST_MINUTES, RUNNING, Rules, Step, Window
from meetbot.control.ports import Tx
from meetbot.control.service.core import Services
from meetbot.timefmt import iso

LONGEST = timedelta(minutes=LONGEST_MINUTES)
MAX_STEPS = 2016
"""At most this many steps in one timeline (a week of 5-minute steps)."""


def rules(svc: Services) -> Rules:
    s = svc.settings
    return Rules(lead=timedelta(seconds=s.dispatch_lead), default_minutes=s.reservation_minutes)


def total(svc: Services) -> int:
    """How many bots can run at once (a fleet's capacity where one is supplied)."""
    return svc.capacity.total() if svc.capacity else svc.settings.max_concurrent_bots


async def current_total(svc: Services, tx: Tx) -> int:
    """:func:`total` as it stands in ``tx``: a fleet without ``MEETBOT_FLEET_MAX_SLOTS`` reads
    its live agents' slots now (one query), so an agent that just came up counts at once
    rather than at the scheduler's next refresh."""
    fleet = svc.capacity
    if isinstance(fleet, FleetCapacity) and fleet.max_slots is None:
        since = live_since(svc.clock.now(), svc.settings.agent_timeout)
        fleet.live_slots = await tx.agents.total_slots(since)
    return total(svc)


def _query_bounds(window: Window, r: Rules) -> tuple[datetime, datetime]:
    """The ``join_at`` range of the scheduled bots whose window may overlap ``window``."""
    return capacity.plus(window.start, -LONGEST), capacity.plus(window.end, r.lead)


async def reserve(svc: Services, tx: Tx, bot: Bot, *, previous: Bot | None = None) -> None:
    """Book ``bot``'s window, or raise :class:`errors.ScheduleFull`. Call it in the write
    transaction that stores ``bot`` (new or changed), before storing it. A bot that is not
    ``scheduled`` books nothing; a changed bot whose window stays inside its ``previous`` one
    always fits."""
    r = rules(svc)
    window = capacity.reservation(bot, r) if bot.status is Status.SCHEDULED else None
    if window is None:
        return
    if previous is not None and previous.status is Status.SCHEDULED:
        old = capacity.reservation(previous, r)
        if old is not None and old.contains(window):
            return
    await tx.bots.lock_schedule()
    bounds = _query_bounds(window, r)
    cap = await current_total(svc, tx)
    if await tx.bots.count_holding_capacity(*bounds, RUNNING) + 1 <= cap:
        return  # even if every bot that could hold a place held one at once, one is left
    booked = await tx.bots.holding_capacity(*bounds, RUNNING)
    held = capacity.holdings((b for b in booked if b.id != bot.id), r, svc.clock.now())
    verdict = capacity.check(held.all, window, cap)
    if not verdict.fits:
        raise errors.ScheduleFull(
            f"No capacity from {iso(window.start)} to {iso(window.end)} (join_at minus the"
            f" dispatch lead, to join_at plus the expected duration): {verdict.booked} bots are"
            f" booked in that window, {verdict.most_at_once} of them at once, and at most"
            f" {verdict.capacity} bots run at once. Choose another join_at or a shorter"
            " expected_duration."
        )


async def admit_adhoc(svc: Services, tx: Tx, bot: Bot) -> None:
    """An ad-hoc bot (joining now) takes a place only if the reservations of scheduled bots
    leave one for as long as it is expected to run (``expected_duration``, else
    ``MEETBOT_RESERVATION_MINUTES``): a warm browser being idle is not enough when its place is
    promised to a scheduled bot. Raises :class:`errors.PoolExhausted` (507) otherwise. Call it
    in the write transaction that stores ``bot``."""
    r = rules(svc)
    now = svc.clock.now()
    window = capacity.occupancy(bot, r, now)
    bounds = _query_bounds(window, r)
    await tx.bots.lock_schedule()
    scheduled = await tx.bots.holding_capacity(*bounds, ())
    if not any(
        (w := capacity.reservation(b, r)) is not None and w.overlaps(window)
        for b in scheduled
        if b.id != bot.id
    ):
        return  # no reservation in its way: the launcher's cap is the only limit (cheap path)
    booked = await tx.bots.holding_capacity(*bounds, RUNNING)
    held = capacity.holdings((b for b in booked if b.id != bot.id), r, now)
    if not capacity.check(held.all, window, await current_total(svc, tx)).fits:
        raise errors.PoolExhausted()


async def timeline(
    svc: Services, start: datetime, end: datetime, step: timedelta
) -> tuple[int, list[Step]]:
    """What is booked from ``start`` to ``end``, step by step, and the capacity now."""
    if end <= start:
        raise errors.InvalidRequest("to: must be after from.", extra={"field": "to"})
    count = -((start - end) // step)  # ceiling
    if count > MAX_STEPS:
        raise errors.InvalidRequest(
            f"to: at most {MAX_STEPS} steps per request ({count} asked); choose a shorter range"
            " or a longer step.",
            extra={"field": "to"},
        )
    r = rules(svc)
    async with svc.store.transaction(write=False) as tx:
        bots = await tx.bots.holding_capacity(*_query_bounds(Window(start, end), r), RUNNING)
    held = capacity.holdings(bots, r, svc.clock.now())
    cap = total(svc)
    return cap, capacity.timeline(held, cap, capacity.steps(start, end, step))
