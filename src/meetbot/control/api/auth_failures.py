"""Failed authentications per client address: a flood of wrong keys or runner tokens gets 429.

Each address has a bucket of ``per_minute`` failures that refills at ``per_minute`` a minute.
Every 401 takes one. While an address's bucket is empty, a request of that address that would
need a key lookup (a key not in the cache) or a runner token check is answered 429
``rate_limited`` with ``Retry-After`` before anything is read: a guesser costs no database
read, while a client whose key is already cached keeps working. API keys and runner tokens
have separate buckets (``channel``), so a flood of bad keys cannot stop the runners.

A runner token refused for a bot that exists (:class:`~meetbot.errors.StaleRunnerToken`: its bot
ended, or was handed to another runner) counts against that bot at that address only
(:func:`runner_keys`): runners whose bots were reaped all at once (a thousand bots, agents behind
one NAT address) once emptied the address's bucket and locked every runner and agent of it
out, so a fleet that fell behind could not recover.

Memory is bounded: at most ``size`` addresses are remembered, the least recently failed go
first. The address is the TCP peer as uvicorn reports it (behind a proxy, configure uvicorn's
``--forwarded-allow-ips`` so that it is the client's, not the proxy's).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Final

from meetbot import errors

API: Final = "api"
RUNNER: Final = "runner"


def _of_bot(address: str, bot_id: object) -> str:
    return f"{address} bot:{bot_id}"


def runner_keys(address: str, bot_id: object) -> list[str]:
    """The runner channel's buckets a request of ``bot_id`` (``None``: not a bot's route)
    from ``address`` is checked against: the address's, and the address's for that bot."""
    return [address] if bot_id is None else [address, _of_bot(address, bot_id)]


def runner_failure_key(address: str, bot_id: object, exc: errors.Unauthorized) -> str:
    """The bucket a refused runner request takes from (see :func:`runner_keys`)."""
    if isinstance(exc, errors.StaleRunnerToken) and bot_id is not None:
        return _of_bot(address, bot_id)
    return address


class AuthFailures:
    def __init__(self, per_minute: int, size: int = 10_000) -> None:
        self.per_minute = per_minute
        self._size = size
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: tuple[str, str], now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60.0)

    def check(self, channel: str, address: str) -> None:
        """Raise :class:`~meetbot.errors.RateLimited` while ``address`` may not try again."""
        if not self.per_minute or (channel, address) not in self._buckets:
            return
        tokens = self._tokens((channel, address), time.monotonic())
        if tokens < 1:
            retry = max(1, int((1 - tokens) * 60.0 / self.per_minute) + 1)
            raise errors.RateLimited(
                "Too many failed authentications from this address; retry later.",
                headers={"Retry-After": str(retry)},
            )

    def failed(self, channel: str, address: str) -> None:
        if not self.per_minute:
            return
        key = (channel, address)
        now = time.monotonic()
        self._buckets[key] = (max(0.0, self._tokens(key, now) - 1), now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._size:
            self._buckets.popitem(last=False)
