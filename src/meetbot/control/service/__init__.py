"""Use cases: the only code that changes a bot's state (see docs/architecture.md).

Split by noun: ``bots`` (the public API's use cases), ``dispatch`` (scheduled bots → runners),
``runners`` (reports, heartbeats, lost runners), ``keys``; ``core`` holds the container and the
one ``transition()`` every state change goes through.
"""

from meetbot.control.service.core import CommandBus, Services

__all__ = ["CommandBus", "Services"]
