"""A meeting page's chat panel: open it, read the messages others send, send one to everyone.

Each adapter describes its panel in a :class:`ChatSpec` (its module's tables: texts and
selectors from public facts, see ``docs/platforms.md``); this module runs it:

- :func:`read_messages` reads the shown messages in one ``evaluate`` (each message's id where
  the page gives one, its sender's name, from the message or from the header of its group of
  messages, and its text);
- :class:`ChatLog` (pure) turns successive readings into the messages not reported yet,
  leaving out the bot's own ("You", "Me", its name);
- :func:`send_message` opens the panel if needed, fills the message box, presses Enter and
  counts the message sent once the box is empty again (the page took it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from playwright.async_api import Error as PlaywrightError

from meetbot.runner.platforms.base import ChatLine
from meetbot.runner.platforms.chores import Progress, click_until, seen_within
from meetbot.runner.platforms.driver import any_of, names_pattern, ready, try_click

if TYPE_CHECKING:
    from playwright.async_api import Frame, FrameLocator, Locator, Page

    from meetbot.runner.humanize import Humanizer

log = logging.getLogger(__name__)

OWN_SENDERS: Final = ("You", "Me")
"""How pages label the bot's own messages."""


@dataclass(frozen=True, slots=True)
class ChatSpec:
    """Where a platform's chat is: each field a list of variants tried together."""

    opener: tuple[str, ...]
    """Accessible names of the button that opens the chat panel (prefixes)."""
    opener_css: tuple[str, ...]
    box: tuple[str, ...]
    """Accessible names of the message box."""
    box_css: tuple[str, ...]
    items: tuple[str, ...]
    """One element per message."""
    text: tuple[str, ...] = ()
    """The message's text, inside its element (none: the element's own text)."""
    sender: tuple[str, ...] = ()
    """The sender's name, inside the message's element or its group's."""
    sender_attrs: tuple[str, ...] = ()
    """Attributes holding the sender's name, on the message's element or its group's."""
    group: tuple[str, ...] = ()
    """A run of messages from one sender (whose header names the sender once)."""
    id_attrs: tuple[str, ...] = ()
    """Attributes holding the message's id."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as read on the page (the sender may be empty: a run's later messages)."""

    id: str
    sender: str
    text: str


_READ: Final = """(spec) => {
  const pick = (root, sels) => {
    for (const s of sels) { const el = root && root.querySelector(s); if (el) return el; }
    return null;
  };
  const text = (el) => (el ? (el.innerText || el.textContent || "") : "").trim();
  const attr = (els, names) => {
    for (const el of els) for (const a of names) {
      const v = el && el.getAttribute(a);
      if (v && v.trim()) return v.trim();
    }
    return "";
  };
  if (!spec.items.length) return [];
  return [...document.querySelectorAll(spec.items.join(", "))].map((item) => {
    const group = spec.group.length ? item.closest(spec.group.join(", ")) : null;
    const sender = attr([item, group], spec.sender_attrs)
      || text(pick(item, spec.sender)) || text(pick(group, spec.sender));
    const body = spec.text.length ? pick(item, spec.text) : item;
    return { id: attr([item], spec.id_attrs), sender, text: text(body) };
  });
}"""


async def read_messages(document: Page | Frame, spec: ChatSpec) -> list[RawMessage]:
    """The messages shown in the chat panel, in page order (none while it is closed)."""
    found: list[dict[str, Any]] = await document.evaluate(
        _READ,
        {
            "items": list(spec.items),
            "text": list(spec.text),
            "sender": list(spec.sender),
            "sender_attrs": list(spec.sender_attrs),
            "group": list(spec.group),
            "id_attrs": list(spec.id_attrs),
        },
    )
    return [RawMessage(str(m["id"]), str(m["sender"]), str(m["text"])) for m in found]


class ChatLog:
    """The messages already reported, so each is reported once.

    A message is known by its id where the page gives one, else by its sender, its text and
    how many equal messages came before it in the panel. A message without a sender takes the
    sender of the message before it (pages name the sender once for a run of messages). The
    bot's own messages (sender "You"/"Me" or its name) are never reported: the runner reports
    what it sent itself.
    """

    def __init__(self, own: Sequence[str] = OWN_SENDERS) -> None:
        self.own = tuple(o.casefold() for o in own)
        self._seen: set[tuple[str, ...]] = set()

    def update(self, messages: Iterable[RawMessage], bot_name: str) -> list[RawMessage]:
        """The messages of this reading not reported before, with their senders filled in."""
        new: list[RawMessage] = []
        sender = ""
        counts: Counter[tuple[str, str]] = Counter()
        own = {*self.own, bot_name.strip().casefold()} - {""}
        for message in messages:
            sender = message.sender.strip() or sender
            text = message.text.strip()
            if not text:
                continue  # not rendered yet: read again next time
            counts[(sender, text)] += 1
            key = ("id", message.id) if message.id else (sender, text, str(counts[(sender, text)]))
            if key in self._seen:
                continue
            self._seen.add(key)
            if not sender or sender.casefold() in own:
                continue
            new.append(RawMessage(message.id, sender, text))
        return new


def chat_lines(
    messages: Iterable[RawMessage], ids: dict[str, str] | None = None
) -> tuple[ChatLine, ...]:
    """Messages as the snapshot's chat lines (sent to everyone), the sender's id being the
    participant's id where one of that name is in the call (``ids``), else the name."""
    ids = ids or {}
    return tuple(ChatLine(ids.get(m.sender, m.sender), m.sender, m.text) for m in messages)


def _found(
    scope: Page | FrameLocator, role: Literal["button", "textbox"], names: tuple[str, ...],
    hints: tuple[str, ...],
) -> Locator:  # fmt: skip
    """The first shown element with the role and one of the names, or matching a hint."""
    found = [scope.get_by_role(role, name=names_pattern(names, prefix=True))] if names else []
    found += [scope.locator(", ".join(hints))] if hints else []
    return any_of(*found)


def opener(scope: Page | FrameLocator, spec: ChatSpec) -> Locator:
    return _found(scope, "button", spec.opener, spec.opener_css)


def message_box(scope: Page | FrameLocator, spec: ChatSpec) -> Locator:
    return _found(scope, "textbox", spec.box, spec.box_css)


async def open_panel(
    page: Page, scope: Page | FrameLocator, spec: ChatSpec, humanizer: Humanizer
) -> Progress:
    """Open the chat panel unless its message box is already shown; done once it is."""
    box = message_box(scope, spec)
    return await click_until(page, humanizer, opener(scope, spec), box.is_visible)


async def send_message(
    page: Page,
    scope: Page | FrameLocator,
    spec: ChatSpec,
    text: str,
    humanizer: Humanizer,
    timeout: float = 5.0,
) -> bool:
    """Type ``text`` in the message box and press Enter; ``True`` once the box is empty again
    (the page took the message). ``False``, never raising, when the panel cannot be opened or
    the message stays in the box."""
    box = message_box(scope, spec)
    try:
        if not await ready(box):
            if not await try_click(page, humanizer, opener(scope, spec)):
                return False
            if not await seen_within(lambda: ready(box), timeout):
                return False
        await box.fill(text, timeout=timeout * 1000)
        await box.press("Enter", timeout=timeout * 1000)

        async def taken() -> bool:
            return not (await box.evaluate("(el) => el.value ?? el.textContent ?? ''")).strip()

        return await seen_within(taken, timeout)
    except (PlaywrightError, TimeoutError) as exc:
        log.warning("chat message not sent: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return False
