"""Every role against every endpoint: allowed, or 403.

The expectations are written out here from the spec (SPEC 3.2), not read from the code's
matrix, so a wrong entry in the code fails this test. A new endpoint fails
`test_every_endpoint_is_in_the_matrix` until it is added below.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from hub.adapters.db.uow import UnitOfWork
from hub.analytics_worker import AnalyticsWorker
from hub.services import customer_accounts
from tests.helpers import (
    PASSWORD,
    TenantKit,
    bearer,
    build_tenant,
    create_product,
    create_user,
    png_bytes,
    receive,
    set_pin,
    unique,
    upload_image,
)

ROLES = ("owner", "manager", "cashier", "stockkeeper")
EVERYONE = set(ROLES)
MANAGEMENT = {"owner", "manager"}
# SPEC 3.2 and the customers issue: cashiers find and register customers, take top-ups
# and repayments and see balances; groups, credit limits, deactivation and paying a
# balance back out are for managers and owners; stockkeepers never deal with customers.
CUSTOMER_DESK = {"owner", "manager", "cashier"}

Prepare = Callable[[httpx.AsyncClient, TenantKit], Awaitable[tuple[str, Any]]]
# For endpoints whose use depends on who asks (a task's own assignee): made per role.
PrepareAs = Callable[[httpx.AsyncClient, TenantKit, str], Awaitable[tuple[str, Any]]]


@dataclass(frozen=True)
class Case:
    allowed: set[str]
    prepare: Prepare
    device: bool = False  # an edge agent's token of the kit's shop may use it too
    as_role: PrepareAs | None = None

    async def path_and_body(
        self, client: httpx.AsyncClient, kit: TenantKit, role: str
    ) -> tuple[str, Any]:
        if self.as_role is not None:
            return await self.as_role(client, kit, role)
        return await self.prepare(client, kit)


async def _fresh_cashier(client: httpx.AsyncClient, kit: TenantKit) -> str:
    user = await create_user(client, kit.members["owner"].token, "cashier", [kit.shop_id])
    return str(user["id"])


async def _fresh_device(client: httpx.AsyncClient, kit: TenantKit) -> str:
    response = await client.post(
        "/api/users/device-tokens/",
        json={"name": "scanner", "shop": kit.shop_id},
        headers=kit.token("owner"),
    )
    return str(response.json()["id"])


def fixed(path: str, body: Any = None) -> Prepare:
    async def prepare(_c: httpx.AsyncClient, _k: TenantKit) -> tuple[str, Any]:
        return path, body

    return prepare


def on_user(suffix: str, body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/users/users/{await _fresh_cashier(c, k)}/{suffix}", body

    return prepare


def on_device(body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/users/device-tokens/{await _fresh_device(c, k)}/", body

    return prepare


def on_shop(body: Any = None) -> Prepare:
    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/core/shops/{k.shop_id}/", body

    return prepare


def _phone() -> str:
    return f"+7916{random.randrange(10**7):07d}"


async def _fresh_group(client: httpx.AsyncClient, kit: TenantKit) -> str:
    response = await client.post(
        "/api/customers/groups/",
        json={"name": unique("group"), "discount_percent": "5"},
        headers=kit.token("owner"),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _fresh_customer(
    client: httpx.AsyncClient, kit: TenantKit, *, balance: str = "0", debt: str = "0"
) -> str:
    response = await client.post(
        "/api/customers/customers/",
        json={"name": unique("customer"), "phone": _phone(), "credit_limit": "1000"},
        headers=kit.token("owner"),
    )
    assert response.status_code == 201, response.text
    customer_id = str(response.json()["id"])
    if Decimal(balance):
        top_up = await client.post(
            f"/api/customers/customers/{customer_id}/top-up/",
            json={"amount": balance},
            headers=kit.token("owner"),
        )
        assert top_up.status_code == 200, top_up.text
    if Decimal(debt):
        db = client.app.state.deps.db  # type: ignore[attr-defined]
        async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
            await customer_accounts.charge_credit(
                uow, uuid.UUID(customer_id), Decimal(debt), uuid.uuid4(), None
            )
            await uow.commit()
    return customer_id


def on_group(body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/customers/groups/{await _fresh_group(c, k)}/", body

    return prepare


def on_customer(suffix: str, body: Any = None, *, balance: str = "0", debt: str = "0") -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        customer_id = await _fresh_customer(c, k, balance=balance, debt=debt)
        return f"/api/customers/customers/{customer_id}/{suffix}", body

    return prepare


def new_group_body() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, _k: TenantKit) -> tuple[str, Any]:
        return "/api/customers/groups/", {"name": unique("group"), "discount_percent": "10"}

    return prepare


def new_customer_body() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, _k: TenantKit) -> tuple[str, Any]:
        return "/api/customers/customers/", {"name": unique("customer"), "phone": _phone()}

    return prepare


def new_user_body() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        body = {
            "username": unique("new"),
            "password": PASSWORD,
            "role": "cashier",
            "shops": [k.shop_id],
        }
        return "/api/users/users/", body

    return prepare


def new_device_body() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return "/api/users/device-tokens/", {"name": "till 2", "shop": k.shop_id}

    return prepare


@dataclass(frozen=True)
class Raw:
    """A file body (uploads, imports) instead of JSON."""

    content: bytes
    media_type: str


STOCKKEEPING = {"owner", "manager", "stockkeeper"}


async def _product(c: httpx.AsyncClient, k: TenantKit, stock: str | None = None) -> str:
    product = await create_product(c, k)
    if stock:
        await receive(c, k, product["id"], stock)
    return str(product["id"])


def on_category(body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        made = await c.post(
            "/api/products/categories/", json={"name": unique("Cat")}, headers=k.token("owner")
        )
        return f"/api/products/categories/{made.json()['id']}/", body() if callable(body) else body

    return prepare


def fresh(path: str, body: Callable[[], dict[str, Any]]) -> Prepare:
    """A body made anew for each call (names that must be unique)."""

    async def prepare(_c: httpx.AsyncClient, _k: TenantKit) -> tuple[str, Any]:
        return path, body()

    return prepare


def on_supplier(body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        made = await c.post(
            "/api/products/suppliers/", json={"name": unique("Sup")}, headers=k.token("owner")
        )
        return f"/api/products/suppliers/{made.json()['id']}/", body

    return prepare


def on_product(suffix: str = "", body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/products/products/{await _product(c, k)}/{suffix}", body

    return prepare


def on_image() -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        product = await _product(c, k)
        image = await upload_image(c, k, product)
        return f"/api/products/products/{product}/images/{image['id']}/", None

    return prepare


def on_batch() -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        batch = await receive(c, k, await _product(c, k), "2")
        return f"/api/products/batches/{batch['id']}/", None

    return prepare


def with_stock(path: str, body: Callable[[TenantKit, str], dict[str, Any]]) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return path, body(k, await _product(c, k, stock="5"))

    return prepare


SHIFT_ROLES = {"owner", "manager", "cashier"}


async def _register(c: httpx.AsyncClient, k: TenantKit) -> str:
    made = await c.post(
        "/api/sales/cash-registers/",
        json={"name": unique("Till"), "shop": k.shop_id},
        headers=k.token("owner"),
    )
    return str(made.json()["id"])


def on_register(body: Any = None) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/sales/cash-registers/{await _register(c, k)}/", body

    return prepare


def new_shift_body() -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return "/api/sales/sessions/", {"cash_register": await _register(c, k), "opening_cash": "5"}

    return prepare


def on_cashiers_shift(suffix: str, body: Any = None) -> Prepare:
    """A shift the kit's cashier opened: theirs, and their managers' to run."""

    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        opened = await c.post(
            "/api/sales/sessions/",
            json={"cash_register": await _register(c, k), "opening_cash": "100"},
            headers=k.token("cashier"),
        )
        return f"/api/sales/sessions/{opened.json()['id']}/{suffix}", body

    return prepare


def sale_body() -> Prepare:
    """A sale of one stocked product in a shift the kit's cashier opened."""

    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        path, _ = await on_cashiers_shift("")(c, k)
        product = await _product(c, k, stock="2")
        return "/api/sales/sales/", {
            "session": path.split("/")[-2],
            "items": [{"product": product, "quantity": "1"}],
            "payments": [{"method": "cash", "amount": "20.00"}],
        }

    return prepare


