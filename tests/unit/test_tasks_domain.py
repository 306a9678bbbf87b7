"""Staff tasks: the status graph, who may make each move, what a move needs, and when a
template's schedule fires."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.errors import PermissionDenied, ValidationFailed
from hub.domain.tasks import (
    FINAL_STATUSES,
    TRANSITIONS,
    Actor,
    InvalidTransition,
    Move,
    Schedule,
    TaskStatus,
    check_move,
    is_overdue,
    next_statuses,
)
from protocol.errors import ErrorCode

S = TaskStatus
BOTH = frozenset({Actor.WORKER, Actor.REVIEWER})


def move(
    current: TaskStatus,
    target: TaskStatus,
    capacities: frozenset[Actor] = BOTH,
    *,
    has_photo: bool = False,
    requires_photo: bool = False,
    comment: str = "",
) -> Move:
    return Move(current, target, capacities, has_photo, requires_photo, comment)


def test_six_statuses_and_the_graph_the_spec_draws() -> None:
    assert len(TaskStatus) == 6
    assert next_statuses(S.NEW) == [S.IN_PROGRESS, S.CANCELLED]
    assert next_statuses(S.IN_PROGRESS) == [S.ON_REVIEW, S.CANCELLED]
    assert next_statuses(S.ON_REVIEW) == [S.DONE, S.RETURNED, S.CANCELLED]
    assert next_statuses(S.RETURNED) == [S.IN_PROGRESS, S.CANCELLED]
    assert next_statuses(S.DONE) == next_statuses(S.CANCELLED) == []


def test_the_happy_path_with_a_rework_round() -> None:
    path = [S.NEW, S.IN_PROGRESS, S.ON_REVIEW, S.RETURNED, S.IN_PROGRESS, S.ON_REVIEW, S.DONE]
    for current, target in itertools.pairwise(path):
        check_move(move(current, target, comment="redo the shelf"))


@given(st.sampled_from(list(TaskStatus)), st.sampled_from(list(TaskStatus)))
def test_a_move_off_the_graph_is_refused_with_a_stable_code(
    current: TaskStatus, target: TaskStatus
) -> None:
    if (current, target) in TRANSITIONS:
        return
    with pytest.raises(InvalidTransition) as caught:
        check_move(move(current, target, comment="x", has_photo=True))
    assert caught.value.code is ErrorCode.INVALID_TRANSITION


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_final_statuses_are_final(final: TaskStatus) -> None:
    for target in TaskStatus:
        with pytest.raises(InvalidTransition):
            check_move(move(final, target, comment="x", has_photo=True))


def test_workers_work_and_reviewers_review() -> None:
    worker = frozenset({Actor.WORKER})
    reviewer = frozenset({Actor.REVIEWER})
    check_move(move(S.NEW, S.IN_PROGRESS, worker))
    check_move(move(S.IN_PROGRESS, S.ON_REVIEW, worker))
    for target in (S.DONE, S.RETURNED, S.CANCELLED):
        with pytest.raises(PermissionDenied):
            check_move(move(S.ON_REVIEW, target, worker, comment="x"))
        check_move(move(S.ON_REVIEW, target, reviewer, comment="x"))
    with pytest.raises(PermissionDenied):
        check_move(move(S.NEW, S.IN_PROGRESS, reviewer))
    with pytest.raises(PermissionDenied):
        check_move(move(S.NEW, S.IN_PROGRESS, frozenset()))


def test_a_photo_report_needs_a_photo_before_review() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_move(move(S.IN_PROGRESS, S.ON_REVIEW, requires_photo=True))
    assert "photos" in caught.value.fields
    check_move(move(S.IN_PROGRESS, S.ON_REVIEW, requires_photo=True, has_photo=True))
    check_move(move(S.IN_PROGRESS, S.ON_REVIEW, requires_photo=False))


@pytest.mark.parametrize("comment", ["", "   "])
def test_returning_for_rework_needs_a_reason(comment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_move(move(S.ON_REVIEW, S.RETURNED, comment=comment))
    assert "comment" in caught.value.fields


def test_overdue_means_open_and_past_due() -> None:
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    past, future = now - timedelta(minutes=1), now + timedelta(minutes=1)
    assert is_overdue(S.IN_PROGRESS, past, now)
    assert not is_overdue(S.IN_PROGRESS, future, now)
    assert not is_overdue(S.IN_PROGRESS, None, now)
    assert not is_overdue(S.DONE, past, now)
    assert not is_overdue(S.CANCELLED, past, now)


# --- schedules --------------------------------------------------------------------------

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3, no daylight saving


def test_a_daily_schedule_fires_at_the_shops_local_time() -> None:
    daily = Schedule.of(range(7), time(8, 30))
    # 06:00 UTC is 09:00 in Moscow: today's 08:30 local (05:30 UTC) has passed.
    now = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert daily.latest(now, MOSCOW) == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    # 05:00 UTC is 08:00 local: the latest is yesterday's.
    early = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    assert daily.latest(early, MOSCOW) == datetime(2026, 11, 23, 5, 30, tzinfo=UTC)


def test_weekdays_only() -> None:
    weekdays = Schedule.of([0, 1, 2, 3, 4], time(9, 0))
    sunday_noon = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # a Sunday
    assert sunday_noon.weekday() == 6
    assert weekdays.latest(sunday_noon, ZoneInfo("UTC")) == datetime(
        2026, 11, 27, 9, 0, tzinfo=UTC
    )  # Friday


@pytest.mark.parametrize("days", [[], [7], [-1], [0, 9]])
def test_a_schedule_needs_real_weekdays(days: list[int]) -> None:
    with pytest.raises(ValidationFailed):
        Schedule.of(days, time(9, 0))


@given(
    st.frozensets(st.integers(0, 6), min_size=1),
    st.times(),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["UTC", "Europe/Moscow", "America/New_York", "Asia/Kolkata"]),
)
def test_the_latest_instant_is_past_on_a_chosen_day_and_within_a_week(
    days: frozenset[int], at: time, now: datetime, zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    schedule = Schedule.of(days, at)
    latest = schedule.latest(now, zone)
    assert latest <= now
    assert now - latest <= timedelta(days=8)
    local = latest.astimezone(zone)
    assert local.weekday() in days
