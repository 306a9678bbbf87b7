"""Staff tasks: create and assign (to a person or to a role in a shop), work them through
the six statuses, comment, attach photo reports; every change is pushed at once to the
people it concerns on their `tasks` channel.

Templates make tasks on a schedule: see `fire_due_templates` (run by `TaskScheduler` in
every hub process; a template's row lock and its `last_fired_for` make each scheduled
instant one task, however many processes look at once)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.task_repositories import TaskQuery, TaskScope
from hub.adapters.db.task_tables import Task, TaskComment, TaskPhoto, TaskTemplate
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.adapters.storage import Storage
from hub.domain.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.domain.ids import new_id
from hub.domain.permissions import Permission, Role
from hub.domain.tasks import (
    FINAL_STATUSES,
    PRIORITY_RANK,
    Actor,
    Move,
    Schedule,
    TaskPriority,
    TaskStatus,
    check_move,
    is_overdue,
)
from hub.services import mail, pictures
from hub.services.pictures import ImageLimits
from hub.services.principal import Principal
from hub.services.shops import check_shop_filter, get_shop
from protocol import channels

MAX_PHOTOS_PER_TASK = 10
FIRE_BATCH = 100
_ROLE_RECIPIENTS_LIMIT = 500


@dataclass(frozen=True)
class Assignment:
    """A person, or a role in the task's shop: exactly one of the two."""

    user: uuid.UUID | None = None
    role: Role | None = None


@dataclass(frozen=True)
class TaskFields:
    shop: uuid.UUID
    title: str
    assignment: Assignment
    priority: TaskPriority = TaskPriority.NORMAL
    description: str = ""
    due_at: datetime | None = None
    requires_photo: bool = False


@dataclass(frozen=True)
class TaskChanges:
    """A PATCH: None leaves a field as it is (`clear_due` removes the due date)."""

    title: str | None = None
    description: str | None = None
    priority: TaskPriority | None = None
    due_at: datetime | None = None
    clear_due: bool = False
    requires_photo: bool | None = None
    assignment: Assignment | None = None


@dataclass(frozen=True)
class TemplateFields:
    shop: uuid.UUID
    title: str
    assignment: Assignment
    weekdays: tuple[int, ...]
    at: time
    priority: TaskPriority = TaskPriority.NORMAL
    description: str = ""
    due_minutes: int | None = None
    requires_photo: bool = False
    is_active: bool = True


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    comments: list[TaskComment]
    photos: list[TaskPhoto]


# --- who sees and does what ----------------------------------------------------------------


def scope_of(principal: Principal) -> TaskScope:
    if principal.user_id is None or principal.role is None:
        raise PermissionDenied("tasks are for staff")
    return TaskScope(
        user_id=principal.user_id,
        role=principal.role.value,
        shops=principal.visible_shops(),
        manages=principal.has(Permission.TASKS_MANAGE),
    )


def _reviews(principal: Principal, task: Task) -> bool:
    return principal.has(Permission.TASKS_MANAGE) and principal.sees_shop(task.shop_id)


def _works_on(principal: Principal, task: Task) -> bool:
    if task.assignee_id is not None:
        return task.assignee_id == principal.user_id
    return (
        principal.role is not None
        and task.assignee_role == principal.role.value
        and principal.sees_shop(task.shop_id)
    )


def _sees(principal: Principal, task: Task) -> bool:
    return (
        _reviews(principal, task)
        or _works_on(principal, task)
        or (task.created_by is not None and task.created_by == principal.user_id)
    )


def _capacities(principal: Principal, task: Task) -> frozenset[Actor]:
    found = set()
    if _works_on(principal, task) or _reviews(principal, task):
        found.add(Actor.WORKER)  # a manager may do a task's work themselves
    if _reviews(principal, task):
        found.add(Actor.REVIEWER)
    return frozenset(found)


async def _task(
    uow: UnitOfWork, principal: Principal, task_id: uuid.UUID, *, for_update: bool = False
) -> Task:
    principal.require(Permission.TASKS_VIEW)
    task = await uow.tasks.get(task_id, for_update=for_update)
    if task is None or not _sees(principal, task):
        raise NotFound("no such task")
    return task