def on_sale() -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        path, body = await sale_body()(c, k)
        made = await c.post(path, json=body, headers=k.token("cashier"))
        return f"/api/sales/sales/{made.json()['id']}/", None

    return prepare


def return_body() -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        path, body = await sale_body()(c, k)
        made = await c.post(path, json=body, headers=k.token("cashier"))
        product = body["items"][0]["product"]
        return "/api/sales/returns/", {
            "sale": made.json()["id"],
            "items": [{"product": product, "quantity": "1"}],
        }

    return prepare


def on_cashiers_cart(*, opened: bool) -> Prepare:
    """Opening a cart on the kit's cashier's shift, or reading the one opened there."""

    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        path, _ = await on_cashiers_shift("")(c, k)
        body = {"session": path.split("/")[-2]}
        if not opened:
            return "/api/sales/carts/", body
        made = await c.post("/api/sales/carts/", json=body, headers=k.token("cashier"))
        return f"/api/sales/carts/{made.json()['id']}/", None

    return prepare


async def _job(c: httpx.AsyncClient, k: TenantKit, *, failed: bool) -> str:
    """The receipt job of a fresh sale in the kit's first shop; reported failed by the
    shop's agent when asked."""
    path, body = await sale_body()(c, k)
    made = await c.post(path, json=body, headers=k.token("cashier"))
    jobs = await c.get(
        "/api/devices/jobs/", params={"ref": made.json()["id"]}, headers=k.token("owner")
    )
    job_id = str(jobs.json()["results"][0]["id"])
    if failed:
        report = await c.post(
            f"/api/devices/jobs/{job_id}/failed/",
            json={"error": "paper out"},
            headers=bearer(k.device_token),
        )
        assert report.status_code == 200, report.text
    return job_id


