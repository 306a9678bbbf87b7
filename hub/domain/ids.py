"""Identifiers: time-ordered UUIDs (RFC 9562 version 7).

Globally unique ids mean one tenant's id can never name a row of another tenant, and the
time prefix keeps B-tree inserts local. Within one process ids are strictly increasing
(the 12 `rand_a` bits carry sub-millisecond time, and a tie takes the last id plus one,
RFC 9562 section 6.2), so rows written in one transaction sort in the order they were
made.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = 0


def new_id() -> uuid.UUID:
    global _last
    now = time.time_ns()
    unix_ms, sub_ms = divmod(now, 1_000_000)
    rand_a = sub_ms * 4096 // 1_000_000  # 12 bits of the millisecond's fraction
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= rand_a << 64
    value |= 0b10 << 62  # variant
    value |= rand_b
    with _lock:
        if value <= _last:
            # Same instant (or the clock stepped back): one more than the last id, which
            # keeps version and variant bits as long as rand_b does not overflow.
            value = _last + 1
            if (value >> 62) & 0b11 != 0b10:
                value = (_last & ~((1 << 62) - 1)) + (1 << 64) | (0b10 << 62)
        _last = value
    return uuid.UUID(int=value)
