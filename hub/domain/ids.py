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
# Random bits from the OS a few hundred ids at a time: one `getrandom` call per id was
# about 2 % of a busy hub's CPU. A forked child starts with a pool of its own, never
# its parent's bytes.
_POOL_BYTES = 4096
_pool = b""
_taken = 0


def _forget_pool() -> None:
    global _pool, _taken
    _pool, _taken = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def _random_62_bits() -> int:
    """62 bits from the OS's random source (under `_lock`)."""
    global _pool, _taken
    if _taken + 8 > len(_pool):
        _pool, _taken = os.urandom(_POOL_BYTES), 0
    start, _taken = _taken, _taken + 8
    return int.from_bytes(_pool[start:_taken], "big") & ((1 << 62) - 1)


def new_id() -> uuid.UUID:
    global _last
    now = time.time_ns()
    unix_ms, sub_ms = divmod(now, 1_000_000)
    rand_a = sub_ms * 4096 // 1_000_000  # 12 bits of the millisecond's fraction
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= rand_a << 64
    value |= 0b10 << 62  # variant
    with _lock:
        value |= _random_62_bits()
        if value <= _last:
            # Same instant (or the clock stepped back): one more than the last id, which
            # keeps version and variant bits as long as rand_b does not overflow.
            value = _last + 1
            if (value >> 62) & 0b11 != 0b10:
                value = (_last & ~((1 << 62) - 1)) + (1 << 64) | (0b10 << 62)
        _last = value
    return uuid.UUID(int=value)
