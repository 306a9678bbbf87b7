"""Staff tasks in plain Python: priorities, the six statuses and who may move a task
between them, and when a template's schedule next fires.

    new ──start──▶ in_progress ──submit──▶ on_review ──accept──▶ done        (final)
     │                 ▲    │                  │
     │                 │    │                  └──return──▶ returned ──start──┘
     └──────────── cancel (from any status but done) ──▶ cancelled          (final)

The assignee (or, for a task given to a role, anyone of that role in the shop, who
then becomes the assignee) does the work: start and submit. Whoever manages tasks in
the shop reviews (accept or return for rework, with a reason) and may cancel. A manager
may also do the work of a task themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hub.domain.errors import Conflict, PermissionDenied, ValidationFailed
from protocol.errors import ErrorCode


class TaskStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_REVIEW = "on_review"
    DONE = "done"
    RETURNED = "returned"  # returned for rework
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({TaskStatus.DONE, TaskStatus.CANCELLED})


class TaskPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


# Lists put the most pressing first.
PRIORITY_RANK = {
    TaskPriority.URGENT: 0,
    TaskPriority.HIGH: 1,
    TaskPriority.NORMAL: 2,
    TaskPriority.LOW: 3,
}


class Actor(StrEnum):
    """In which capacity a user moves a task."""

    WORKER = "worker"  # the assignee, or one of the role a task is given to
    REVIEWER = "reviewer"  # manages tasks in the task's shop


_CANCELLABLE = (TaskStatus.NEW, TaskStatus.IN_PROGRESS, TaskStatus.ON_REVIEW, TaskStatus.RETURNED)

# (from, to) → who may make the move.
TRANSITIONS: dict[tuple[TaskStatus, TaskStatus], Actor] = {
    (TaskStatus.NEW, TaskStatus.IN_PROGRESS): Actor.WORKER,
    (TaskStatus.RETURNED, TaskStatus.IN_PROGRESS): Actor.WORKER,
    (TaskStatus.IN_PROGRESS, TaskStatus.ON_REVIEW): Actor.WORKER,
    (TaskStatus.ON_REVIEW, TaskStatus.DONE): Actor.REVIEWER,
    (TaskStatus.ON_REVIEW, TaskStatus.RETURNED): Actor.REVIEWER,
    **{(status, TaskStatus.CANCELLED): Actor.REVIEWER for status in _CANCELLABLE},
}


class InvalidTransition(Conflict):
    """The task cannot go from its status to the one asked for."""

    code = ErrorCode.INVALID_TRANSITION


@dataclass(frozen=True)
class Move:
    """What a user asks to do with a task, and what the task is like right now."""

    current: TaskStatus
    target: TaskStatus
    capacities: frozenset[Actor]
    has_photo: bool
    requires_photo: bool
    comment: str


def check_move(move: Move) -> None:
    """Raise unless the move is on the graph, the user may make it, and what it needs
    (a photo for a photo report, a reason for rework) is there."""
    who = TRANSITIONS.get((move.current, move.target))
    if who is None:
        raise InvalidTransition(
            f"a task that is {move.current.value} cannot become {move.target.value}; "
            f"it can become: {', '.join(s.value for s in next_statuses(move.current)) or 'nothing'}"
        )
    if who not in move.capacities:
        raise PermissionDenied(
            "only the task's assignee may do this"
            if who is Actor.WORKER
            else "only a manager of the shop may do this"
        )
    if move.target is TaskStatus.ON_REVIEW and move.requires_photo and not move.has_photo:
        raise ValidationFailed(
            "this task needs a photo report: upload a photo before submitting it",
            fields={"photos": "at least one photo is required"},
        )
    if move.target is TaskStatus.RETURNED and not move.comment.strip():
        raise ValidationFailed(
            "say what to redo when returning a task",
            fields={"comment": "required when returning a task for rework"},
        )


def next_statuses(current: TaskStatus) -> list[TaskStatus]:
    return [to for (frm, to) in TRANSITIONS if frm is current]


def is_overdue(status: TaskStatus, due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and status not in FINAL_STATUSES and due_at < now


# --- templates' schedules ----------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """On which weekdays (0 = Monday) and at what local time of the shop a template
    makes its task."""

    weekdays: frozenset[int]
    at: time

    @classmethod
    def of(cls, weekdays: Iterable[int], at: time) -> Schedule:
        days = frozenset(weekdays)
        if not days or not days <= set(range(7)):
            raise ValidationFailed(
                "a schedule needs weekdays from 0 (Monday) to 6 (Sunday)",
                fields={"weekdays": "one or more of 0-6"},
            )
        return cls(days, at.replace(second=0, microsecond=0, tzinfo=None))

    def latest(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The most recent scheduled instant at or before `now`, in UTC: at most a
        week back."""
        local_now = now.astimezone(zone)
        for days_back in range(8):
            day = (local_now - timedelta(days=days_back)).date()
            if day.weekday() not in self.weekdays:
                continue
            fire = datetime.combine(day, self.at, tzinfo=zone)
            if fire <= local_now:
                return fire.astimezone(UTC)
        raise AssertionError("a non-empty week always fires within 8 days")