async def _check_assignment(uow: UnitOfWork, shop_id: uuid.UUID, assignment: Assignment) -> None:
    if (assignment.user is None) == (assignment.role is None):
        raise ValidationFailed(
            "give the task to a person or to a role, one of the two",
            fields={"assignee": "a user id, or set assignee_role instead"},
        )
    if assignment.user is None:
        return
    user = await uow.users.get(assignment.user)
    if user is None or not user.is_active:
        raise NotFound("no such user", fields={"assignee": "no active user with this id"})
    if user.role != Role.OWNER.value:
        shops = (await uow.users.shops_of([user.id]))[user.id]
        if shop_id not in shops:
            raise ValidationFailed(
                "the assignee does not work in this shop",
                fields={"assignee": "not bound to the task's shop"},
            )


def _check_text(title: str | None, description: str | None) -> None:
    if title is not None and not title.strip():
        raise ValidationFailed("a task needs a title", fields={"title": "must not be blank"})
    if description is not None and len(description) > 4000:
        raise ValidationFailed("description too long", fields={"description": "4000 at most"})


# --- notifications ---------------------------------------------------------------------


def task_document(task: Task, now: datetime | None = None) -> dict[str, Any]:
    """A task as events and the API show it (ids and times as strings)."""
    status = TaskStatus(task.status)

    def iso(value: datetime | None) -> str | None:
        # In UTC, as every time the API shows: a task not yet reloaded from the store
        # may hold the offset it was made with (a shop's zone, a client's offset).
        return value.astimezone(UTC).isoformat() if value is not None else None

    return {
        "id": str(task.id),
        "shop": str(task.shop_id),
        "title": task.title,
        "description": task.description,
        "priority": task.priority,
        "status": task.status,
        "assignee": str(task.assignee_id) if task.assignee_id else None,
        "assignee_role": task.assignee_role,
        "requires_photo": task.requires_photo,
        "due_at": iso(task.due_at),
        "overdue": is_overdue(status, task.due_at, now or utcnow()),
        "template": str(task.template_id) if task.template_id else None,
        "created_by": str(task.created_by) if task.created_by else None,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "started_at": iso(task.started_at),
        "submitted_at": iso(task.submitted_at),
        "finished_at": iso(task.finished_at),
    }


async def _recipients(uow: UnitOfWork, task: Task, also: set[uuid.UUID]) -> set[uuid.UUID]:
    people = set(also)
    if task.created_by is not None:
        people.add(task.created_by)
    if task.assignee_id is not None:
        people.add(task.assignee_id)
    elif task.assignee_role is not None:
        in_shops = None if task.assignee_role == Role.OWNER.value else [task.shop_id]
        holders, _ = await uow.users.find(
            PageRequest(0, _ROLE_RECIPIENTS_LIMIT),
            role=task.assignee_role,
            is_active=True,
            in_shops=in_shops,
        )
        people.update(u.id for u in holders)
    return people


