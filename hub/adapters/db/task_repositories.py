"""Queries on the staff task tables (tenant tables: the connection sees one tenant only)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hub.adapters.db.repositories import PageRequest, _like, _page
from hub.adapters.db.task_tables import Task, TaskComment, TaskPhoto, TaskTemplate


@dataclass(frozen=True)
class TaskScope:
    """Which tasks a user sees: every task of their shops when they manage tasks
    (`shops` None: every shop), else their own, their role's in their shops and those
    they created."""

    user_id: uuid.UUID
    role: str
    shops: frozenset[uuid.UUID] | None
    manages: bool


@dataclass(frozen=True)
class TaskQuery:
    shop: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    assignee: uuid.UUID | None = None
    priority: str | None = None
    mine: bool = False  # given to me, by name or through my role
    open_only: bool = False
    overdue_at: datetime | None = None  # overdue as of this instant
    due_before: datetime | None = None
    search: str | None = None
    template: uuid.UUID | None = None


def _in_shops(shops: Iterable[uuid.UUID] | None) -> ColumnElement[bool]:
    return true() if shops is None else Task.shop_id.in_(list(shops))


def _for_role(scope: TaskScope) -> ColumnElement[bool]:
    return and_(
        Task.assignee_id.is_(None),
        Task.assignee_role == scope.role,
        _in_shops(scope.shops),
    )


class Tasks:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, task: Task) -> None:
        self._session.add(task)

    async def get(self, task_id: uuid.UUID, *, for_update: bool = False) -> Task | None:
        query = select(Task).where(Task.id == task_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    def _visible(self, query: Select[tuple[Task]], scope: TaskScope) -> Select[tuple[Task]]:
        if scope.manages:
            return query.where(_in_shops(scope.shops))
        return query.where(
            or_(
                Task.assignee_id == scope.user_id,
                Task.created_by == scope.user_id,
                _for_role(scope),
            )
        )

    async def find(
        self, scope: TaskScope, filters: TaskQuery, page: PageRequest
    ) -> tuple[list[Task], int]:
        query = self._visible(select(Task), scope)
        if filters.shop is not None:
            query = query.where(Task.shop_id == filters.shop)
        if filters.statuses:
            query = query.where(Task.status.in_(filters.statuses))
        if filters.assignee is not None:
            query = query.where(Task.assignee_id == filters.assignee)
        if filters.priority is not None:
            query = query.where(Task.priority == filters.priority)
        if filters.mine:
            query = query.where(or_(Task.assignee_id == scope.user_id, _for_role(scope)))
        if filters.open_only or filters.overdue_at is not None:
            query = query.where(Task.finished_at.is_(None))
        if filters.overdue_at is not None:
            query = query.where(Task.due_at < filters.overdue_at)
        if filters.due_before is not None:
            query = query.where(Task.due_at < filters.due_before)
        if filters.template is not None:
            query = query.where(Task.template_id == filters.template)
        if filters.search:
            query = query.where(
                func.lower(Task.title).like(_like(filters.search.casefold()), escape="\\")
            )
        # Most pressing first: open before finished, then priority, then the nearest due.
        ordered = query.order_by(
            Task.finished_at.is_not(None),
            Task.priority_rank,
            Task.due_at.is_(None),
            Task.due_at,
            Task.created_at,
            Task.id,
        )
        return await _page(self._session, ordered, page)

    # --- comments and photos ----------------------------------------------------------

    def add_comment(self, comment: TaskComment) -> None:
        self._session.add(comment)

    async def comments_of(self, task_id: uuid.UUID) -> list[TaskComment]:
        query = (
            select(TaskComment)
            .where(TaskComment.task_id == task_id)
            .order_by(TaskComment.created_at, TaskComment.id)
        )
        return list(await self._session.scalars(query))

    def add_photo(self, photo: TaskPhoto) -> None:
        self._session.add(photo)

    async def photos_of(self, task_id: uuid.UUID) -> list[TaskPhoto]:
        query = (
            select(TaskPhoto)
            .where(TaskPhoto.task_id == task_id)
            .order_by(TaskPhoto.created_at, TaskPhoto.id)
        )
        return list(await self._session.scalars(query))

    async def photo(self, task_id: uuid.UUID, photo_id: uuid.UUID) -> TaskPhoto | None:
        return await self._session.scalar(
            select(TaskPhoto).where(TaskPhoto.id == photo_id, TaskPhoto.task_id == task_id)
        )

    async def photo_count(self, task_id: uuid.UUID) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(TaskPhoto).where(TaskPhoto.task_id == task_id)
        )
        return int(count or 0)

    async def delete_photo(self, photo: TaskPhoto) -> None:
        await self._session.delete(photo)


class TaskTemplates:
    def __init__(self, session: AsyncSession, *, skip_locked: bool) -> None:
        self._session = session
        self._skip_locked = skip_locked

    def add(self, template: TaskTemplate) -> None:
        self._session.add(template)

    async def get(self, template_id: uuid.UUID, *, for_update: bool = False) -> TaskTemplate | None:
        query = select(TaskTemplate).where(TaskTemplate.id == template_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self._session.scalar(query)

    async def find(
        self, shops: frozenset[uuid.UUID] | None, page: PageRequest, *, shop: uuid.UUID | None
    ) -> tuple[list[TaskTemplate], int]:
        query = select(TaskTemplate)
        if shops is not None:
            query = query.where(TaskTemplate.shop_id.in_(list(shops)))
        if shop is not None:
            query = query.where(TaskTemplate.shop_id == shop)
        return await _page(
            self._session, query.order_by(TaskTemplate.created_at, TaskTemplate.id), page
        )

    async def active_locked(self, after: uuid.UUID | None, limit: int) -> list[TaskTemplate]:
        """Active templates by id after `after`, locked until the transaction ends; on
        PostgreSQL those another process is firing right now are skipped, not waited for."""
        query = (
            select(TaskTemplate)
            .where(TaskTemplate.is_active.is_(True))
            .where(true() if after is None else TaskTemplate.id > after)
            .order_by(TaskTemplate.id)
            .limit(limit)
            .with_for_update(skip_locked=self._skip_locked)
            .execution_options(populate_existing=True)
        )
        return list(await self._session.scalars(query))

    async def delete(self, template: TaskTemplate) -> None:
        await self._session.delete(template)
