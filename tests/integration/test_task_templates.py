"""Task templates on a schedule: each scheduled instant makes one task, even with several
processes firing at once; after an outage only the latest instant fires; a template whose
person has gone pauses instead of failing every pass."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from hub.adapters.db.database import Database
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import tasks
from hub.task_scheduler import TaskScheduler
from tests.helpers import TenantKit, build_tenant

TEMPLATES = "/api/tasks/templates/"
EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]


def _db(client: httpx.AsyncClient) -> Database:
    db: Database = client.app.state.deps.db  # type: ignore[attr-defined]
    return db


async def make_template(client: httpx.AsyncClient, kit: TenantKit, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Opening checklist",
        "shop": kit.shop_id,
        "assignee_role": "cashier",
        "weekdays": EVERY_DAY,
        "at": "08:30",
        "due_minutes": 45,
        "requires_photo": True,
        "priority": "high",
    }
    body.update(fields)
    response = await client.post(TEMPLATES, json=body, headers=kit.token("manager"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def fire(client: httpx.AsyncClient, kit: TenantKit, now: datetime) -> int:
    async with UnitOfWork(_db(client), uuid.UUID(kit.tenant_id), write=True) as uow:
        made, after = await tasks.fire_due_templates(uow, now)
    assert after is None
    return made


async def made_by(
    client: httpx.AsyncClient, kit: TenantKit, template_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/tasks/tasks/", params={"template": template_id}, headers=kit.token("manager")
    )
    results: list[dict[str, Any]] = response.json()["results"]
    return results


async def test_each_scheduled_instant_makes_one_task(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    template = await make_template(client, kit)
    created = datetime.fromisoformat(template["created_at"])
    # The instant just gone (before the template existed) does not fire.
    assert await fire(client, kit, created) == 0
    assert await made_by(client, kit, template["id"]) == []

    tomorrow = created + timedelta(days=1)
    assert await fire(client, kit, tomorrow) == 1
    assert await fire(client, kit, tomorrow) == 0  # the same instant again
    (task,) = await made_by(client, kit, template["id"])
    assert (task["title"], task["priority"], task["assignee_role"], task["assignee"]) == (
        "Opening checklist",
        "high",
        "cashier",
        None,
    )
    assert task["requires_photo"] is True
    assert task["created_by"] is None
    due = datetime.fromisoformat(task["due_at"])
    assert (due.hour, due.minute) == (9, 15)  # 08:30 in the shop's time zone (UTC), +45 min
    assert due <= tomorrow + timedelta(minutes=45)
    # The role's cashier finds it among their tasks.
    mine = await client.get(
        "/api/tasks/tasks/", params={"mine": "true"}, headers=kit.token("cashier")
    )
    assert [t["id"] for t in mine.json()["results"]] == [task["id"]]

    # A hub away for a week makes the latest instant's task, not seven.
    assert await fire(client, kit, tomorrow + timedelta(days=7)) == 1
    assert len(await made_by(client, kit, template["id"])) == 2


async def test_processes_firing_at_once_make_one_task(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    template = await make_template(client, kit)
    later = datetime.fromisoformat(template["created_at"]) + timedelta(days=1)
    made = await asyncio.gather(*(fire(client, kit, later) for _ in range(4)))
    assert sum(made) == 1
    assert len(await made_by(client, kit, template["id"])) == 1


async def test_the_scheduler_fires_each_tenant(client: httpx.AsyncClient) -> None:
    kits = [await build_tenant(client), await build_tenant(client)]
    made = [await make_template(client, kit) for kit in kits]
    scheduler = TaskScheduler(_db(client), every_seconds=3600)

    async def fire_both() -> int:
        return sum([await scheduler.fire_tenant(uuid.UUID(kit.tenant_id)) for kit in kits])

    # Right after creation nothing is due (each template starts from its next instant).
    assert await fire_both() == 0
    # As if the last task had been made a day earlier: today's instant is due.
    for kit, template in zip(kits, made, strict=True):
        async with UnitOfWork(_db(client), uuid.UUID(kit.tenant_id), write=True) as uow:
            row = await uow.task_templates.get(uuid.UUID(template["id"]))
            assert row is not None
            assert row.last_fired_for is not None
            row.last_fired_for -= timedelta(days=1)
            await uow.commit()
    assert await fire_both() == 2
    assert await fire_both() == 0
    # The loop over every tenant makes nothing more for these two.
    await scheduler.fire_due()
    for kit, template in zip(kits, made, strict=True):
        assert len(await made_by(client, kit, template["id"])) == 1


async def test_a_template_whose_person_left_pauses(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    template = await make_template(
        client, kit, assignee=kit.members["stockkeeper"].id, assignee_role=None
    )
    gone = await client.delete(
        f"/api/users/users/{kit.members['stockkeeper'].id}/", headers=kit.token("owner")
    )
    assert gone.status_code in (200, 204), gone.text
    later = datetime.fromisoformat(template["created_at"]) + timedelta(days=1)
    assert await fire(client, kit, later) == 0
    paused = await client.get(f"{TEMPLATES}{template['id']}/", headers=kit.token("manager"))
    assert paused.json()["is_active"] is False
    assert await made_by(client, kit, template["id"]) == []
    # Paused, it is not looked at again.
    assert await fire(client, kit, later + timedelta(days=1)) == 0


async def test_run_now_and_edit_and_delete(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    template = await make_template(client, kit)
    path = f"{TEMPLATES}{template['id']}/"
    ran = await client.post(path + "run/", headers=kit.token("manager"))
    assert ran.status_code == 201, ran.text
    assert ran.json()["template"] == template["id"]
    assert ran.json()["created_by"] == kit.members["manager"].id

    moved = await client.put(
        path,
        json={
            "title": "Closing checklist",
            "shop": kit.shop_id,
            "assignee_role": "cashier",
            "weekdays": [4, 4, 5],
            "at": "21:45",
        },
        headers=kit.token("manager"),
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["weekdays"], moved.json()["at"]) == ([4, 5], "21:45")
    bad = await client.put(
        path,
        json={
            "title": "x",
            "shop": kit.shop_id,
            "assignee_role": "cashier",
            "weekdays": [8],
            "at": "21:45",
        },
        headers=kit.token("manager"),
    )
    assert bad.status_code == 400
    assert "weekdays" in bad.json()["error"]["fields"]

    listed = await client.get(TEMPLATES, headers=kit.token("manager"))
    assert [t["id"] for t in listed.json()["results"]] == [template["id"]]
    assert (await client.delete(path, headers=kit.token("manager"))).status_code == 204
    # The task it made stays, no longer tied to it.
    kept = await client.get(f"/api/tasks/tasks/{ran.json()['id']}/", headers=kit.token("manager"))
    assert kept.status_code == 200
    assert kept.json()["template"] is None


async def test_a_resumed_template_waits_for_its_next_instant(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    template = await make_template(client, kit)
    body = {k: template[k] for k in ("title", "shop", "assignee_role", "weekdays", "at")}
    path = f"{TEMPLATES}{template['id']}/"
    paused = await client.put(path, json=body | {"is_active": False}, headers=kit.token("manager"))
    assert paused.json()["is_active"] is False
    # As if it had been paused for three days, its instants passing meanwhile.
    async with UnitOfWork(_db(client), uuid.UUID(kit.tenant_id), write=True) as uow:
        row = await uow.task_templates.get(uuid.UUID(template["id"]))
        assert row is not None
        assert row.last_fired_for is not None
        row.last_fired_for -= timedelta(days=3)
        await uow.commit()
    resumed = await client.put(path, json=body | {"is_active": True}, headers=kit.token("manager"))
    assert resumed.json()["is_active"] is True
    assert await fire(client, kit, datetime.now(UTC)) == 0
    assert await fire(client, kit, datetime.now(UTC) + timedelta(days=1)) == 1


async def test_task_events_carry_times_in_utc(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template fires at the shop's local time, and a client may send an offset: the
    events say UTC all the same, as the API does (docs/api.md, "Values")."""
    emitted: list[dict[str, Any]] = []
    emit = UnitOfWork.emit

    def recording(self: UnitOfWork, channel: Any, type_: str, payload: dict[str, Any]) -> None:
        emitted.append({"type": type_, **payload})
        emit(self, channel, type_, payload)

    monkeypatch.setattr(UnitOfWork, "emit", recording)
    kit = await build_tenant(client, timezone="Europe/Moscow")
    template = await make_template(client, kit)
    assert await fire(client, kit, utcnow() + timedelta(days=1)) == 1
    (task,) = await made_by(client, kit, template["id"])
    made = await client.post(
        "/api/tasks/tasks/",
        json={
            "title": "Offset",
            "shop": kit.shop_id,
            "assignee_role": "cashier",
            "due_at": "2026-11-25T06:49:00+03:00",
        },
        headers=kit.token("manager"),
    )
    assert made.status_code == 201, made.text
    assigned = [e["task"] for e in emitted if e["type"] == "task.assigned"]
    due = {t["id"]: t["due_at"] for t in assigned}
    assert due[task["id"]].endswith("+00:00"), due
    assert datetime.fromisoformat(due[task["id"]]) == datetime.fromisoformat(task["due_at"])
    assert due[made.json()["id"]] == "2026-11-25T03:49:00+00:00"
    for document in assigned:
        for key in ("created_at", "updated_at"):
            assert document[key] is None or document[key].endswith("+00:00"), document
