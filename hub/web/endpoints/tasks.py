from __future__ import annotations

import uuid

from starlette.responses import Response

from hub.adapters.db.task_repositories import TaskQuery as TaskFilters
from hub.adapters.db.types import utcnow
from hub.domain.permissions import Permission
from hub.domain.tasks import TaskStatus
from hub.services import tasks
from hub.services.tasks import TaskChanges, TaskFields, TemplateFields
from hub.web.api import Api, Ctx
from hub.web.endpoints.catalogue import IMAGE_TYPES, picture_response, uploaded_picture
from hub.web.export import table_response
from hub.web.schemas.common import Page
from hub.web.schemas.tasks import (
    CommentIn,
    CommentList,
    CommentOut,
    PhotoList,
    PhotoOut,
    PhotoQuery,
    TaskCreateIn,
    TaskDetailOut,
    TaskMoveIn,
    TaskOut,
    TaskQuery,
    TaskUpdateIn,
    TemplateIn,
    TemplateOut,
    TemplateQuery,
)

api = Api()
TAG = "tasks"
TASKS = "/api/tasks/tasks/"
ONE = TASKS + "{task_id}/"
PHOTO = ONE + "photos/{photo_id}/"
TEMPLATES = "/api/tasks/templates/"
TEMPLATE = TEMPLATES + "{template_id}/"

EXPORT_HEADERS = (
    "id",
    "shop",
    "title",
    "priority",
    "status",
    "assignee",
    "assignee_role",
    "due_at",
    "overdue",
    "created_at",
    "finished_at",
)


# --- tasks ----------------------------------------------------------------------------------


@api.get(TASKS, tag=TAG, permission=Permission.TASKS_VIEW)
async def list_tasks(ctx: Ctx, query: TaskQuery) -> Page[TaskOut] | Response:
    """Tasks: a manager sees every task of their shops; others see those given to them
    (by name or through their role) and those they created. Open ones first, then by
    priority and due time. `?format=csv|xlsx` downloads the rows."""
    filters = TaskFilters(
        shop=query.shop,
        statuses=(query.status.value,) if query.status else (),
        assignee=query.assignee,
        priority=query.priority.value if query.priority else None,
        mine=query.mine,
        open_only=bool(query.open),
        overdue_at=utcnow() if query.overdue else None,
        due_before=query.due_before,
        template=query.template,
        search=query.search,
    )
    found, count = await tasks.list_tasks(ctx.uow, ctx.principal, filters, query.page_request())
    rows = [TaskOut.of(t) for t in found]
    fmt = query.table_format
    if fmt is not None:
        return table_response(
            fmt,
            "tasks",
            EXPORT_HEADERS,
            (
                [
                    str(t.id),
                    str(t.shop),
                    t.title,
                    t.priority.value,
                    t.status.value,
                    str(t.assignee) if t.assignee else "",
                    t.assignee_role.value if t.assignee_role else "",
                    t.due_at,
                    t.overdue,
                    t.created_at,
                    t.finished_at,
                ]
                for t in rows
            ),
        )
    return Page[TaskOut].build(ctx.request, query, rows, count)


@api.post(TASKS, tag=TAG, permission=Permission.TASKS_MANAGE, status=201)
async def create_task(ctx: Ctx, body: TaskCreateIn) -> TaskOut:
    """Give a task to a person (`assignee`) or to a role in the shop (`assignee_role`);
    they are notified at once on their `tasks` channel."""
    task = await tasks.create_task(
        ctx.uow,
        ctx.principal,
        TaskFields(
            shop=body.shop,
            title=body.title,
            assignment=body.assignment(),
            priority=body.priority,
            description=body.description,
            due_at=body.due_at,
            requires_photo=body.requires_photo,
        ),
    )
    return TaskOut.of(task)


@api.get(ONE, tag=TAG, permission=Permission.TASKS_VIEW)
async def get_task(ctx: Ctx, task_id: uuid.UUID) -> TaskDetailOut:
    """One task with its timeline (comments and status changes) and photo reports."""
    return TaskDetailOut.of_detail(await tasks.get_task(ctx.uow, ctx.principal, task_id))


@api.patch(ONE, tag=TAG, permission=Permission.TASKS_MANAGE)
async def update_task(ctx: Ctx, task_id: uuid.UUID, body: TaskUpdateIn) -> TaskOut:
    """Edit or reassign an open task."""
    sent = body.model_fields_set
    reassign = "assignee" in sent or "assignee_role" in sent
    changes = TaskChanges(
        title=body.title,
        description=body.description,
        priority=body.priority,
        due_at=body.due_at,
        clear_due="due_at" in sent and body.due_at is None,
        requires_photo=body.requires_photo,
        assignment=(
            tasks.Assignment(user=body.assignee, role=body.assignee_role) if reassign else None
        ),
    )
    return TaskOut.of(await tasks.update_task(ctx.uow, ctx.principal, task_id, changes))


@api.post(ONE + "status/", tag=TAG, permission=Permission.TASKS_VIEW)
async def move_task(ctx: Ctx, task_id: uuid.UUID, body: TaskMoveIn) -> TaskOut:
    """Move the task along its graph: the assignee starts and submits it; a manager
    accepts it, returns it for rework (with a reason) or cancels it."""
    task = await tasks.move_task(
        ctx.uow, ctx.principal, task_id, TaskStatus(body.status), body.comment
    )
    return TaskOut.of(task)