def on_job(suffix: str, body: Any = None, *, failed: bool = False) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"/api/devices/jobs/{await _job(c, k, failed=failed)}/{suffix}", body

    return prepare


def drawer_job() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return "/api/devices/jobs/", {"kind": "open_drawer", "shop": k.shop_id, "reason": "change"}

    return prepare


TASKS = "/api/tasks/tasks/"
TEMPLATES = "/api/tasks/templates/"


async def _task_for(c: httpx.AsyncClient, k: TenantKit, role: str, *, photo: bool = False) -> str:
    """A task given to the kit's member of `role`; with a photo report they added."""
    made = await c.post(
        TASKS,
        json={"title": unique("task"), "shop": k.shop_id, "assignee": k.members[role].id},
        headers=k.token("owner"),
    )
    assert made.status_code == 201, made.text
    task_id = str(made.json()["id"])
    if photo:
        uploaded = await c.post(
            f"{TASKS}{task_id}/photos/",
            content=png_bytes(),
            headers={**k.token(role), "content-type": "image/png"},
        )
        assert uploaded.status_code == 201, uploaded.text
        return f"{task_id}/photos/{uploaded.json()['id']}"
    return task_id


def on_task(suffix: str = "", body: Any = None, *, photo: bool = False) -> Prepare:
    """A task of the owner's."""

    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return f"{TASKS}{await _task_for(c, k, 'owner', photo=photo)}/{suffix}", body

    return prepare


def own_task(suffix: str = "", body: Any = None, *, photo: bool = False) -> PrepareAs:
    """A task of the asking role's own."""

    async def prepare(c: httpx.AsyncClient, k: TenantKit, role: str) -> tuple[str, Any]:
        return f"{TASKS}{await _task_for(c, k, role, photo=photo)}/{suffix}", body

    return prepare


def template_body(k: TenantKit) -> dict[str, Any]:
    return {
        "title": unique("opening checklist"),
        "shop": k.shop_id,
        "assignee_role": "cashier",
        "weekdays": [0, 1, 2, 3, 4],
        "at": "08:30",
        "due_minutes": 30,
    }


def new_task_body() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return TASKS, {"title": unique("task"), "shop": k.shop_id, "assignee_role": "cashier"}

    return prepare


def new_template_body() -> Prepare:
    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        return TEMPLATES, template_body(k)

    return prepare


