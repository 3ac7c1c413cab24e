"""Pure decisions about a page reading: which phase it shows, who is there, which captions are new.

Each adapter declares an ordered list of :class:`Rule` built from its text and selector tables;
:func:`classify` returns the first rule that matches. Order matters: a denial screen can keep
the lobby text in the DOM, and lobby pages already show call controls, so terminal texts come
first, then lobby texts, then the in-call signals.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from meetbot.runner.platforms.base import Participant, Phase
from meetbot.runner.platforms.phrases import SPACES as _SPACES
from meetbot.runner.platforms.phrases import has_phrase, normalise, phrase_key
from meetbot.runner.platforms.reading import CaptionLine, Person, Reading

__all__ = ["normalise"]  # also used by signin.py

TextMatch = str | tuple[str, ...]
"""A text to find; a tuple means all of its parts must be on the page."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A page state: any of its texts, signals or hosts means ``phase``."""

    phase: Phase
    sub_code: str | None = None
    texts: tuple[TextMatch, ...] = ()
    signals: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    """Real hosts (after :meth:`Origins.to_real`); a leading dot matches subdomains."""


@dataclass(frozen=True, slots=True)
class Verdict:
    phase: Phase
    sub_code: str | None
    evidence: str
    """What matched (a text, ``signal:<name>`` or ``host:<host>``): the snapshot's detail."""


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("."):
        return host.endswith(pattern) or host == pattern[1:]
    return host == pattern


def _text_evidence(page_text: str, texts: Sequence[TextMatch]) -> str | None:
    for wanted in texts:
        parts = (wanted,) if isinstance(wanted, str) else wanted
        if all(has_phrase(page_text, part) for part in parts):
            return " + ".join(parts)
    return None


IN_CALL_SIGNAL = "in_call"
"""The signal that the call's controls are shown: terminal texts are then read only in
headings, dialogs and alerts (a chat line or caption can hold any phrase)."""

TERMINAL: frozenset[Phase] = frozenset(
    {Phase.DENIED, Phase.REMOVED, Phase.ENDED, Phase.NOT_FOUND, Phase.BLOCKED}
)
"""Phases that end the bot's visit: their texts are the ones a chat line must never fake."""


def screen_text(reading: Reading, bot_name: str = "", terminal: bool = False) -> str:
    """The text a rule reads (:func:`phrase_key`'d): the page's screen text (captions, chat,
    people lists already left out by the reading); for ``terminal`` rules only its headings,
    dialogs and alerts while the call's controls are shown; the bot's own name removed (the
    bot's to choose, it may hold any phrase)."""
    in_call = IN_CALL_SIGNAL in reading.signals
    key = phrase_key(reading.prominent if terminal and in_call else reading.text)
    name = phrase_key(bot_name) if bot_name.strip() else ""
    return key.replace(name, " ") if name.strip() else key


def classify(
    reading: Reading, rules: Sequence[Rule], origins: Origins | None = None, bot_name: str = ""
) -> Verdict | None:
    """The first rule the reading matches, or ``None`` for a page no rule knows."""
    texts = {flag: screen_text(reading, bot_name, flag) for flag in (False, True)}
    host = (urlsplit((origins or NO_OVERRIDES).to_real(reading.url)).hostname or "").lower()
    for rule in rules:
        page_text = texts[rule.phase in TERMINAL]
        if (evidence := _text_evidence(page_text, rule.texts)) is not None:
            return Verdict(rule.phase, rule.sub_code, evidence)
        for signal in rule.signals:
            if signal in reading.signals:
                return Verdict(rule.phase, rule.sub_code, f"signal:{signal}")
        for pattern in rule.hosts:
            if _host_matches(host, pattern):
                return Verdict(rule.phase, rule.sub_code, f"host:{host}")
    return None


# -- test-only origin overrides ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Origins:
    """Rewrites real platform origins to local fixture bases: TESTS ONLY.

    ``Origins({"https://meet.google.com": "http://127.0.0.1:8123/meet.google.com"})`` makes an
    adapter navigate to the fixture server instead of Google, and read the fixture's URLs as the
    real ones (so URL rules still apply). The production default is :data:`NO_OVERRIDES`.
    """

    bases: Mapping[str, str] = field(default_factory=dict)

    def to_local(self, url: str) -> str:
        for real, local in self.bases.items():
            if url == real or url.startswith((f"{real}/", f"{real}?", f"{real}#")):
                return local + url[len(real) :]
        return url

    def to_real(self, url: str) -> str:
        for real, local in sorted(self.bases.items(), key=lambda kv: -len(kv[1])):
            if url == local or url.startswith((f"{local}/", f"{local}?", f"{local}#")):
                return real + url[len(local) :]
        return url


NO_OVERRIDES = Origins()


