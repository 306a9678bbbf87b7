"""RFM analysis of customers in plain Python: scores 1-5 for recency, frequency and
money, and the standard eleven segments.

Scores are relative to the customers scored together: a value's score is its mid-rank
percentile in fifths (5 is best: the most recent, the most frequent, the most spent).
Equal values get equal scores, so the order of customers never changes a score, and
when everyone is alike everyone scores 3.

A segment comes from R and FM = the average of F and M rounded half up:

    R \\ FM  1               2                   3                   4                5
    5   New             Potential Loyalist  Potential Loyalist  Champions        Champions
    4   Promising       Potential Loyalist  Potential Loyalist  Loyal            Champions
    3   About to Sleep  About to Sleep      Need Attention      Loyal            Loyal
    2   Hibernating     Hibernating         At Risk             At Risk          Can't Lose Them
    1   Lost            Lost                At Risk             Can't Lose Them  Can't Lose Them
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Segment(StrEnum):
    CHAMPIONS = "champions"
    LOYAL = "loyal"
    POTENTIAL_LOYALIST = "potential_loyalist"
    NEW = "new"
    PROMISING = "promising"
    NEED_ATTENTION = "need_attention"
    ABOUT_TO_SLEEP = "about_to_sleep"
    AT_RISK = "at_risk"
    CANT_LOSE_THEM = "cant_lose_them"
    HIBERNATING = "hibernating"
    LOST = "lost"


LABELS = {
    Segment.CHAMPIONS: "Champions",
    Segment.LOYAL: "Loyal",
    Segment.POTENTIAL_LOYALIST: "Potential Loyalist",
    Segment.NEW: "New",
    Segment.PROMISING: "Promising",
    Segment.NEED_ATTENTION: "Need Attention",
    Segment.ABOUT_TO_SLEEP: "About to Sleep",
    Segment.AT_RISK: "At Risk",
    Segment.CANT_LOSE_THEM: "Can't Lose Them",
    Segment.HIBERNATING: "Hibernating",
    Segment.LOST: "Lost",
}

# Customers who were valuable and are slipping away: the at-risk list.
AT_RISK_SEGMENTS = (Segment.CANT_LOSE_THEM, Segment.AT_RISK, Segment.ABOUT_TO_SLEEP)

_S = Segment
# GRID[r - 1][fm - 1]
_GRID: tuple[tuple[Segment, ...], ...] = (
    (_S.LOST, _S.LOST, _S.AT_RISK, _S.CANT_LOSE_THEM, _S.CANT_LOSE_THEM),
    (_S.HIBERNATING, _S.HIBERNATING, _S.AT_RISK, _S.AT_RISK, _S.CANT_LOSE_THEM),
    (_S.ABOUT_TO_SLEEP, _S.ABOUT_TO_SLEEP, _S.NEED_ATTENTION, _S.LOYAL, _S.LOYAL),
    (_S.PROMISING, _S.POTENTIAL_LOYALIST, _S.POTENTIAL_LOYALIST, _S.LOYAL, _S.CHAMPIONS),
    (_S.NEW, _S.POTENTIAL_LOYALIST, _S.POTENTIAL_LOYALIST, _S.CHAMPIONS, _S.CHAMPIONS),
)


@dataclass(frozen=True)
class Purchases:
    """One customer's buying, over the period analysed."""

    customer: object
    days_since_last: int
    orders: int
    spent: Decimal


@dataclass(frozen=True)
class Scored:
    purchases: Purchases
    r: int
    f: int
    m: int
    segment: Segment


def segment_of(r: int, f: int, m: int) -> Segment:
    for score in (r, f, m):
        if not 1 <= score <= 5:
            raise ValueError("scores are 1-5")
    fm = int((Decimal(f + m) / 2).to_integral_value(ROUND_HALF_UP))
    return _GRID[r - 1][fm - 1]


def _scorer(values: Sequence[Decimal]) -> dict[Decimal, int]:
    """value → 1-5 by its mid-rank percentile: (below + equal / 2) / n, in fifths."""
    ordered = sorted(values)
    n = len(ordered)
    scores = {}
    for value in set(ordered):
        below = bisect.bisect_left(ordered, value)
        equal = bisect.bisect_right(ordered, value) - below
        scores[value] = min(5, 1 + (5 * (2 * below + equal)) // (2 * n))
    return scores


def score(customers: Sequence[Purchases]) -> list[Scored]:
    """Score customers against each other; the order of the result is the input's."""
    if not customers:
        return []
    # Recency: fewer days is better, so it is scored negated.
    recency = _scorer([Decimal(-c.days_since_last) for c in customers])
    frequency = _scorer([Decimal(c.orders) for c in customers])
    money = _scorer([c.spent for c in customers])
    result = []
    for c in customers:
        r = recency[Decimal(-c.days_since_last)]
        f = frequency[Decimal(c.orders)]
        m = money[c.spent]
        result.append(Scored(c, r, f, m, segment_of(r, f, m)))
    return result
