"""Text every store keeps as given: no NUL character, no lone UTF-16 surrogate.

PostgreSQL refuses both in text (SQLite keeps a NUL, then PostgreSQL-backed deployments differ
from SQLite ones). The API refuses such input with a 400 on every backend
(:func:`problem`); text a meeting page controls (participant names, captions) is cleaned
instead (:data:`PageText`), since refusing it would drop a runner's whole report batch.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator

_NUL: Final = "\x00"
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (``"a NUL character"``, ...), or ``None``."""
    if _NUL in text:
        return "a NUL character (\\u0000)"
    if _SURROGATE.search(text):
        return "a lone UTF-16 surrogate"
    return None


def clean(text: str) -> str:
    """``text`` without NUL characters, lone surrogates replaced by U+FFFD."""
    if _NUL in text:
        text = text.replace(_NUL, "")
    return _SURROGATE.sub("\ufffd", text)


PageText = Annotated[str, AfterValidator(clean)]
"""A ``str`` field whose value comes from a meeting page: cleaned, never refused."""