async def _notify(
    uow: UnitOfWork,
    task: Task,
    type_: str,
    actor: uuid.UUID | None,
    *,
    also: set[uuid.UUID] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Tell everyone the task concerns (its assignee or role, its creator, `also`) on
    their tasks channel; and by e-mail (when configured) whoever must act now: see
    `_mailed_to`."""
    await uow.session.flush()  # timestamps and defaults of the row as stored
    payload = {"task": task_document(task), "by": str(actor) if actor else None, **(extra or {})}
    recipients = await _recipients(uow, task, also or set())
    for user_id in sorted(recipients):
        uow.emit(channels.tasks(uow.tenant_id, user_id), type_, payload)
    people = _mailed_to(task, type_, recipients) - {actor} if uow.mail_enabled else set()
    if people:
        subject, body = task_mail(task, type_)
        for user in await uow.users.many(people):
            if user.email and user.is_active:
                mail.queue(uow, user.email, subject, body, to_user=user.id, ref=task.id)


def _mailed_to(task: Task, type_: str, recipients: set[uuid.UUID]) -> set[uuid.UUID]:
    """E-mail goes to who must act: a new task's assignee (or its role's holders); the
    creator when it waits for review; the assignee when it comes back, is accepted or
    is cancelled. Starting work and comments are not mailed."""
    status = TaskStatus(task.status)
    creator = {task.created_by} if task.created_by else set()
    doers = {task.assignee_id} if task.assignee_id else recipients - creator
    if type_ == "task.assigned":
        return doers - creator
    if type_ == "task.status_changed" and status is TaskStatus.ON_REVIEW:
        return creator
    if type_ == "task.status_changed" and status in FINAL_STATUSES | {TaskStatus.RETURNED}:
        return doers
    return set()


_STATUS_RU = {
    TaskStatus.NEW: "новая",
    TaskStatus.IN_PROGRESS: "в работе",
    TaskStatus.ON_REVIEW: "на проверке",
    TaskStatus.DONE: "выполнена",
    TaskStatus.RETURNED: "на доработке",
    TaskStatus.CANCELLED: "отменена",
}


def task_mail(task: Task, type_: str) -> tuple[str, str]:
    """Subject and text of a task's e-mail, in Russian and English."""
    status = TaskStatus(task.status)
    if type_ == "task.assigned":
        subject = f"Новая задача: {task.title} / New task: {task.title}"
    else:
        subject = (
            f"Задача «{task.title}»: {_STATUS_RU[status]} / "
            f'Task "{task.title}": {status.value.replace("_", " ")}'
        )
    due = task.due_at.strftime("%Y-%m-%d %H:%M UTC") if task.due_at else "—"
    lines = [
        task.title,
        "",
        task.description,
        "",
        f"Статус / status: {_STATUS_RU[status]} / {status.value}",
        f"Приоритет / priority: {task.priority}",
        f"Срок / due: {due}",
    ]
    if task.requires_photo:
        lines.append("Нужен фотоотчёт / a photo report is needed")
    return subject, "\n".join(lines) + "\n"


# --- tasks ----------------------------------------------------------------------------------


async def create_task(uow: UnitOfWork, principal: Principal, fields: TaskFields) -> Task:
    principal.require(Permission.TASKS_MANAGE)
    _check_text(fields.title, fields.description)
    await get_shop(uow, principal, fields.shop)
    await _check_assignment(uow, fields.shop, fields.assignment)
    task = _new_task(fields, created_by=principal.user_id)
    uow.tasks.add(task)
    await _notify(uow, task, "task.assigned", principal.user_id)
    await uow.commit()
    return task


def _new_task(
    fields: TaskFields,
    *,
    created_by: uuid.UUID | None,
    template: TaskTemplate | None = None,
    scheduled_for: datetime | None = None,
) -> Task:
    now = utcnow()
    return Task(
        id=new_id(),
        shop_id=fields.shop,
        title=fields.title.strip(),
        description=fields.description,
        priority=fields.priority.value,
        priority_rank=PRIORITY_RANK[fields.priority],
        status=TaskStatus.NEW.value,
        assignee_id=fields.assignment.user,
        assignee_role=fields.assignment.role.value if fields.assignment.role else None,
        requires_photo=fields.requires_photo,
        due_at=fields.due_at,
        template_id=template.id if template else None,
        scheduled_for=scheduled_for,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )


async def list_tasks(
    uow: UnitOfWork, principal: Principal, filters: TaskQuery, page: PageRequest
) -> tuple[list[Task], int]:
    principal.require(Permission.TASKS_VIEW)
    await check_shop_filter(uow, principal, filters.shop)
    return await uow.tasks.find(scope_of(principal), filters, page)


async def get_task(uow: UnitOfWork, principal: Principal, task_id: uuid.UUID) -> TaskDetail:
    task = await _task(uow, principal, task_id)
    return TaskDetail(
        task, await uow.tasks.comments_of(task.id), await uow.tasks.photos_of(task.id)
    )


