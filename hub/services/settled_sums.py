"""The settled part of an open day's report, kept by each process.

Today's report is current to the last sale, so it is computed, not stored; summing a
busy day from its first sale on every request (each manager's dashboard asks after every
burst of sales) costs more the later it gets. The sums of the day up to a quarter-hour
boundary that lies SETTLE in the past cannot change any more (a sale or a return is
stamped when it is made, and no transaction stays open that long), so they are kept
here; a request sums only what came after that boundary and adds the two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from hub.domain.reports import DaySums

# As long as the worker waits before closing a day, for the same reason.
SETTLE = timedelta(minutes=10)
QUARTER_HOUR = timedelta(minutes=15)


def settled_until(start: datetime, end: datetime, now: datetime) -> datetime:
    """The last quarter-hour boundary of [start, end] at least SETTLE before `now`
    (boundaries counted from `start`, a whole quarter hour in every zone); `start` when
    none is."""
    settled = now - SETTLE
    if settled >= end:
        return end
    if settled <= start:
        return start
    return start + ((settled - start) // QUARTER_HOUR) * QUARTER_HOUR


@dataclass(frozen=True)
class Settled:
    day: date
    until: datetime
    sums: DaySums


class SettledSums:
    """One entry per shop (of its latest day asked for); a process keeps a few thousand
    at most, one per shop whose dashboard is open."""

    def __init__(self) -> None:
        self._entries: dict[tuple[uuid.UUID, uuid.UUID], Settled] = {}

    def get(self, tenant: uuid.UUID, shop: uuid.UUID, day: date) -> Settled | None:
        entry = self._entries.get((tenant, shop))
        return entry if entry is not None and entry.day == day else None

    def keep(self, tenant: uuid.UUID, shop: uuid.UUID, entry: Settled) -> None:
        current = self._entries.get((tenant, shop))
        if current is None or (entry.day, entry.until) >= (current.day, current.until):
            self._entries[(tenant, shop)] = entry