def on_template(suffix: str = "", *, with_body: bool = False) -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        made = await c.post(TEMPLATES, json=template_body(k), headers=k.token("owner"))
        assert made.status_code == 201, made.text
        body = template_body(k) if with_body else None
        return f"{TEMPLATES}{made.json()['id']}/{suffix}", body

    return prepare


def task_work(suffix: str, body: Any = None, *, photo: bool = False) -> Case:
    """Work on one's own task: everyone may, on tasks given to them."""
    return Case(
        EVERYONE,
        on_task(suffix, body, photo=photo),
        as_role=own_task(suffix, body, photo=photo),
    )


def in_shop(path: str, **params: str) -> Prepare:
    """A report of the kit's first shop (`today` in a value: today's date)."""

    async def prepare(_c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        today = datetime.now(UTC).date().isoformat()
        values = {"shop": k.shop_id} | {n: v.replace("today", today) for n, v in params.items()}
        return f"{path}?{urlencode(values)}", None

    return prepare


def snapshot_of_today() -> Prepare:
    async def prepare(c: httpx.AsyncClient, k: TenantKit) -> tuple[str, Any]:
        analytics = AnalyticsWorker(c.app.state.deps.db, every_seconds=3600)  # type: ignore[attr-defined]
        await analytics.run_tenant(uuid.UUID(k.tenant_id))
        return await in_shop("/api/analytics/stock-snapshots/", date="today")(c, k)

    return prepare


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", "/api/users/auth/change-password/"): Case(
        EVERYONE,
        fixed(
            "/api/users/auth/change-password/",
            {"old_password": "wrong-one-x", "new_password": "whatever-new-1"},
        ),
    ),
    ("GET", "/api/users/auth/me/"): Case(EVERYONE, fixed("/api/users/auth/me/")),
    # SPEC: returns need a manager, or a manager's PIN at the till: managers and owners
    # hold PINs, nobody else.
    ("PUT", "/api/users/auth/pin/"): Case(
        MANAGEMENT, fixed("/api/users/auth/pin/", {"password": PASSWORD, "pin": "2580"})
    ),
    ("GET", "/api/users/users/"): Case(MANAGEMENT, fixed("/api/users/users/")),
    ("POST", "/api/users/users/"): Case(MANAGEMENT, new_user_body()),
    ("GET", "/api/users/users/{user_id}/"): Case(MANAGEMENT, on_user("")),
    ("PATCH", "/api/users/users/{user_id}/"): Case(MANAGEMENT, on_user("", {"full_name": "Ann"})),
    ("DELETE", "/api/users/users/{user_id}/"): Case(MANAGEMENT, on_user("")),
    ("POST", "/api/users/users/{user_id}/set-password/"): Case(
        MANAGEMENT, on_user("set-password/", {"password": "reset-pass-77"})
    ),
    ("GET", "/api/core/shops/"): Case(EVERYONE, fixed("/api/core/shops/")),
    ("POST", "/api/core/shops/"): Case({"owner"}, fixed("/api/core/shops/", {"name": "Third"})),
    ("GET", "/api/core/shops/{shop_id}/"): Case(EVERYONE, on_shop()),
    ("PATCH", "/api/core/shops/{shop_id}/"): Case(MANAGEMENT, on_shop({"address": "1 High St"})),
    ("GET", "/api/core/tenant/"): Case(EVERYONE, fixed("/api/core/tenant/")),
    ("PATCH", "/api/core/tenant/"): Case(
        {"owner"}, fixed("/api/core/tenant/", {"name": "Renamed"})
    ),
    ("GET", "/api/users/device-tokens/"): Case(MANAGEMENT, fixed("/api/users/device-tokens/")),
    ("POST", "/api/users/device-tokens/"): Case(MANAGEMENT, new_device_body()),
    ("GET", "/api/users/device-tokens/{device_id}/"): Case(MANAGEMENT, on_device()),
    ("DELETE", "/api/users/device-tokens/{device_id}/"): Case(MANAGEMENT, on_device()),
    # edge-agent jobs: agents list their queue and report outcomes; managers and owners
    # watch the queues of their shops and retry failed jobs; no staff member reports
    ("GET", "/api/devices/jobs/"): Case(
        MANAGEMENT, fixed("/api/devices/jobs/?status=pending"), device=True
    ),
    ("POST", "/api/devices/jobs/"): Case(SHIFT_ROLES, drawer_job()),
    ("POST", "/api/devices/jobs/{job_id}/done/"): Case(
        set(), on_job("done/", {"fiscal": None}), device=True
    ),
    ("POST", "/api/devices/jobs/{job_id}/failed/"): Case(
        set(), on_job("failed/", {"error": "paper out"}), device=True
    ),
    ("POST", "/api/devices/jobs/{job_id}/claim/"): Case(set(), on_job("claim/"), device=True),
    ("POST", "/api/devices/jobs/{job_id}/start/"): Case(set(), on_job("start/"), device=True),
    ("POST", "/api/devices/jobs/{job_id}/retry/"): Case(MANAGEMENT, on_job("retry/", failed=True)),
    # registers: everyone in a shop sees them; managers and owners set them up
    ("GET", "/api/sales/cash-registers/"): Case(EVERYONE, fixed("/api/sales/cash-registers/")),
    ("POST", "/api/sales/cash-registers/"): Case(
        MANAGEMENT,
        with_stock(
            "/api/sales/cash-registers/", lambda k, _p: {"name": unique("T"), "shop": k.shop_id}
        ),
    ),
    ("GET", "/api/sales/cash-registers/{register_id}/"): Case(EVERYONE, on_register()),
    ("PATCH", "/api/sales/cash-registers/{register_id}/"): Case(
        MANAGEMENT, on_register({"is_active": False})
    ),
    # shifts: cashiers run their own, managers and owners any; stockkeepers never sell
    ("GET", "/api/sales/sessions/"): Case(SHIFT_ROLES, fixed("/api/sales/sessions/")),
    ("POST", "/api/sales/sessions/"): Case(SHIFT_ROLES, new_shift_body()),
    ("GET", "/api/sales/sessions/{shift_id}/"): Case(SHIFT_ROLES, on_cashiers_shift("")),
    ("POST", "/api/sales/sessions/{shift_id}/cash/"): Case(
        SHIFT_ROLES, on_cashiers_shift("cash/", {"kind": "in", "amount": "5", "reason": "change"})
    ),
    ("GET", "/api/sales/sessions/{shift_id}/cash/"): Case(SHIFT_ROLES, on_cashiers_shift("cash/")),
    ("GET", "/api/sales/sessions/{shift_id}/x-report/"): Case(
        SHIFT_ROLES, on_cashiers_shift("x-report/")
    ),
    ("POST", "/api/sales/sessions/{shift_id}/close/"): Case(
        SHIFT_ROLES, on_cashiers_shift("close/", {"closing_cash": "100"})
    ),
    # sales: cashiers, managers and owners sell and see sales; stockkeepers never
    ("POST", "/api/sales/sales/"): Case(SHIFT_ROLES, sale_body()),
    ("GET", "/api/sales/sales/"): Case(SHIFT_ROLES, fixed("/api/sales/sales/")),
    ("GET", "/api/sales/sales/{sale_id}/"): Case(SHIFT_ROLES, on_sale()),
    ("POST", "/api/sales/carts/"): Case(SHIFT_ROLES, on_cashiers_cart(opened=False)),
    ("GET", "/api/sales/carts/"): Case(SHIFT_ROLES, fixed("/api/sales/carts/")),
    ("GET", "/api/sales/carts/{cart_id}/"): Case(SHIFT_ROLES, on_cashiers_cart(opened=True)),
    ("POST", "/api/sales/returns/"): Case(MANAGEMENT, return_body()),
    # catalogue: everyone looks up; stockkeepers, managers and owners edit
    ("GET", "/api/products/categories/"): Case(EVERYONE, fixed("/api/products/categories/")),
    ("POST", "/api/products/categories/"): Case(
        STOCKKEEPING, fresh("/api/products/categories/", lambda: {"name": unique("Cat")})
    ),
    ("GET", "/api/products/categories/{category_id}/"): Case(EVERYONE, on_category()),
    ("PATCH", "/api/products/categories/{category_id}/"): Case(
        STOCKKEEPING, on_category(lambda: {"name": unique("Renamed")})
    ),
    ("DELETE", "/api/products/categories/{category_id}/"): Case(STOCKKEEPING, on_category()),
    ("GET", "/api/products/suppliers/"): Case(EVERYONE, fixed("/api/products/suppliers/")),
    ("POST", "/api/products/suppliers/"): Case(
        STOCKKEEPING, fixed("/api/products/suppliers/", {"name": "Acme"})
    ),
    ("GET", "/api/products/suppliers/{supplier_id}/"): Case(EVERYONE, on_supplier()),
    ("PATCH", "/api/products/suppliers/{supplier_id}/"): Case(
        STOCKKEEPING, on_supplier({"phone": "+7 900 000-00-00"})
    ),
    ("GET", "/api/products/products/"): Case(EVERYONE, fixed("/api/products/products/")),
    ("POST", "/api/products/products/"): Case(
        STOCKKEEPING, fixed("/api/products/products/", {"name": "Tea", "price": "99.90"})
    ),
    ("GET", "/api/products/products/{product_id}/"): Case(EVERYONE, on_product()),
    ("PATCH", "/api/products/products/{product_id}/"): Case(
        STOCKKEEPING, on_product("", {"price": "11.00"})
    ),
    ("DELETE", "/api/products/products/{product_id}/"): Case(STOCKKEEPING, on_product()),
    ("GET", "/api/products/products/{product_id}/images/"): Case(EVERYONE, on_product("images/")),
    ("POST", "/api/products/products/{product_id}/images/"): Case(
        STOCKKEEPING, on_product("images/", Raw(png_bytes(), "image/png"))
    ),
    ("GET", "/api/products/products/{product_id}/images/{image_id}/"): Case(EVERYONE, on_image()),
    ("DELETE", "/api/products/products/{product_id}/images/{image_id}/"): Case(
        STOCKKEEPING, on_image()
    ),
    ("POST", "/api/products/import/"): Case(
        STOCKKEEPING, fixed("/api/products/import/", Raw(b"name,price\nTea,1.50\n", "text/csv"))
    ),
    # stock: everyone reads levels; stockkeepers, managers and owners move goods
    ("GET", "/api/products/batches/"): Case(EVERYONE, fixed("/api/products/batches/")),
    ("POST", "/api/products/batches/"): Case(
        STOCKKEEPING,
        with_stock(
            "/api/products/batches/",
            lambda k, p: {"product": p, "shop": k.shop_id, "quantity": "1"},
        ),
    ),
    ("GET", "/api/products/batches/{batch_id}/"): Case(EVERYONE, on_batch()),
    ("GET", "/api/products/stock/"): Case(EVERYONE, fixed("/api/products/stock/")),
    ("GET", "/api/products/stock/movements/"): Case(
        EVERYONE, fixed("/api/products/stock/movements/")
    ),
    ("POST", "/api/products/stock/adjustments/"): Case(
        STOCKKEEPING,
        with_stock(
            "/api/products/stock/adjustments/",
            lambda k, p: {"product": p, "shop": k.shop_id, "counted": "4", "reason": "count"},
        ),
    ),
    ("POST", "/api/products/stock/write-offs/"): Case(
        STOCKKEEPING,
        with_stock(
            "/api/products/stock/write-offs/",
            lambda k, p: {"product": p, "shop": k.shop_id, "quantity": "1", "reason": "broken"},
        ),
    ),
    ("POST", "/api/products/stock/transfers/"): Case(
        STOCKKEEPING,
        with_stock(
            "/api/products/stock/transfers/",
            lambda k, p: {
                "from_shop": k.shop_id,
                "to_shop": k.second_shop_id,
                "items": [{"product": p, "quantity": "1"}],
            },
        ),
    ),
    ("GET", "/api/customers/groups/"): Case(CUSTOMER_DESK, fixed("/api/customers/groups/")),
    ("POST", "/api/customers/groups/"): Case(MANAGEMENT, new_group_body()),
    ("GET", "/api/customers/groups/{group_id}/"): Case(CUSTOMER_DESK, on_group()),
    ("PATCH", "/api/customers/groups/{group_id}/"): Case(
        MANAGEMENT, on_group({"discount_percent": "7.5"})
    ),
    ("DELETE", "/api/customers/groups/{group_id}/"): Case(MANAGEMENT, on_group()),
    ("GET", "/api/customers/customers/"): Case(
        CUSTOMER_DESK, fixed("/api/customers/customers/?search=7916")
    ),
    ("POST", "/api/customers/customers/"): Case(CUSTOMER_DESK, new_customer_body()),
    ("GET", "/api/customers/customers/{customer_id}/"): Case(CUSTOMER_DESK, on_customer("")),
    ("PATCH", "/api/customers/customers/{customer_id}/"): Case(
        CUSTOMER_DESK, on_customer("", {"notes": "prefers e-receipts"})
    ),
    ("DELETE", "/api/customers/customers/{customer_id}/"): Case(MANAGEMENT, on_customer("")),
    ("POST", "/api/customers/customers/{customer_id}/top-up/"): Case(
        CUSTOMER_DESK, on_customer("top-up/", {"amount": "100"})
    ),
    ("POST", "/api/customers/customers/{customer_id}/refund/"): Case(
        MANAGEMENT, on_customer("refund/", {"amount": "10"}, balance="50")
    ),
    ("POST", "/api/customers/customers/{customer_id}/repay/"): Case(
        CUSTOMER_DESK, on_customer("repay/", {"amount": "10"}, debt="50")
    ),
    ("GET", "/api/customers/customers/{customer_id}/ledger/"): Case(
        CUSTOMER_DESK, on_customer("ledger/", balance="5")
    ),
    ("GET", "/api/customers/customers/{customer_id}/statement/"): Case(
        CUSTOMER_DESK, on_customer("statement/?format=csv", balance="5")
    ),
    ("GET", "/api/analytics/daily/"): Case(MANAGEMENT, in_shop("/api/analytics/daily/")),
    ("GET", "/api/analytics/daily/range/"): Case(
        MANAGEMENT, in_shop("/api/analytics/daily/range/", date_from="today", date_to="today")
    ),
    ("GET", "/api/analytics/top-products/"): Case(
        MANAGEMENT, fixed("/api/analytics/top-products/?format=csv")
    ),
    ("GET", "/api/analytics/slow-movers/"): Case(
        MANAGEMENT, in_shop("/api/analytics/slow-movers/", days="7")
    ),
    ("GET", "/api/analytics/rfm/"): Case(MANAGEMENT, fixed("/api/analytics/rfm/")),
    ("GET", "/api/analytics/at-risk/"): Case(MANAGEMENT, fixed("/api/analytics/at-risk/")),
    ("GET", "/api/analytics/stock-snapshots/"): Case(MANAGEMENT, snapshot_of_today()),
    ("GET", TASKS): Case(EVERYONE, fixed(TASKS + "?mine=true")),
    ("POST", TASKS): Case(MANAGEMENT, new_task_body()),
    ("GET", TASKS + "{task_id}/"): task_work(""),
    ("PATCH", TASKS + "{task_id}/"): Case(MANAGEMENT, on_task("", {"priority": "high"})),
    ("POST", TASKS + "{task_id}/status/"): task_work("status/", {"status": "in_progress"}),
    ("GET", TASKS + "{task_id}/comments/"): task_work("comments/"),
    ("POST", TASKS + "{task_id}/comments/"): task_work("comments/", {"body": "on it"}),
    ("GET", TASKS + "{task_id}/photos/"): task_work("photos/"),
    ("POST", TASKS + "{task_id}/photos/"): task_work("photos/", Raw(png_bytes(), "image/png")),
    ("GET", TASKS + "{task_id}/photos/{photo_id}/"): task_work("", photo=True),
    ("DELETE", TASKS + "{task_id}/photos/{photo_id}/"): task_work("", photo=True),
    ("GET", TEMPLATES): Case(MANAGEMENT, fixed(TEMPLATES)),
    ("POST", TEMPLATES): Case(MANAGEMENT, new_template_body()),
    ("GET", TEMPLATES + "{template_id}/"): Case(MANAGEMENT, on_template()),
    ("PUT", TEMPLATES + "{template_id}/"): Case(MANAGEMENT, on_template(with_body=True)),
    ("DELETE", TEMPLATES + "{template_id}/"): Case(MANAGEMENT, on_template()),
    ("POST", TEMPLATES + "{template_id}/run/"): Case(MANAGEMENT, on_template("run/")),
}

