"""Text as search compares it."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """The search key of a name: NFKC, case-folded, Cyrillic yo (U+0451) as ye (U+0435),
    single spaces.

    Stored beside names, because SQLite's lower() folds only ASCII, and so that one
    trigram index on PostgreSQL serves case-insensitive substring search."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u0451", "\u0435")
    return " ".join(folded.split())
