"""Staff tasks over HTTP and the websocket: the pilot's `POST /api/tasks/tasks/`, the
work-and-review cycle with a photo report, tasks given to a role, who sees what, and
instant notifications on the assignee's `tasks` channel."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from hub.demo import ensure_demo
from protocol import channels
from protocol.client import RequestFailed
from tests import services
from tests.conftest import LiveHub
from tests.e2e.ws_support import api, drain_events, hub_client, no_more_events, tenant
from tests.helpers import TenantKit, build_tenant, create_user, login, png_bytes

store = services.stores_with_clusters()

TASKS = "/api/tasks/tasks/"


async def give_task(
    client: httpx.AsyncClient, kit: TenantKit, *, by: str = "manager", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"title": "Restock the dairy shelf", "shop": kit.shop_id}
    if "assignee_role" not in fields:
        body["assignee"] = kit.members["cashier"].id
    body.update(fields)
    response = await client.post(TASKS, json=body, headers=kit.token(by))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def move(
    client: httpx.AsyncClient,
    kit: TenantKit,
    task_id: str,
    role: str,
    status: str,
    comment: str = "",
) -> httpx.Response:
    return await client.post(
        f"{TASKS}{task_id}/status/",
        json={"status": status, "comment": comment},
        headers=kit.token(role),
    )


async def test_the_pilot_creates_a_task_with_the_appendix_fields(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    due = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    response = await client.post(
        TASKS,
        json={
            "title": "Count the cash drawer",
            "assignee": kit.members["cashier"].id,
            "priority": "high",
            "due_at": due.isoformat(),
            "shop": kit.shop_id,
        },
        headers=kit.token("owner"),
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert task["status"] == "new"
    assert (task["title"], task["priority"], task["shop"]) == (
        "Count the cash drawer",
        "high",
        kit.shop_id,
    )
    assert task["assignee"] == kit.members["cashier"].id
    assert datetime.fromisoformat(task["due_at"]) == due
    assert task["overdue"] is False
    assert task["created_by"] == kit.members["owner"].id

    mine = await client.get(TASKS, params={"mine": "true"}, headers=kit.token("cashier"))
    assert [t["id"] for t in mine.json()["results"]] == [task["id"]]
    detail = await client.get(f"{TASKS}{task['id']}/", headers=kit.token("cashier"))
    assert detail.json()["next_statuses"] == ["in_progress", "cancelled"]
    assert detail.json()["comments"] == detail.json()["photos"] == []


async def test_work_review_rework_and_done_with_a_photo_report(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    task = await give_task(client, kit, requires_photo=True)
    tid = task["id"]

    assert (await move(client, kit, tid, "cashier", "in_progress")).json()["status"] == (
        "in_progress"
    )
    no_photo = await move(client, kit, tid, "cashier", "on_review")
    assert no_photo.status_code == 400
    assert no_photo.json()["error"]["fields"] == {"photos": "at least one photo is required"}

    shot = io.BytesIO()
    Image.new("RGB", (1600, 1200), "green").save(shot, format="JPEG")
    uploaded = await client.post(
        f"{TASKS}{tid}/photos/",
        content=shot.getvalue(),
        headers={**kit.token("cashier"), "content-type": "image/jpeg"},
    )
    assert uploaded.status_code == 201, uploaded.text
    photo = uploaded.json()
    assert (photo["content_type"], photo["width"], photo["height"]) == ("image/jpeg", 1600, 1200)
    thumb = await client.get(
        f"{TASKS}{tid}/photos/{photo['id']}/",
        params={"thumbnail": "true"},
        headers=kit.token("manager"),
    )
    assert thumb.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.size == (320, 240)

    submitted = await move(client, kit, tid, "cashier", "on_review", "shelf is full")
    assert submitted.json()["status"] == "on_review"
    assert (await move(client, kit, tid, "cashier", "done")).status_code == 403
    no_reason = await move(client, kit, tid, "manager", "returned")
    assert no_reason.status_code == 400
    returned = await move(client, kit, tid, "manager", "returned", "the yoghurt is not faced")
    assert returned.json()["status"] == "returned"
    # The photo report stays through rework; the cashier adds nothing and resubmits.
    await move(client, kit, tid, "cashier", "in_progress")
    await move(client, kit, tid, "cashier", "on_review")
    done = await move(client, kit, tid, "manager", "done")
    assert done.status_code == 200, done.text
    assert done.json()["finished_at"] is not None

    again = await move(client, kit, tid, "manager", "in_progress")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    late_photo = await client.post(
        f"{TASKS}{tid}/photos/",
        content=png_bytes(),
        headers={**kit.token("cashier"), "content-type": "image/png"},
    )
    assert late_photo.status_code == 409

    detail = (await client.get(f"{TASKS}{tid}/", headers=kit.token("cashier"))).json()
    timeline = [(c["status"], c["body"], c["author"]) for c in detail["comments"]]
    cashier, manager = kit.members["cashier"].id, kit.members["manager"].id
    assert timeline == [
        ("in_progress", "", cashier),
        ("on_review", "shelf is full", cashier),
        ("returned", "the yoghurt is not faced", manager),
        ("in_progress", "", cashier),
        ("on_review", "", cashier),
        ("done", "", manager),
    ]
    assert [p["id"] for p in detail["photos"]] == [photo["id"]]


async def test_bad_photos_and_bad_tasks_are_refused_with_clear_codes(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    task = await give_task(client, kit)
    bad = await client.post(
        f"{TASKS}{task['id']}/photos/",
        content=b"not a picture",
        headers={**kit.token("cashier"), "content-type": "image/png"},
    )
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_image")
    pdf = await client.post(
        f"{TASKS}{task['id']}/photos/",
        content=b"%PDF-1.4",
        headers={**kit.token("cashier"), "content-type": "application/pdf"},
    )
    assert pdf.status_code == 415

    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "x", "shop": kit.shop_id}, "assignee"),  # nobody
        (
            {
                "title": "x",
                "shop": kit.shop_id,
                "assignee": kit.members["cashier"].id,
                "assignee_role": "cashier",
            },
            "assignee",
        ),  # both
        ({"title": "x", "shop": kit.shop_id, "assignee_role": "janitor"}, "assignee_role"),
        (
            {"title": "x", "shop": kit.shop_id, "assignee_role": "cashier", "priority": "asap"},
            "priority",
        ),
        ({"title": "", "shop": kit.shop_id, "assignee_role": "cashier"}, "title"),
    ]
    for body, field in cases:
        response = await client.post(TASKS, json=body, headers=kit.token("manager"))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert field in response.json()["error"]["fields"], (body, response.text)
    # An id that names nothing in the business (or another business's) is 404, as
    # everywhere in the API, with the field named.
    other = await build_tenant(client)
    for body, field in (
        ({"title": "x", "shop": kit.shop_id, "assignee": str(uuid.uuid4())}, "assignee"),
        ({"title": "x", "shop": kit.shop_id, "assignee": other.members["cashier"].id}, "assignee"),
        ({"title": "x", "shop": str(uuid.uuid4()), "assignee_role": "cashier"}, "shop"),
        ({"title": "x", "shop": other.shop_id, "assignee_role": "cashier"}, "shop"),
    ):
        response = await client.post(TASKS, json=body, headers=kit.token("manager"))
        assert response.status_code == 404, (body, response.text)
        assert field in response.json()["error"]["fields"], (body, response.text)

    # The cashier works only in the first shop: no task for them in the second.
    elsewhere = await client.post(
        TASKS,
        json={"title": "x", "shop": kit.second_shop_id, "assignee": kit.members["cashier"].id},
        headers=kit.token("owner"),
    )
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"]["fields"] == {"assignee": "not bound to the task's shop"}


async def test_a_task_given_to_a_role_is_taken_by_whoever_starts_it(
    client: httpx.AsyncClient,
) -> None:
    kit = await build_tenant(client)
    other = await create_user(client, kit.members["owner"].token, "cashier", [kit.shop_id])
    other_token = {"Authorization": f"Bearer {(await login(client, other['username']))['access']}"}
    task = await give_task(client, kit, assignee_role="cashier", priority="urgent")
    assert task["assignee"] is None

    for headers in (kit.token("cashier"), other_token):
        mine = await client.get(TASKS, params={"mine": "true"}, headers=headers)
        assert [t["id"] for t in mine.json()["results"]] == [task["id"]]
    # Not the stockkeeper's role.
    listed = await client.get(TASKS, headers=kit.token("stockkeeper"))
    assert listed.json()["results"] == []
    hidden = await client.get(f"{TASKS}{task['id']}/", headers=kit.token("stockkeeper"))
    assert hidden.status_code == 404

    started = await move(client, kit, task["id"], "cashier", "in_progress")
    assert started.json()["assignee"] == kit.members["cashier"].id
    # Now it is the first cashier's: the other one no longer sees it or starts it.
    gone = await client.get(TASKS, params={"mine": "true"}, headers=other_token)
    assert gone.json()["results"] == []
    taken = await client.post(
        f"{TASKS}{task['id']}/status/", json={"status": "on_review"}, headers=other_token
    )
    assert taken.status_code == 404


async def test_lists_filter_and_order_by_what_is_most_pressing(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    now = datetime.now(UTC)
    late = await give_task(client, kit, title="late", due_at=(now - timedelta(hours=1)).isoformat())
    urgent = await give_task(client, kit, title="urgent", priority="urgent")
    low = await give_task(client, kit, title="low", priority="low")
    cancelled = await give_task(client, kit, title="cancelled", priority="urgent")
    await move(client, kit, cancelled["id"], "manager", "cancelled")
    assert late["overdue"] is True

    listed = await client.get(TASKS, headers=kit.token("manager"))
    assert [t["title"] for t in listed.json()["results"]] == ["urgent", "late", "low", "cancelled"]
    overdue = await client.get(TASKS, params={"overdue": "true"}, headers=kit.token("manager"))
    assert [t["id"] for t in overdue.json()["results"]] == [late["id"]]
    open_ = await client.get(TASKS, params={"open": "true"}, headers=kit.token("cashier"))
    assert {t["id"] for t in open_.json()["results"]} == {late["id"], urgent["id"], low["id"]}
    by_status = await client.get(
        TASKS, params={"status": "cancelled"}, headers=kit.token("manager")
    )
    assert [t["id"] for t in by_status.json()["results"]] == [cancelled["id"]]
    found = await client.get(TASKS, params={"search": "URG"}, headers=kit.token("manager"))
    assert [t["id"] for t in found.json()["results"]] == [urgent["id"]]
    csv = await client.get(TASKS, params={"format": "csv"}, headers=kit.token("manager"))
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.lstrip("\ufeff").startswith("id,shop,title,priority,status")  # BOM: Excel
    assert len(csv.text.splitlines()) == 5


async def test_editing_and_reassigning(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    task = await give_task(client, kit, due_at=datetime.now(UTC).isoformat())
    path = f"{TASKS}{task['id']}/"
    edited = await client.patch(
        path,
        json={"title": "Restock dairy and eggs", "priority": "high", "due_at": None},
        headers=kit.token("manager"),
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["priority"], edited.json()["due_at"]) == (
        "Restock dairy and eggs",
        "high",
        None,
    )
    assert edited.json()["assignee"] == kit.members["cashier"].id  # not sent: unchanged
    moved = await client.patch(
        path, json={"assignee_role": "stockkeeper"}, headers=kit.token("manager")
    )
    assert (moved.json()["assignee"], moved.json()["assignee_role"]) == (None, "stockkeeper")
    assert (await client.get(path, headers=kit.token("cashier"))).status_code == 404
    assert (await client.get(path, headers=kit.token("stockkeeper"))).status_code == 200
    forbidden = await client.patch(path, json={"title": "mine"}, headers=kit.token("stockkeeper"))
    assert forbidden.status_code == 403


async def test_the_assignee_hears_of_a_task_at_once(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    cashier_id = uuid.UUID(kit.members["cashier"].id)
    async with (
        api(live_hub) as http,
        hub_client(live_hub, kit.members["cashier"].token) as cashier,
        hub_client(live_hub, kit.members["stockkeeper"].token) as stockkeeper,
    ):
        await cashier.subscribe(channels.tasks(t, cashier_id).name)
        await stockkeeper.subscribe(
            channels.tasks(t, uuid.UUID(kit.members["stockkeeper"].id)).name
        )
        task = await give_task(http, kit)
        (assigned,) = await drain_events(cashier, 1)
        assert assigned["type"] == "task.assigned"
        assert assigned["payload"]["task"]["id"] == task["id"]
        assert assigned["payload"]["task"]["title"] == "Restock the dairy shelf"
        assert assigned["payload"]["by"] == kit.members["manager"].id

        await move(http, kit, task["id"], "manager", "cancelled", "not needed today")
        (changed,) = await drain_events(cashier, 1)
        assert changed["type"] == "task.status_changed"
        assert (changed["payload"]["from"], changed["payload"]["task"]["status"]) == (
            "new",
            "cancelled",
        )
        # A role task reaches everyone of the role in the shop.
        role_task = await give_task(http, kit, assignee_role="stockkeeper")
        (for_role,) = await drain_events(stockkeeper, 1)
        assert for_role["payload"]["task"]["id"] == role_task["id"]
        await no_more_events(cashier)


async def test_a_cashier_cannot_subscribe_to_someone_elses_tasks(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    async with hub_client(live_hub, kit.members["cashier"].token) as cashier:
        with pytest.raises(RequestFailed) as refused:
            await cashier.subscribe(channels.tasks(t, uuid.UUID(kit.members["manager"].id)).name)
    assert refused.value.code == "permission_denied"


async def test_the_demo_shop_has_a_till_a_task_and_an_opening_checklist(
    client: httpx.AsyncClient,
) -> None:
    demo = await ensure_demo(client.app.state.deps)  # type: ignore[attr-defined]
    assert demo.created

    async def as_user(username: str) -> dict[str, str]:
        tokens = await login(client, username, demo.password)
        return {"Authorization": f"Bearer {tokens['access']}"}

    stockkeeper = await client.get(
        TASKS, params={"mine": "true"}, headers=await as_user("demo.stockkeeper")
    )
    (task,) = stockkeeper.json()["results"]
    assert (task["priority"], task["requires_photo"], task["status"]) == ("high", True, "new")
    registers = await client.get(
        "/api/sales/cash-registers/", headers=await as_user("demo.cashier")
    )
    assert [r["name"] for r in registers.json()["results"]] == ["Касса 1"]
    found = await client.get(
        "/api/customers/customers/", params={"search": "916"}, headers=await as_user("demo.cashier")
    )
    assert [(c["name"], c["group"] is not None) for c in found.json()["results"]] == [
        ("Анна Петрова", True)
    ]
    boris = await client.get(
        "/api/customers/customers/",
        params={"search": "Борис"},
        headers=await as_user("demo.cashier"),
    )
    (regular,) = boris.json()["results"]
    assert (regular["balance"], regular["credit_limit"]) == ("500.00", "5000.00")
    templates = await client.get("/api/tasks/templates/", headers=await as_user("demo.manager"))
    (checklist,) = templates.json()["results"]
    assert (checklist["assignee_role"], checklist["at"], checklist["weekdays"]) == (
        "cashier",
        "08:30",
        [0, 1, 2, 3, 4, 5, 6],
    )


async def test_when_one_takes_a_role_task_the_others_hear_it_went(live_hub: LiveHub) -> None:
    kit = await tenant(live_hub)
    t = uuid.UUID(kit.tenant_id)
    async with api(live_hub) as http:
        other = await create_user(http, kit.members["owner"].token, "cashier", [kit.shop_id])
        other_login = await login(http, other["username"])
        async with hub_client(live_hub, other_login["access"]) as second:
            await second.subscribe(channels.tasks(t, uuid.UUID(other["id"])).name)
            task = await give_task(http, kit, assignee_role="cashier")
            (offered,) = await drain_events(second, 1)
            assert offered["payload"]["task"]["assignee"] is None
            await move(http, kit, task["id"], "cashier", "in_progress")
            (taken,) = await drain_events(second, 1)
            assert taken["type"] == "task.status_changed"
            assert taken["payload"]["task"]["assignee"] == kit.members["cashier"].id
