"""Word error rate, for tests and benchmarks.

Both texts are normalised the same way first: lower case, apostrophes removed ("don't" ==
"dont"), other punctuation and hyphens turned into spaces. Numbers are not spelled out, so
choose reference texts without digits or number words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

_APOSTROPHES: Final = re.compile("['\u2019\u2018`]")
_NON_WORD: Final = re.compile(r"[^\w]+|_")


def normalize_words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _APOSTROPHES.sub("", text)
    return _NON_WORD.sub(" ", text).split()


@dataclass(frozen=True, slots=True)
class WordErrors:
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors ÷ reference words (``inf`` for an empty reference with insertions)."""
        if self.reference_words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_words


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Levenshtein alignment over normalised words, counting each kind of error."""
    ref = normalize_words(reference)
    hyp = normalize_words(hypothesis)
    # Each cell: (total, substitutions, deletions, insertions); ties prefer fewer total edits.
    prev = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i, r in enumerate(ref, start=1):
        cur = [(i, 0, i, 0)]
        for j, h in enumerate(hyp, start=1):
            t, s, d, n = prev[j - 1]
            diag = (t, s, d, n) if r == h else (t + 1, s + 1, d, n)
            t, s, d, n = prev[j]
            up = (t + 1, s, d + 1, n)
            t, s, d, n = cur[j - 1]
            left = (t + 1, s, d, n + 1)
            cur.append(min(diag, up, left))
        prev = cur
    _, subs, dels, ins = prev[-1]
    return WordErrors(subs, dels, ins, len(ref))


def wer(reference: str, hypothesis: str) -> float:
    return word_errors(reference, hypothesis).wer
