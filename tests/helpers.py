"""Building blocks for API tests: a registered business with staff of every role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "correct-horse-9"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "tenant_name": "Test Traders",
        "username": unique("owner"),
        "password": PASSWORD,
        "email": "owner@example.com",
        "shop_name": "Main Street",
    }
    body.update(fields)
    response = await client.post("/api/users/auth/register/", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    data["password"] = body["password"]
    return data


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(
        "/api/users/auth/login/", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@dataclass
class Member:
    id: str
    username: str
    token: str
    refresh: str


@dataclass
class TenantKit:
    """A business with a second shop, one user of each role and a device token."""

    tenant_id: str
    shop_id: str
    second_shop_id: str
    members: dict[str, Member] = field(default_factory=dict)
    device_id: str = ""
    device_token: str = ""

    def token(self, role: str) -> dict[str, str]:
        return bearer(self.members[role].token)


async def create_user(
    client: httpx.AsyncClient, token: str, role: str, shops: list[str], **fields: Any
) -> dict[str, Any]:
    body = {"username": unique(role), "password": PASSWORD, "role": role, "shops": shops}
    body.update(fields)
    response = await client.post("/api/users/users/", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def build_tenant(
    client: httpx.AsyncClient, *, both_shops: bool = False, timezone: str = "UTC"
) -> TenantKit:
    """`both_shops` binds the staff to both shops (by default only to the first). The
    business, and so both shops, keep `timezone`'s days: UTC unless a test says."""
    reg = await register(client, timezone=timezone)
    owner = Member(reg["user"]["id"], reg["user"]["username"], reg["access"], reg["refresh"])
    second = await client.post(
        "/api/core/shops/", json={"name": "Second Shop"}, headers=bearer(owner.token)
    )
    assert second.status_code == 201, second.text
    kit = TenantKit(reg["tenant"]["id"], reg["shop"]["id"], second.json()["id"])
    kit.members["owner"] = owner
    for role in ("manager", "cashier", "stockkeeper"):
        shops = [kit.shop_id, kit.second_shop_id] if both_shops else [kit.shop_id]
        user = await create_user(client, owner.token, role, shops)
        tokens = await login(client, user["username"])
        kit.members[role] = Member(
            user["id"], user["username"], tokens["access"], tokens["refresh"]
        )
    device = await client.post(
        "/api/users/device-tokens/",
        json={"name": "till agent", "shop": kit.shop_id},
        headers=bearer(owner.token),
    )
    assert device.status_code == 201, device.text
    kit.device_id = device.json()["id"]
    kit.device_token = device.json()["token"]
    return kit


def ean13(seed: int | None = None) -> str:
    """A valid EAN-13 (random unless seeded), in the in-store 20-29 prefix range."""
    body = f"2{(seed if seed is not None else uuid.uuid4().int) % 10**11:011d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


async def create_product(
    client: httpx.AsyncClient, kit: TenantKit, role: str = "owner", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": unique("Product"), "price": "10.00", "barcodes": [ean13()]}
    body.update(fields)
    response = await client.post("/api/products/products/", json=body, headers=kit.token(role))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def receive(
    client: httpx.AsyncClient,
    kit: TenantKit,
    product: str,
    quantity: str,
    shop: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product": product,
        "shop": shop or kit.shop_id,
        "quantity": quantity,
        "cost": "5.00",
    }
    body.update(fields)
    response = await client.post("/api/products/batches/", json=body, headers=kit.token("owner"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def stock_of(
    client: httpx.AsyncClient, kit: TenantKit, product: str, shop: str | None = None
) -> dict[str, Any]:
    response = await client.get(
        "/api/products/stock/",
        params={"shop": shop or kit.shop_id, "product": product},
        headers=kit.token("owner"),
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def png_bytes(size: tuple[int, int] = (64, 48), colour: str = "red") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


async def upload_image(
    client: httpx.AsyncClient, kit: TenantKit, product: str, data: bytes | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"/api/products/products/{product}/images/",
        content=data or png_bytes(),
        headers={**kit.token("owner"), "content-type": "image/png"},
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def path_ids(client: httpx.AsyncClient, kit: TenantKit) -> dict[str, str]:
    """One id for every path parameter of the API, all of `kit`'s tenant."""
    owner = kit.token("owner")
    category = await client.post(
        "/api/products/categories/", json={"name": unique("Cat")}, headers=owner
    )
    supplier = await client.post(
        "/api/products/suppliers/", json={"name": unique("Supplier")}, headers=owner
    )
    product = await create_product(client, kit)
    batch = await receive(client, kit, product["id"], "3")
    image = await upload_image(client, kit, product["id"])
    group = await client.post("/api/customers/groups/", json={"name": unique("VIP")}, headers=owner)
    customer = await client.post(
        "/api/customers/customers/",
        json={"name": "Customer", "phone": "+79161234567", "group": group.json()["id"]},
        headers=owner,
    )
    register = await client.post(
        "/api/sales/cash-registers/",
        json={"name": unique("Till"), "shop": kit.shop_id},
        headers=owner,
    )
    shift = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register.json()["id"], "opening_cash": "100"},
        headers=owner,
    )
    sale = await client.post(
        "/api/sales/sales/",
        json={
            "session": shift.json()["id"],
            "items": [{"product": product["id"], "quantity": "1"}],
            "payments": [{"method": "card", "amount": product["price"]}],
        },
        headers=owner,
    )
    assert sale.status_code == 201, sale.text
    cart = await client.post(
        "/api/sales/carts/", json={"session": shift.json()["id"]}, headers=owner
    )
    assert cart.status_code == 200, cart.text
    jobs = await client.get("/api/devices/jobs/", params={"ref": sale.json()["id"]}, headers=owner)
    (job,) = jobs.json()["results"]
    task = await client.post(
        "/api/tasks/tasks/",
        json={"title": "Tidy the window", "shop": kit.shop_id, "assignee": kit.members["owner"].id},
        headers=owner,
    )
    photo = await client.post(
        f"/api/tasks/tasks/{task.json()['id']}/photos/",
        content=png_bytes(),
        headers={**owner, "content-type": "image/png"},
    )
    template = await client.post(
        "/api/tasks/templates/",
        json={
            "title": "Opening checklist",
            "shop": kit.shop_id,
            "assignee_role": "cashier",
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
            "at": "08:00",
        },
        headers=owner,
    )
    assert template.status_code == 201, template.text
    return {
        "task_id": task.json()["id"],
        "photo_id": photo.json()["id"],
        "template_id": template.json()["id"],
        "cart_id": cart.json()["id"],
        "job_id": job["id"],
        "sale_id": sale.json()["id"],
        "register_id": register.json()["id"],
        "shift_id": shift.json()["id"],
        "user_id": kit.members["cashier"].id,
        "shop_id": kit.shop_id,
        "device_id": kit.device_id,
        "category_id": category.json()["id"],
        "supplier_id": supplier.json()["id"],
        "product_id": product["id"],
        "batch_id": batch["id"],
        "image_id": image["id"],
        "group_id": group.json()["id"],
        "customer_id": customer.json()["id"],
    }


async def set_pin(
    client: httpx.AsyncClient, headers: dict[str, str], pin: str | None, password: str = PASSWORD
) -> httpx.Response:
    """Set (or clear, with None) the bearer's own manager's PIN."""
    return await client.put(
        "/api/users/auth/pin/", json={"password": password, "pin": pin}, headers=headers
    )