async def update_task(
    uow: UnitOfWork, principal: Principal, task_id: uuid.UUID, changes: TaskChanges
) -> Task:
    principal.require(Permission.TASKS_MANAGE)
    task = await _task(uow, principal, task_id, for_update=True)
    if not _reviews(principal, task):
        raise PermissionDenied("only a manager of the task's shop may edit it")
    if TaskStatus(task.status) in FINAL_STATUSES:
        raise Conflict(f"the task is {task.status}: it can no longer be edited")
    _check_text(changes.title, changes.description)
    # Whoever had it (a person, or everyone of its role) hears of it too: it left their list.
    before = await _recipients(uow, task, set())
    if changes.title is not None:
        task.title = changes.title.strip()
    if changes.description is not None:
        task.description = changes.description
    if changes.priority is not None:
        task.priority = changes.priority.value
        task.priority_rank = PRIORITY_RANK[changes.priority]
    if changes.clear_due:
        task.due_at = None
    elif changes.due_at is not None:
        task.due_at = changes.due_at
    if changes.requires_photo is not None:
        task.requires_photo = changes.requires_photo
    reassigned = changes.assignment is not None and (
        changes.assignment.user != task.assignee_id
        or (changes.assignment.role.value if changes.assignment.role else None)
        != task.assignee_role
    )
    if changes.assignment is not None and reassigned:
        await _check_assignment(uow, task.shop_id, changes.assignment)
        task.assignee_id = changes.assignment.user
        task.assignee_role = changes.assignment.role.value if changes.assignment.role else None
    task.updated_at = utcnow()
    await _notify(
        uow, task, "task.assigned" if reassigned else "task.updated", principal.user_id, also=before
    )
    await uow.commit()
    return task


async def move_task(
    uow: UnitOfWork,
    principal: Principal,
    task_id: uuid.UUID,
    target: TaskStatus,
    comment: str = "",
) -> Task:
    """Start, submit for review, accept, return for rework or cancel a task."""
    task = await _task(uow, principal, task_id, for_update=True)
    current = TaskStatus(task.status)
    has_photo = target is TaskStatus.ON_REVIEW and await uow.tasks.photo_count(task.id) > 0
    check_move(
        Move(
            current=current,
            target=target,
            capacities=_capacities(principal, task),
            has_photo=has_photo,
            requires_photo=task.requires_photo,
            comment=comment,
        )
    )
    now = utcnow()
    taken_from: set[uuid.UUID] = set()
    if target is TaskStatus.IN_PROGRESS:
        if task.assignee_id is None:  # a role's task: whoever starts it takes it
            taken_from = await _recipients(uow, task, set())  # the others see it go
            task.assignee_id = principal.user_id
        task.started_at = task.started_at or now
    elif target is TaskStatus.ON_REVIEW:
        task.submitted_at = now
    elif target in FINAL_STATUSES:
        task.finished_at = now
    task.status = target.value
    task.updated_at = now
    if principal.user_id is not None:
        uow.tasks.add_comment(
            TaskComment(
                id=new_id(),
                task_id=task.id,
                author_id=principal.user_id,
                body=comment.strip(),
                status=target.value,
                created_at=now,
            )
        )
    await _notify(
        uow,
        task,
        "task.status_changed",
        principal.user_id,
        also=taken_from,
        extra={"from": current.value},
    )
    await uow.commit()
    return task


async def add_comment(
    uow: UnitOfWork, principal: Principal, task_id: uuid.UUID, body: str
) -> TaskComment:
    task = await _task(uow, principal, task_id)
    if not body.strip():
        raise ValidationFailed("a comment needs text", fields={"body": "must not be blank"})
    if principal.user_id is None:
        raise PermissionDenied("tasks are for staff")
    comment = TaskComment(
        id=new_id(), task_id=task.id, author_id=principal.user_id, body=body.strip()
    )
    uow.tasks.add_comment(comment)
    await uow.session.flush()
    await _notify(
        uow,
        task,
        "task.commented",
        principal.user_id,
        extra={"comment": {"id": str(comment.id), "body": comment.body}},
    )
    await uow.commit()
    return comment


# --- photo reports ----------------------------------------------------------------------


async def upload_photo(
    uow: UnitOfWork,
    principal: Principal,
    storage: Storage,
    task_id: uuid.UUID,
    data: bytes,
    limits: ImageLimits,
) -> TaskPhoto:
    task = await _task(uow, principal, task_id, for_update=True)
    if Actor.WORKER not in _capacities(principal, task) or principal.user_id is None:
        raise PermissionDenied("only the task's assignee or a manager adds photo reports")
    if TaskStatus(task.status) in FINAL_STATUSES:
        raise Conflict(f"the task is {task.status}: no more photos")
    if await uow.tasks.photo_count(task.id) >= MAX_PHOTOS_PER_TASK:
        raise Conflict(f"at most {MAX_PHOTOS_PER_TASK} photos per task")
    photo_id = new_id()
    base = f"{uow.tenant_id.hex}/tasks/{task.id.hex}/{photo_id.hex}"
    picture = await pictures.store(storage, data, limits, base)
    photo = TaskPhoto(
        id=photo_id,
        task_id=task.id,
        author_id=principal.user_id,
        created_at=utcnow(),
        **picture.columns(),
    )
    uow.tasks.add_photo(photo)
    await _notify(uow, task, "task.photo_added", principal.user_id, extra={"photo": str(photo.id)})
    await pictures.commit(uow, storage, picture)
    return photo