@api.get(ONE + "comments/", tag=TAG, permission=Permission.TASKS_VIEW)
async def list_task_comments(ctx: Ctx, task_id: uuid.UUID) -> CommentList:
    """The task's timeline: comments and status changes, oldest first."""
    detail = await tasks.get_task(ctx.uow, ctx.principal, task_id)
    return CommentList(results=[CommentOut.of(c) for c in detail.comments])


@api.post(ONE + "comments/", tag=TAG, permission=Permission.TASKS_VIEW, status=201)
async def add_task_comment(ctx: Ctx, task_id: uuid.UUID, body: CommentIn) -> CommentOut:
    """Comment on a task you can see; the people it concerns are notified."""
    comment = await tasks.add_comment(ctx.uow, ctx.principal, task_id, body.body)
    return CommentOut.of(comment)


# --- photo reports ----------------------------------------------------------------------


@api.get(ONE + "photos/", tag=TAG, permission=Permission.TASKS_VIEW)
async def list_task_photos(ctx: Ctx, task_id: uuid.UUID) -> PhotoList:
    """The task's photo reports."""
    detail = await tasks.get_task(ctx.uow, ctx.principal, task_id)
    return PhotoList(results=[PhotoOut.of(p) for p in detail.photos])


@api.post(
    ONE + "photos/", tag=TAG, permission=Permission.TASKS_VIEW, status=201, upload=IMAGE_TYPES
)
async def upload_task_photo(ctx: Ctx, task_id: uuid.UUID) -> PhotoOut:
    """Add a photo report as the raw body (JPEG, PNG or WebP, checked from the bytes;
    size-limited; a thumbnail is made)."""
    data, limits = await uploaded_picture(ctx)
    photo = await tasks.upload_photo(
        ctx.uow, ctx.principal, ctx.deps.storage, task_id, data, limits
    )
    return PhotoOut.of(photo)


@api.get(PHOTO, tag=TAG, permission=Permission.TASKS_VIEW)
async def get_task_photo(
    ctx: Ctx, task_id: uuid.UUID, photo_id: uuid.UUID, query: PhotoQuery
) -> Response:
    """The photo's bytes; `thumbnail=true` for the small WebP."""
    media, data = await tasks.read_photo(
        ctx.uow, ctx.principal, ctx.deps.storage, task_id, photo_id, thumbnail=query.thumbnail
    )
    return picture_response(media, data)


@api.delete(PHOTO, tag=TAG, permission=Permission.TASKS_VIEW)
async def delete_task_photo(ctx: Ctx, task_id: uuid.UUID, photo_id: uuid.UUID) -> None:
    """Remove a photo (its author or a manager) before the task goes on review."""
    await tasks.delete_photo(ctx.uow, ctx.principal, ctx.deps.storage, task_id, photo_id)


# --- templates --------------------------------------------------------------------------


def _template_fields(body: TemplateIn) -> TemplateFields:
    return TemplateFields(
        shop=body.shop,
        title=body.title,
        assignment=body.assignment(),
        weekdays=tuple(body.weekdays),
        at=body.at,
        priority=body.priority,
        description=body.description,
        due_minutes=body.due_minutes,
        requires_photo=body.requires_photo,
        is_active=body.is_active,
    )


@api.get(TEMPLATES, tag=TAG, permission=Permission.TASKS_MANAGE)
async def list_task_templates(ctx: Ctx, query: TemplateQuery) -> Page[TemplateOut]:
    """Templates of recurring tasks (e.g. the daily opening checklist)."""
    found, count = await tasks.list_templates(
        ctx.uow, ctx.principal, query.page_request(), shop=query.shop
    )
    return Page[TemplateOut].build(ctx.request, query, [TemplateOut.of(t) for t in found], count)


@api.post(TEMPLATES, tag=TAG, permission=Permission.TASKS_MANAGE, status=201)
async def create_task_template(ctx: Ctx, body: TemplateIn) -> TemplateOut:
    """A task made on the given weekdays at the shop's local time `at`, due
    `due_minutes` later; from its next scheduled time on."""
    template = await tasks.create_template(ctx.uow, ctx.principal, _template_fields(body))
    return TemplateOut.of(template)


@api.get(TEMPLATE, tag=TAG, permission=Permission.TASKS_MANAGE)
async def get_task_template(ctx: Ctx, template_id: uuid.UUID) -> TemplateOut:
    """One template."""
    return TemplateOut.of(await tasks.get_template(ctx.uow, ctx.principal, template_id))


@api.put(TEMPLATE, tag=TAG, permission=Permission.TASKS_MANAGE)
async def update_task_template(ctx: Ctx, template_id: uuid.UUID, body: TemplateIn) -> TemplateOut:
    """Replace a template (a changed schedule starts from its next time)."""
    template = await tasks.update_template(
        ctx.uow, ctx.principal, template_id, _template_fields(body)
    )
    return TemplateOut.of(template)


@api.delete(TEMPLATE, tag=TAG, permission=Permission.TASKS_MANAGE)
async def delete_task_template(ctx: Ctx, template_id: uuid.UUID) -> None:
    """Delete a template; the tasks it made stay."""
    await tasks.delete_template(ctx.uow, ctx.principal, template_id)


@api.post(TEMPLATE + "run/", tag=TAG, permission=Permission.TASKS_MANAGE, status=201)
async def run_task_template(ctx: Ctx, template_id: uuid.UUID) -> TaskOut:
    """Make the template's task now, outside its schedule."""
    return TaskOut.of(await tasks.run_template_now(ctx.uow, ctx.principal, template_id))