# -- participants ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameRules:
    """How a platform decorates names in tiles and rosters."""

    self_markers: tuple[str, ...] = ("(You)", "(Me)")
    """Marks the bot's own entry."""
    drop: tuple[str, ...] = ()
    """Decorations to remove, e.g. ``(Guest)`` or ``, context menu available``."""
    self_names: tuple[str, ...] = ("You",)
    """Whole names that stand for the bot itself (a self tile labelled "You")."""


def clean_name(raw: str, rules: NameRules) -> tuple[str, bool]:
    """The display name and whether the entry is marked as the bot itself."""
    first = raw.strip().splitlines()[0].strip() if raw.strip() else ""
    is_self = any(marker.casefold() in first.casefold() for marker in rules.self_markers)
    for piece in (*rules.self_markers, *rules.drop):
        first = re.sub(re.escape(piece), "", first, flags=re.IGNORECASE)
    name = _SPACES.sub(" ", first).strip(" ,")
    is_self = is_self or name.casefold() in {n.casefold() for n in rules.self_names}
    return name, is_self


def others(people: Sequence[Person], bot_name: str, rules: NameRules) -> tuple[Participant, ...]:
    """Everyone but the bot, once each (a tile and a roster row of one person merge).

    Entries with a platform id are keyed by it; entries without one (an element identity ``el…``)
    by name. An entry is the bot when marked so, or when its name is the bot's name.
    """
    bot = bot_name.strip().casefold()
    merged: dict[str, Participant] = {}
    for person in people:
        name, marked_self = clean_name(person.name, rules)
        if not name or person.is_self or marked_self or name.casefold() == bot:
            continue
        key = f"name:{name.casefold()}" if person.id.startswith("el") else person.id
        old = merged.get(key)
        speaking = person.speaking or (old.speaking if old else False)
        merged[key] = Participant(id=key if old is None else old.id, name=name, speaking=speaking)
    return tuple(merged.values())


# -- captions ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    speaker: str
    text: str
    changed_at: float
    emitted: str = ""


class CaptionTracker:
    """Turns the live caption area (lines that grow and get revised) into final lines.

    A line is emitted once it has not changed for ``settle`` seconds, once a later line exists,
    or when it leaves the page. Text added to an emitted line later is emitted as a new line.
    """

    def __init__(self, settle: float = 1.0) -> None:
        self.settle = settle
        self._lines: dict[str, _Line] = {}
        self._last_speaker = ""

    def update(
        self, lines: Sequence[CaptionLine], now: float | None = None
    ) -> tuple[tuple[str, str], ...]:
        at = time.monotonic() if now is None else now
        out: list[tuple[str, str]] = []
        present = {line.cid for line in lines}
        for cid in [c for c in self._lines if c not in present]:
            out.extend(self._emit(self._lines.pop(cid)))
        for index, line in enumerate(lines):
            speaker = line.speaker.strip() or self._last_speaker
            self._last_speaker = speaker
            text = _SPACES.sub(" ", line.text).strip()
            state = self._lines.get(line.cid)
            if state is None:
                state = self._lines[line.cid] = _Line(speaker, text, at)
            elif state.text != text or state.speaker != speaker:
                state.speaker, state.text, state.changed_at = speaker, text, at
            superseded = index < len(lines) - 1
            if superseded or at - state.changed_at >= self.settle:
                out.extend(self._emit(state))
        return tuple(out)

    @staticmethod
    def _emit(state: _Line) -> list[tuple[str, str]]:
        if not state.text or state.text == state.emitted:
            return []
        new = state.text
        if state.emitted and state.text.startswith(state.emitted):
            new = state.text[len(state.emitted) :].lstrip(" ,.;:-").strip()
        state.emitted = state.text
        return [(state.speaker, new)] if new else []


# -- unknown pages -----------------------------------------------------------------------------


class UnknownPageTimer:
    """How long the page has matched no rule; past ``limit`` seconds after it last changed (its
    ``look``), or ``2 * limit`` after it became unknown however it changes (a ticking clock),
    the adapter reports an error. The timer runs from the first read, during ``join()`` too;
    a pre-join step acting on the page restarts both counts (:meth:`touch`)."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._since: float | None = None
        self._still_since: float | None = None
        self._look: object = None

    def touch(self, now: float | None = None) -> None:
        """The bot acted on the page (a pre-join step): count from now, both times."""
        if self._since is not None:
            self._since = self._still_since = time.monotonic() if now is None else now

    def expired(self, recognised: bool, now: float | None = None, look: object = None) -> bool:
        at = time.monotonic() if now is None else now
        if recognised:
            self._since = self._still_since = None
            return False
        if self._since is None:
            self._since = at
        if self._still_since is None or look != self._look:
            self._still_since, self._look = at, look
        return at - self._still_since >= self.limit or at - self._since >= 2 * self.limit
