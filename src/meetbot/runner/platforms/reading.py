"""One read of a meeting page per poll: URL, visible text, named signals, people, captions.

A poll runs every ~250 ms on two shared cores, so the page is read in ONE ``evaluate`` with a
generic script; the adapter passes its own selectors (its table) as the argument, and pure
functions (``rules.py``) decide what the reading means. Clicking and typing use Playwright
locators instead (``driver.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from meetbot.runner.platforms.phrases import phrase_key

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page

TEXT_LIMIT: Final = 60_000

_SHOWN_JS: Final = """(el) => el.checkVisibility
    ? el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })
    : el.offsetParent !== null"""
"""Whether an element is shown: the one test for signals and :func:`any_shown`."""

_READ_JS: Final = r"""
(spec) => {
  const ids = (window.__meetbotIds = window.__meetbotIds || new WeakMap());
  window.__meetbotNextId = window.__meetbotNextId || 1;
  const idOf = (el) => {
    if (!ids.has(el)) ids.set(el, "el" + window.__meetbotNextId++);
    return ids.get(el);
  };
  const all = (root, selectors) => {
    const out = [];
    for (const s of selectors) {
      try { for (const el of root.querySelectorAll(s)) if (!out.includes(el)) out.push(el); }
      catch (e) { /* a selector this browser does not know */ }
    }
    return out;
  };
  const matches = (el, selectors) => selectors.some((s) => {
    try { return el.matches(s) || el.querySelector(s) !== null; } catch (e) { return false; }
  });
  const shown = __SHOWN__;
  const firstText = (root, selectors) => {
    for (const el of all(root, selectors)) {
      const t = (el.innerText || el.textContent || "").trim();
      if (t) return t;
    }
    return "";
  };
  const body = document.body;
  const p = spec.participants;
  // The screen's text without the regions that hold what people say or are called: chat,
  // captions, people lists and tiles (a line there may say anything, "…the call has ended").
  const c = spec.captions;
  const excluded = [...spec.exclude, ...(p ? p.items : []), ...(c ? c.items : [])]
    .filter((s) => { try { document.querySelector(s); return true; } catch (e) { return false; } })
    .join(", ") || ":not(*)";
  const screenText = (el) => {
    if (el.matches(excluded)) return "";
    if (!el.querySelector(excluded)) return el.innerText || "";
    const out = [];
    for (const c of el.childNodes) {
      if (c.nodeType === 3) out.push(c.data);
      else if (c.nodeType === 1 && shown(c)) out.push(screenText(c));
    }
    return out.join("\n");
  };
  const prominent = [];
  if (body) for (const el of document.querySelectorAll(spec.prominent.join(", "))) {
    if (shown(el) && !el.closest(excluded)) prominent.push(screenText(el));
  }
  const controls = [];
  if (body) for (const el of document.querySelectorAll("button, [role=button]")) {
    if (controls.length >= 300 || !shown(el)) continue;
    let name = el.getAttribute("aria-label") || "";
    const by = el.getAttribute("aria-labelledby");
    const label = (i) => document.getElementById(i)?.innerText || "";
    if (!name && by) name = by.split(/\s+/).map(label).join(" ");
    controls.push((name || el.innerText || el.getAttribute("title") || "").trim().slice(0, 200));
  }
  const signals = [];
  for (const [name, selectors] of Object.entries(spec.signals)) {
    if (body && all(document, selectors).some(shown)) signals.push(name);
  }
  const people = [];
  if (p && body) {
    for (const el of all(document, p.items)) {
      let id = "";
      for (const a of p.id_attrs) { id = el.getAttribute(a) || ""; if (id) break; }
      let name = firstText(el, p.names);
      for (const a of p.name_attrs) { if (name) break; name = (el.getAttribute(a) || "").trim(); }
      people.push({
        id: id || idOf(el), name,
        speaking: matches(el, p.speaking), self: matches(el, p.self_markers),
      });
    }
  }
  const captions = [];
  if (c && body) {
    for (const el of all(document, c.items)) {
      const speaker = firstText(el, c.speaker);
      captions.push({ cid: idOf(el), speaker, text: firstText(el, c.text) });
    }
  }
  return {
    url: location.href, title: document.title || "",
    text: body ? screenText(body).slice(0, spec.text_limit) : "",
    prominent: prominent.join("\n").slice(0, spec.text_limit),
    controls, signals, people, captions,
  };
}
""".replace("__SHOWN__", _SHOWN_JS)

_ANY_SHOWN_JS: Final = """
(selectors) => {
  const shown = __SHOWN__;
  for (const s of selectors) {
    try { for (const el of document.querySelectorAll(s)) if (shown(el)) return true; }
    catch (e) { /* a selector this browser does not know */ }
  }
  return false;
}
""".replace("__SHOWN__", _SHOWN_JS)


@dataclass(frozen=True, slots=True)
class ParticipantSpec:
    """Where people are: elements (tiles or roster rows) and what to read inside each."""

    items: tuple[str, ...]
    names: tuple[str, ...] = ()
    """Selectors inside an item whose text is the name (first non-empty wins)."""
    name_attrs: tuple[str, ...] = ()
    """Attributes of the item holding the name, when no ``names`` text is found."""
    id_attrs: tuple[str, ...] = ()
    """Attributes holding a stable participant id; an element identity is used otherwise."""
    speaking: tuple[str, ...] = ()
    """The item (or a descendant) matches one of these while the person speaks."""
    self_markers: tuple[str, ...] = ()
    """The item (or a descendant) matches one of these when it is the bot itself."""


@dataclass(frozen=True, slots=True)
class CaptionSpec:
    items: tuple[str, ...]
    speaker: tuple[str, ...]
    text: tuple[str, ...]


EXCLUDED: Final = (
    '[role="log"]',
    '[role="feed"]',
    '[role="marquee"]',
    '[role="list"]',
    '[role="tree"]',
    '[role="grid"]',
    '[aria-label*="caption" i]',
    '[aria-label*="chat" i]',
    '[aria-label*="participant" i]',
)
"""Regions whose text no rule reads: chat, captions, people lists (and the adapter's own
participant items and caption lines). Names and captions may hold any phrase."""

PROMINENT: Final = (
    "h1", "h2", "h3", "h4", "h5", "h6", '[role="heading"]',
    '[role="dialog"]', '[role="alertdialog"]', '[role="alert"]',
)  # fmt: skip
"""Where a page shows a screen's message over a call: headings, dialogs, alerts."""


