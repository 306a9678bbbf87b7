"""Fingerprints of requests made under an idempotency key: a retry must repeat the
request to get the first answer, and a different request under the same key is refused.

Decimals count by value: a retry that writes `20` where the first attempt wrote `20.00`
is the same request.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal


def by_value(value: object) -> str:
    """The text of a field as fingerprints compare it: a decimal without its trailing
    zeros (`20.00`, `20` and `2E+1` are all `20`), anything else as `str` has it."""
    if isinstance(value, Decimal) and value.is_finite():
        return format(value.normalize(), "f")
    return str(value)


def digest(shape: object) -> str:
    """SHA-256 of a JSON shape of texts."""
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()
