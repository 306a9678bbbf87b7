"""Fingerprints of requests made under an idempotency key: a retry must repeat the
request to get the first answer, and a different request under the same key is refused.

Decimals count by value: a retry that writes `20` where the first attempt wrote `20.00`
is the same request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal

# A request's fields as texts, each turned to text by the function it is given.
Shape = Callable[[Callable[[object], str]], object]


def by_value(value: object) -> str:
    """The text of a field as fingerprints compare it: a decimal without its trailing
    zeros (`20.00`, `20` and `2E+1` are all `20`), anything else as `str` has it."""
    if isinstance(value, Decimal) and value.is_finite():
        return format(value.normalize(), "f")
    return str(value)


def digest(shape: object) -> str:
    """SHA-256 of a JSON shape of texts."""
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()


def of(shape: Shape) -> str:
    """The fingerprint stored with a request: its decimals by value."""
    return digest(shape(by_value))


def matches(shape: Shape, stored: str) -> bool:
    """Whether `stored` is this request's fingerprint: as written now, or as it was
    written before decimals counted by value (`str`; a request stored then, retried
    now)."""
    return stored in (of(shape), digest(shape(str)))
