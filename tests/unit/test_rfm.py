"""RFM: scores by mid-rank in fifths, ties alike, and the eleven segments of the grid."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.rfm import LABELS, Purchases, Segment, score, segment_of

D = Decimal


def buyer(name: str, days: int, orders: int, spent: str) -> Purchases:
    return Purchases(name, days, orders, D(spent))


def test_five_distinct_customers_take_each_score_once() -> None:
    people = [
        buyer(str(i), days=50 - 10 * i, orders=i + 1, spent=f"{100 * (i + 1)}") for i in range(5)
    ]
    scored = score(people)
    assert [(s.r, s.f, s.m) for s in scored] == [(i, i, i) for i in range(1, 6)]
    assert scored[4].segment is Segment.CHAMPIONS
    assert scored[0].segment is Segment.LOST


def test_everyone_alike_scores_three() -> None:
    scored = score([buyer(str(i), 10, 2, "50") for i in range(7)])
    assert {(s.r, s.f, s.m) for s in scored} == {(3, 3, 3)}
    assert {s.segment for s in scored} == {Segment.NEED_ATTENTION}
    (alone,) = score([buyer("only", 400, 1, "5")])
    assert (alone.r, alone.f, alone.m) == (3, 3, 3)


def test_the_grid_uses_all_eleven_segments() -> None:
    seen = {segment_of(r, f, f) for r in range(1, 6) for f in range(1, 6)}
    assert seen == set(Segment)
    assert len(LABELS) == 11


@pytest.mark.parametrize(
    ("r", "f", "m", "segment"),
    [
        (5, 5, 5, Segment.CHAMPIONS),
        (5, 1, 1, Segment.NEW),
        (4, 1, 1, Segment.PROMISING),
        (1, 5, 5, Segment.CANT_LOSE_THEM),
        (2, 3, 4, Segment.AT_RISK),  # FM = 3.5 rounds half up to 4
        (1, 1, 1, Segment.LOST),
        (3, 3, 3, Segment.NEED_ATTENTION),
    ],
)
def test_segments(r: int, f: int, m: int, segment: Segment) -> None:
    assert segment_of(r, f, m) is segment


def test_scores_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="1-5"):
        segment_of(0, 3, 3)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 1000),
            st.integers(1, 100),
            st.decimals(min_value=0, max_value=10**6, places=2),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_scores_are_monotonic_and_order_free(rows: list[tuple[int, int, Decimal]]) -> None:
    people = [buyer(str(i), d, o, str(m)) for i, (d, o, m) in enumerate(rows)]
    scored = score(people)
    assert all(1 <= s.r <= 5 and 1 <= s.f <= 5 and 1 <= s.m <= 5 for s in scored)
    for a in scored:
        for b in scored:
            if a.purchases.days_since_last < b.purchases.days_since_last:
                assert a.r >= b.r
            if a.purchases.orders > b.purchases.orders:
                assert a.f >= b.f
            if a.purchases.spent > b.purchases.spent:
                assert a.m >= b.m
    shuffled = people[:]
    random.Random(1).shuffle(shuffled)
    again = {s.purchases.customer: (s.r, s.f, s.m) for s in score(shuffled)}
    assert again == {s.purchases.customer: (s.r, s.f, s.m) for s in scored}
