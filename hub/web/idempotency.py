"""The `Idempotency-Key` header, one rule for every door that honours it: 1-100 printable
ASCII characters, as `cart.pay`'s `idempotency_key` field (protocol.messages)."""

from __future__ import annotations

import re

from hub.domain.errors import ValidationFailed
from hub.web.api import Ctx

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")


def header_key(ctx: Ctx) -> str | None:
    """The client's key, None when it sent none; 400 on `Idempotency-Key` when it is
    not 1-100 printable ASCII characters."""
    key = ctx.request.headers.get(HEADER)
    if key is not None and not _KEY.fullmatch(key):
        raise ValidationFailed(
            "bad Idempotency-Key", fields={HEADER: "1-100 printable ASCII characters"}
        )
    return key
