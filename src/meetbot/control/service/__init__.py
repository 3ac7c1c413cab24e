"""Use cases: the only code that changes a bot's state or stored rows (see docs/architecture.md).

Split by noun: ``bots`` (the public API's use cases), ``dispatch`` (scheduled bots →
runners), ``handoff`` (every hand-off of a bot to a runner: claim a slot, give it back on any
error, start the runner after the commit), ``runners`` (reports, heartbeats, commands),
``lost_runners`` (runners that exited or went silent), ``media`` (what the media worker made
becomes events and statuses), ``credentials``, ``keys``, ``housekeeping`` (the janitor's
deletions); ``core`` holds the container and the one ``transition()`` every state change goes
through, ``reactions`` how committed changes wake the workers.

Use cases return domain values (a :class:`~meetbot.contract.models.Bot`, kinds, counts), never HTTP
statuses or API views: the API turns them into responses.
"""

from meetbot.control.service.core import CommandBus, Services

__all__ = ["CommandBus", "Services"]