async def _photo(
    uow: UnitOfWork,
    principal: Principal,
    task_id: uuid.UUID,
    photo_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Task, TaskPhoto]:
    task = await _task(uow, principal, task_id, for_update=for_update)
    photo = await uow.tasks.photo(task.id, photo_id)
    if photo is None:
        raise NotFound("no such photo")
    return task, photo


async def read_photo(
    uow: UnitOfWork,
    principal: Principal,
    storage: Storage,
    task_id: uuid.UUID,
    photo_id: uuid.UUID,
    *,
    thumbnail: bool,
) -> tuple[str, bytes]:
    _, photo = await _photo(uow, principal, task_id, photo_id)
    return await pictures.read(storage, photo, thumbnail=thumbnail)


async def delete_photo(
    uow: UnitOfWork,
    principal: Principal,
    storage: Storage,
    task_id: uuid.UUID,
    photo_id: uuid.UUID,
) -> None:
    """Its author or a manager, while the task is not yet on review or finished. The task
    is locked: a submit at the same moment sees the photo or its absence, not both."""
    task, photo = await _photo(uow, principal, task_id, photo_id, for_update=True)
    if photo.author_id != principal.user_id and not _reviews(principal, task):
        raise PermissionDenied("only the photo's author or a manager may remove it")
    if task.status not in (TaskStatus.NEW, TaskStatus.IN_PROGRESS, TaskStatus.RETURNED):
        raise Conflict(f"the task is {task.status}: its photo report is kept")
    await uow.tasks.delete_photo(photo)
    await uow.commit()
    await pictures.remove(storage, photo.storage_key, photo.thumb_key)


# --- templates --------------------------------------------------------------------------


def _schedule(template: TaskTemplate) -> Schedule:
    hours, minutes = (int(part) for part in template.at.split(":"))
    return Schedule.of(template.weekdays, time(hours, minutes))


async def _check_template(uow: UnitOfWork, principal: Principal, fields: TemplateFields) -> None:
    principal.require(Permission.TASKS_MANAGE)
    _check_text(fields.title, fields.description)
    Schedule.of(fields.weekdays, fields.at)
    await get_shop(uow, principal, fields.shop)
    await _check_assignment(uow, fields.shop, fields.assignment)


def _fill_template(template: TaskTemplate, fields: TemplateFields) -> None:
    template.shop_id = fields.shop
    template.title = fields.title.strip()
    template.description = fields.description
    template.priority = fields.priority.value
    template.assignee_id = fields.assignment.user
    template.assignee_role = fields.assignment.role.value if fields.assignment.role else None
    template.requires_photo = fields.requires_photo
    template.weekdays = sorted(set(fields.weekdays))
    template.at = fields.at.strftime("%H:%M")
    template.due_minutes = fields.due_minutes
    template.is_active = fields.is_active


async def create_template(
    uow: UnitOfWork, principal: Principal, fields: TemplateFields
) -> TaskTemplate:
    await _check_template(uow, principal, fields)
    if principal.user_id is None:
        raise PermissionDenied("templates are for staff")
    template = TaskTemplate(id=new_id(), created_by=principal.user_id)
    _fill_template(template, fields)
    # A template fires from its next scheduled instant on, not for the one just gone.
    template.last_fired_for = await _latest_instant(uow, template, utcnow())
    uow.task_templates.add(template)
    await uow.commit()
    return template


async def _template(
    uow: UnitOfWork, principal: Principal, template_id: uuid.UUID, *, for_update: bool = False
) -> TaskTemplate:
    principal.require(Permission.TASKS_MANAGE)
    template = await uow.task_templates.get(template_id, for_update=for_update)
    if template is None or not principal.sees_shop(template.shop_id):
        raise NotFound("no such template")
    return template


async def get_template(
    uow: UnitOfWork, principal: Principal, template_id: uuid.UUID
) -> TaskTemplate:
    return await _template(uow, principal, template_id)


