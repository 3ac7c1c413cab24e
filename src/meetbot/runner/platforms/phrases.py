"""Tolerant phrase matching: page texts and the adapters' tables compared whatever the case,
quotes, ellipses, punctuation, contractions and surrounding words."""

from __future__ import annotations

import re

_TYPOGRAPHY = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...", "\xa0": " "}
)
SPACES = re.compile(r"\s+")
_CONTRACTIONS = (
    (re.compile(r"\bcan't\b"), "cannot"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"'ve\b"), " have"),
    (re.compile(r"'ll\b"), " will"),
    (re.compile(r"'re\b"), " are"),
    (re.compile(r"\bi'm\b"), "i am"),
)
_PUNCTUATION = re.compile(r"[^\w']+")


def normalise(text: str) -> str:
    """Lowercase, straight quotes, ``...`` for the ellipsis, single spaces."""
    return SPACES.sub(" ", text.translate(_TYPOGRAPHY)).strip().casefold()


def phrase_key(text: str) -> str:
    """A text reduced for tolerant phrase matching: :func:`normalise`, contractions spelt out
    ("you've" → "you have", "can't" → "cannot"), punctuation and ellipses as spaces, padded
    with one space each side so phrases match whole words only."""
    text = normalise(text)
    for pattern, spelt in _CONTRACTIONS:
        text = pattern.sub(spelt, text)
    return f" {SPACES.sub(' ', _PUNCTUATION.sub(' ', text)).strip()} "


def has_phrase(text_key: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in a :func:`phrase_key`'d text, whatever its case, quotes,
    punctuation, contractions and surrounding words."""
    wanted = phrase_key(phrase)
    return wanted.strip() != "" and wanted in text_key
