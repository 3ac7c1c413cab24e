"""One read of a meeting page per poll: URL, visible text, named signals, people, captions.

A poll runs every ~250 ms on two shared cores, so the page is read in ONE ``evaluate`` with a
generic script; the adapter passes its own selectors (its table) as the argument, and pure
functions (``rules.py``) decide what the reading means. Clicking and typing use Playwright
locators instead (``driver.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

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
  const signals = [];
  for (const [name, selectors] of Object.entries(spec.signals)) {
    if (body && all(document, selectors).some(shown)) signals.push(name);
  }
  const people = [];
  const p = spec.participants;
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
  const c = spec.captions;
  if (c && body) {
    for (const el of all(document, c.items)) {
      const speaker = firstText(el, c.speaker);
      captions.push({ cid: idOf(el), speaker, text: firstText(el, c.text) });
    }
  }
  return {
    url: location.href, title: document.title || "",
    text: body ? (body.innerText || "").slice(0, spec.text_limit) : "",
    signals, people, captions,
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


@dataclass(frozen=True, slots=True)
class ReadSpec:
    signals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Named CSS selector lists; a name is reported when any selector matches a shown element."""
    participants: ParticipantSpec | None = None
    captions: CaptionSpec | None = None

    def argument(self) -> dict[str, Any]:
        def spec(value: ParticipantSpec | CaptionSpec | None) -> dict[str, Any] | None:
            if value is None:
                return None
            return {k: list(getattr(value, k)) for k in value.__slots__}

        return {
            "signals": {k: list(v) for k, v in self.signals.items()},
            "participants": spec(self.participants),
            "captions": spec(self.captions),
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
    """The page's visible text (``innerText``)."""
    signals: frozenset[str] = frozenset()
    people: tuple[Person, ...] = ()
    captions: tuple[CaptionLine, ...] = ()

    @classmethod
    def from_js(cls, raw: Mapping[str, Any]) -> Reading:
        return cls(
            url=str(raw.get("url", "")),
            title=str(raw.get("title", "")),
            text=str(raw.get("text", "")),
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
    return Reading.from_js(raw if isinstance(raw, dict) else {"url": page.url})


async def any_shown(page: Page | Frame, selectors: Sequence[str]) -> bool:
    """Whether an element matching any of ``selectors`` is shown now (the test the reading's
    signals use). Raises Playwright's ``Error`` when the page is mid-navigation."""
    return bool(await page.evaluate(_ANY_SHOWN_JS, list(selectors)))