# Endpoints without a role: they are how one gets a token, or gives it back.
PUBLIC = {
    ("POST", "/api/users/auth/register/"),
    ("POST", "/api/users/auth/login/"),
    ("POST", "/api/users/auth/refresh/"),
    ("POST", "/api/users/auth/logout/"),
}


async def test_every_endpoint_is_in_the_matrix(client: httpx.AsyncClient) -> None:
    declared = {(e.method, e.path) for e in client.app.state.api.endpoints}  # type: ignore[attr-defined]
    assert declared == set(MATRIX) | PUBLIC


async def send(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    if isinstance(body, Raw):
        headers = {**headers, "content-type": body.media_type}
        return await client.request(method, path, content=body.content, headers=headers)
    return await client.request(method, path, json=body, headers=headers)


async def test_role_matrix(client: httpx.AsyncClient) -> None:
    # Staff in both shops, so that "allowed" can be shown to work for transfers too.
    kit = await build_tenant(client, both_shops=True)
    failures = []
    for (method, template), case in MATRIX.items():
        for role in ROLES:
            path, body = await case.path_and_body(client, kit, role)
            response = await send(client, method, path, body, kit.token(role))
            allowed = response.status_code != 403
            if allowed != (role in case.allowed) or response.status_code >= 500:
                failures.append(
                    f"{role:12} {method} {template}: {response.status_code} {response.text[:120]}"
                )
            elif allowed and template != "/api/users/auth/change-password/":
                # Allowed means it worked, not merely "was not refused".
                assert response.status_code < 300, f"{role} {method} {template}: {response.text}"
            if allowed is False:
                assert response.json()["error"]["code"] == "permission_denied"
    assert not failures, "\n".join(failures)


async def test_device_tokens_open_only_me_and_their_jobs(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    opened = set()
    for (method, template), case in MATRIX.items():
        path, body = await case.prepare(client, kit)
        response = await send(client, method, path, body, bearer(kit.device_token))
        expected = 200 if path == "/api/users/auth/me/" or case.device else 403
        assert response.status_code == expected, f"{method} {path}: {response.text}"
        if expected == 200:
            opened.add((method, template))
    assert opened == {
        ("GET", "/api/users/auth/me/"),
        ("GET", "/api/devices/jobs/"),
        ("POST", "/api/devices/jobs/{job_id}/done/"),
        ("POST", "/api/devices/jobs/{job_id}/failed/"),
        ("POST", "/api/devices/jobs/{job_id}/claim/"),
        ("POST", "/api/devices/jobs/{job_id}/start/"),
    }


async def test_returns_with_a_managers_pin(client: httpx.AsyncClient) -> None:
    """With a manager's PIN, everyone who sells may return (a cashier in their own
    shift); a stockkeeper, who sells nothing, still may not."""
    kit = await build_tenant(client)
    assert (await set_pin(client, kit.token("manager"), "2580")).status_code == 200
    for role in ROLES:
        path, body = await return_body()(client, kit)
        response = await client.post(
            path, json={**body, "manager_pin": "2580"}, headers=kit.token(role)
        )
        if role in SHIFT_ROLES:
            assert response.status_code == 201, f"{role}: {response.text}"
            approver = kit.members["manager"].id if role == "cashier" else None
            assert response.json()["approved_by"] == approver
        else:
            assert response.status_code == 403, f"{role}: {response.text}"
            assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("role", ["cashier", "stockkeeper"])
async def test_staff_see_only_their_own_shops(client: httpx.AsyncClient, role: str) -> None:
    kit = await build_tenant(client)
    listed = await client.get("/api/core/shops/", headers=kit.token(role))
    assert [s["id"] for s in listed.json()["results"]] == [kit.shop_id]
    other = await client.get(f"/api/core/shops/{kit.second_shop_id}/", headers=kit.token(role))
    assert other.status_code == 404
    owner_view = await client.get("/api/core/shops/", headers=kit.token("owner"))
    assert owner_view.json()["count"] == 2