@dataclass(frozen=True, slots=True)
class ReadSpec:
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Named CSS selector lists; a name is reported when any selector matches a shown element."""
    controls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Named accessible-name phrases: a name is reported (as a signal) when a shown button (or
    ``role=button``) is named starting with one of them (:func:`rules.has_phrase` at the
    start). Roles and names first; the ``signals`` selectors are hints beside them."""
    participants: ParticipantSpec | None = None
    captions: CaptionSpec | None = None
    exclude: tuple[str, ...] = EXCLUDED
    prominent: tuple[str, ...] = PROMINENT

    def argument(self) -> dict[str, Any]:
        def spec(value: ParticipantSpec | CaptionSpec | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {k: list(getattr(value, k)) for k in value.__slots__}

        return {
            "signals": {k: list(v) for k, v in self.signals.items()},
            "participants": spec(self.participants),
            "captions": spec(self.captions),
            "exclude": list(self.exclude),
            "prominent": list(self.prominent),
            "text_limit": TEXT_LIMIT,
        }


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    speaking: bool = False
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class CaptionLine:
    cid: str
    """Identity of the caption element: the same line while it grows."""
    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class Reading:
    url: str
    title: str = ""
    text: str = ""
    """The page's visible text (``innerText``) outside chat, captions and people lists."""
    prominent: str = ""
    """The visible text of headings, dialogs and alerts (outside those regions)."""
    controls: tuple[str, ...] = ()
    """Accessible names of the shown buttons (and ``role=button`` elements)."""
    signals: frozenset[str] = frozenset()
    people: tuple[Person, ...] = ()
    captions: tuple[CaptionLine, ...] = ()

    @classmethod
    def from_js(cls, raw: Mapping[str, Any]) -> Reading:
        return cls(
            url=str(raw.get("url", "")),
            title=str(raw.get("title", "")),
            text=str(raw.get("text", "")),
            prominent=str(raw.get("prominent", "")),
            controls=tuple(str(c) for c in raw.get("controls", ())),
            signals=frozenset(str(s) for s in raw.get("signals", ())),
            people=tuple(
                Person(str(p["id"]), str(p["name"]), bool(p["speaking"]), bool(p["self"]))
                for p in raw.get("people", ())
            ),
            captions=tuple(
                CaptionLine(str(c["cid"]), str(c["speaker"]), str(c["text"]))
                for c in raw.get("captions", ())
            ),
        )


async def read_page(page: Page | Frame, spec: ReadSpec) -> Reading:
    """Read the page (or one of its frames: a web client in an iframe) once. Raises
    Playwright's ``Error`` when the page is mid-navigation."""
    raw = await page.evaluate(_READ_JS, spec.argument())
    reading = Reading.from_js(raw if isinstance(raw, dict) else {"url": page.url})
    named = control_signals(reading.controls, spec.controls)
    return replace(reading, signals=reading.signals | named) if named else reading


def control_signals(
    controls: Sequence[str], wanted: Mapping[str, tuple[str, ...]]
) -> frozenset[str]:
    """The ``wanted`` names some control's accessible name starts with (whole words, any case,
    quotes or punctuation)."""
    keys = [phrase_key(c) for c in controls]
    return frozenset(
        name
        for name, phrases in wanted.items()
        if any(k.startswith(phrase_key(ph)) for ph in phrases for k in keys)
    )


async def any_shown(page: Page | Frame, selectors: Sequence[str]) -> bool:
    """Whether an element matching any of ``selectors`` is shown now (the test the reading's
    signals use). Raises Playwright's ``Error`` when the page is mid-navigation."""
    return bool(await page.evaluate(_ANY_SHOWN_JS, list(selectors)))
