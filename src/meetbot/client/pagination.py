"""The API's lists (``{"results": [...], "next": cursor | null}``) as iterators.

Pages are fetched as the iteration reaches them; ``next`` is passed back as it came (cursors
are opaque). The events feed never ends (its ``next`` is always a cursor): it is read until a
page comes back empty.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

Page = tuple[Sequence[T], str | None]
"""The items of one page and the cursor of the next (None: this was the last)."""


def pages(fetch: Callable[[str | None], Page[T]], cursor: str | None = None) -> Iterator[T]:
    while True:
        items, cursor = fetch(cursor)
        yield from items
        if cursor is None or not items:
            return


async def async_pages(
    fetch: Callable[[str | None], Awaitable[Page[T]]], cursor: str | None = None
) -> AsyncIterator[T]:
    while True:
        items, cursor = await fetch(cursor)
        for item in items:
            yield item
        if cursor is None or not items:
            return
