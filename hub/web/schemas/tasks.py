from __future__ import annotations

import uuid
from datetime import datetime, time

from pydantic import BaseModel, Field

from hub.adapters.db.task_tables import Task, TaskComment, TaskPhoto, TaskTemplate
from hub.domain.permissions import Role
from hub.domain.tasks import TaskPriority, TaskStatus, next_statuses
from hub.services.tasks import Assignment, TaskDetail, task_document
from hub.web.export import ExportQuery
from hub.web.schemas.common import In, Instant, OneLine, PageQuery, Query

_ASSIGNEE = "the person who does it; or leave it out and set `assignee_role`"
_ROLE = "everyone of this role in the shop sees it; the first to start it takes it"


class _Assigned(In):
    assignee: uuid.UUID | None = Field(default=None, description=_ASSIGNEE)
    assignee_role: Role | None = Field(default=None, description=_ROLE)

    def assignment(self) -> Assignment:
        return Assignment(user=self.assignee, role=self.assignee_role)


class TaskCreateIn(_Assigned):
    title: OneLine = Field(min_length=1, max_length=200)
    shop: uuid.UUID
    priority: TaskPriority = TaskPriority.NORMAL
    due_at: Instant | None = None
    description: str = Field(default="", max_length=4000)
    requires_photo: bool = Field(
        default=False, description="a photo report is needed before it goes on review"
    )


class TaskUpdateIn(In):
    """Only the fields sent change; `due_at: null` removes the due date. Sending
    `assignee` or `assignee_role` reassigns (send one, the other is cleared)."""

    title: OneLine | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    priority: TaskPriority | None = None
    due_at: Instant | None = None
    requires_photo: bool | None = None
    assignee: uuid.UUID | None = None
    assignee_role: Role | None = None


class TaskMoveIn(In):
    status: TaskStatus = Field(
        description="in_progress (start), on_review (submit), done (accept), "
        "returned (for rework: say why in `comment`), cancelled"
    )
    comment: str = Field(default="", max_length=4000)


class CommentIn(In):
    body: str = Field(min_length=1, max_length=4000)


class TaskQuery(PageQuery, ExportQuery):
    shop: uuid.UUID | None = None
    status: TaskStatus | None = None
    open: bool | None = Field(default=None, description="true: neither done nor cancelled")
    assignee: uuid.UUID | None = None
    priority: TaskPriority | None = None
    mine: bool = Field(default=False, description="given to me, by name or through my role")
    overdue: bool = Field(default=False, description="open and past their due time")
    due_before: Instant | None = None
    template: uuid.UUID | None = None
    search: str | None = Field(default=None, max_length=200, description="part of the title")


class PhotoQuery(Query):
    thumbnail: bool = False


class TaskOut(BaseModel):
    id: uuid.UUID
    shop: uuid.UUID
    title: str
    description: str
    priority: TaskPriority
    status: TaskStatus
    assignee: uuid.UUID | None
    assignee_role: Role | None
    requires_photo: bool
    due_at: datetime | None
    overdue: bool
    template: uuid.UUID | None
    created_by: uuid.UUID | None = Field(description="null: made by a template's schedule")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    submitted_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls.model_validate(task_document(task))


class CommentOut(BaseModel):
    id: uuid.UUID
    author: uuid.UUID
    body: str
    status: TaskStatus | None = Field(description="set when the entry records a status change")
    created_at: datetime

    @classmethod
    def of(cls, comment: TaskComment) -> CommentOut:
        return cls(
            id=comment.id,
            author=comment.author_id,
            body=comment.body,
            status=comment.status,
            created_at=comment.created_at,
        )


class CommentList(BaseModel):
    results: list[CommentOut]


class PhotoOut(BaseModel):
    id: uuid.UUID
    task: uuid.UUID
    author: uuid.UUID
    content_type: str
    width: int
    height: int
    size: int
    created_at: datetime

    @classmethod
    def of(cls, photo: TaskPhoto) -> PhotoOut:
        return cls(
            id=photo.id,
            task=photo.task_id,
            author=photo.author_id,
            content_type=photo.content_type,
            width=photo.width,
            height=photo.height,
            size=photo.size,
            created_at=photo.created_at,
        )


class PhotoList(BaseModel):
    results: list[PhotoOut]


class TaskDetailOut(TaskOut):
    next_statuses: list[TaskStatus] = Field(description="where the task can go from here")
    comments: list[CommentOut] = Field(description="comments and status changes, oldest first")
    photos: list[PhotoOut]

    @classmethod
    def of_detail(cls, detail: TaskDetail) -> TaskDetailOut:
        return cls.model_validate(
            {
                **task_document(detail.task),
                "next_statuses": next_statuses(TaskStatus(detail.task.status)),
                "comments": [CommentOut.of(c) for c in detail.comments],
                "photos": [PhotoOut.of(p) for p in detail.photos],
            }
        )


# --- templates --------------------------------------------------------------------------


class TemplateIn(_Assigned):
    shop: uuid.UUID
    title: OneLine = Field(min_length=1, max_length=200)
    weekdays: list[int] = Field(min_length=1, max_length=7, description="0 (Monday) to 6 (Sunday)")
    at: time = Field(description="the shop's local time, HH:MM")
    priority: TaskPriority = TaskPriority.NORMAL
    description: str = Field(default="", max_length=4000)
    due_minutes: int | None = Field(
        default=None, ge=1, le=7 * 24 * 60, description="the task is due this long after"
    )
    requires_photo: bool = False
    is_active: bool = True


class TemplateQuery(PageQuery):
    shop: uuid.UUID | None = None


class TemplateOut(BaseModel):
    id: uuid.UUID
    shop: uuid.UUID
    title: str
    description: str
    priority: TaskPriority
    assignee: uuid.UUID | None
    assignee_role: Role | None
    requires_photo: bool
    weekdays: list[int]
    at: str
    due_minutes: int | None
    is_active: bool
    last_fired_for: datetime | None
    created_by: uuid.UUID
    created_at: datetime

    @classmethod
    def of(cls, template: TaskTemplate) -> TemplateOut:
        return cls(
            id=template.id,
            shop=template.shop_id,
            title=template.title,
            description=template.description,
            priority=TaskPriority(template.priority),
            assignee=template.assignee_id,
            assignee_role=template.assignee_role,
            requires_photo=template.requires_photo,
            weekdays=list(template.weekdays),
            at=template.at,
            due_minutes=template.due_minutes,
            is_active=template.is_active,
            last_fired_for=template.last_fired_for,
            created_by=template.created_by,
            created_at=template.created_at,
        )
