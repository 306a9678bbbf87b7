"""Staff task tables: tasks, their comments (a status change with its reason is a
comment too, so a task's page reads as one timeline), photo reports and the templates
that make tasks on a schedule.

Users live in the shared schema, so assignees, authors and creators are plain ids here
(a foreign key cannot cross into another schema or, on SQLite, another file)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import JsonDocument, utcnow
from hub.domain.ids import new_id


class TaskTemplate(TenantBase):
    """What a recurring task looks like and when it is made (the shop's local time)."""

    __tablename__ = "task_templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(4000), default="")
    priority: Mapped[str] = mapped_column(String(10))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    assignee_role: Mapped[str | None] = mapped_column(String(20), default=None)
    requires_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    weekdays: Mapped[list[int]] = mapped_column(JsonDocument)
    at: Mapped[str] = mapped_column(String(5))  # HH:MM
    due_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The schedule's instant the last task was made for: each instant makes one task.
    last_fired_for: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Task(TenantBase):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_shop_status", "shop_id", "status"),
        Index("ix_tasks_assignee_status", "assignee_id", "status"),
        # A template's instant makes one task, whichever process fires it.
        UniqueConstraint("template_id", "scheduled_for"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(4000), default="")
    priority: Mapped[str] = mapped_column(String(10))
    priority_rank: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    # A person, or (assignee unset) everyone of a role in the shop until one starts it.
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    assignee_role: Mapped[str | None] = mapped_column(String(20), default=None)
    requires_photo: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(TaskTemplate.id, ondelete="SET NULL"), default=None
    )
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)  # None: a template
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)  # done or cancelled


class TaskComment(TenantBase):
    __tablename__ = "task_comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Task.id), index=True)
    author_id: Mapped[uuid.UUID]
    body: Mapped[str] = mapped_column(String(4000), default="")
    # Set when the comment records a status change: the status the task went to.
    status: Mapped[str | None] = mapped_column(String(20), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskPhoto(TenantBase):
    __tablename__ = "task_photos"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    task_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Task.id), index=True)
    author_id: Mapped[uuid.UUID]
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(300))
    thumb_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