async def list_templates(
    uow: UnitOfWork, principal: Principal, page: PageRequest, *, shop: uuid.UUID | None
) -> tuple[list[TaskTemplate], int]:
    principal.require(Permission.TASKS_MANAGE)
    await check_shop_filter(uow, principal, shop)
    return await uow.task_templates.find(principal.visible_shops(), page, shop=shop)


async def update_template(
    uow: UnitOfWork, principal: Principal, template_id: uuid.UUID, fields: TemplateFields
) -> TaskTemplate:
    template = await _template(uow, principal, template_id, for_update=True)
    await _check_template(uow, principal, fields)
    schedule_changed = (
        sorted(set(fields.weekdays)) != template.weekdays
        or fields.at.strftime("%H:%M") != template.at
        or fields.shop != template.shop_id
        or (fields.is_active and not template.is_active)  # resumed: no instant from the pause
    )
    _fill_template(template, fields)
    if schedule_changed:  # as for a new template: from the next instant on
        template.last_fired_for = await _latest_instant(uow, template, utcnow())
    await uow.commit()
    return template


async def delete_template(uow: UnitOfWork, principal: Principal, template_id: uuid.UUID) -> None:
    """Tasks it made stay (their `template` becomes null)."""
    template = await _template(uow, principal, template_id, for_update=True)
    await uow.task_templates.delete(template)
    await uow.commit()


async def _latest_instant(uow: UnitOfWork, template: TaskTemplate, now: datetime) -> datetime:
    shop = await uow.shops.get(template.shop_id)
    zone = ZoneInfo(shop.timezone if shop is not None else "UTC")
    return _schedule(template).latest(now, zone)


def _assignment_of(template: TaskTemplate) -> Assignment:
    role = Role(template.assignee_role) if template.assignee_role else None
    return Assignment(user=template.assignee_id, role=role)


async def _fire(
    uow: UnitOfWork, template: TaskTemplate, instant: datetime, *, by: uuid.UUID | None
) -> Task:
    due = instant + timedelta(minutes=template.due_minutes) if template.due_minutes else None
    fields = TaskFields(
        shop=template.shop_id,
        title=template.title,
        assignment=_assignment_of(template),
        priority=TaskPriority(template.priority),
        description=template.description,
        due_at=due,
        requires_photo=template.requires_photo,
    )
    task = _new_task(fields, created_by=by, template=template, scheduled_for=instant)
    uow.tasks.add(task)
    await _notify(uow, task, "task.assigned", by)
    return task


async def run_template_now(uow: UnitOfWork, principal: Principal, template_id: uuid.UUID) -> Task:
    """Make the template's task now, outside its schedule (e.g. a checklist that is
    needed today again)."""
    template = await _template(uow, principal, template_id, for_update=True)
    await _check_assignment(uow, template.shop_id, _assignment_of(template))
    task = await _fire(uow, template, utcnow(), by=principal.user_id)
    await uow.commit()
    return task


async def fire_due_templates(
    uow: UnitOfWork, now: datetime, after: uuid.UUID | None = None
) -> tuple[int, uuid.UUID | None]:
    """Make the task of each active template (a batch, by id after `after`) whose latest
    scheduled instant has not had one, and commit. Returns how many were made and where
    the next batch starts (None: that was the last). After an outage only the latest
    instant fires, so a hub that was down for a week does not bury the staff under old
    checklists."""
    made = 0
    templates = await uow.task_templates.active_locked(after, FIRE_BATCH)
    for template in templates:
        instant = await _latest_instant(uow, template, now)
        if template.last_fired_for is not None and instant <= template.last_fired_for:
            continue
        template.last_fired_for = instant
        try:
            await _check_assignment(uow, template.shop_id, _assignment_of(template))
        except (ValidationFailed, NotFound) as exc:
            # Its person left or moved shop: the template waits for a manager to fix it.
            template.is_active = False
            uow.emit(
                channels.tasks(uow.tenant_id, template.created_by),
                "task_template.paused",
                {"template": str(template.id), "title": template.title, "reason": exc.message},
            )
            continue
        await _fire(uow, template, instant, by=None)
        made += 1
    await uow.commit()
    return made, (templates[-1].id if len(templates) == FIRE_BATCH else None)
