"""Returns over HTTP: partial then the rest, never more than sold, refunds to the sale's
own tenders (cash from the drawer, credit off the debt), stock back, shift reports."""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

import httpx
import pytest

from hub.adapters.db.sales_tables import SaleReturn
from hub.adapters.db.uow import UnitOfWork
from hub.domain.accounts import InvalidPin
from hub.services import returns
from tests.e2e.test_sales import Till, customer_in_vip, stocked
from tests.helpers import (
    TenantKit,
    bearer,
    build_tenant,
    create_user,
    login,
    set_pin,
    stock_of,
)


async def give_back(
    client: httpx.AsyncClient, kit: object, sale: str, items: list[dict[str, str]], **extra: str
) -> httpx.Response:
    return await client.post(
        "/api/sales/returns/",
        json={"sale": sale, "items": items, **extra},
        headers=kit.token("manager"),  # type: ignore[attr-defined]
    )


async def test_partial_then_full_return_of_a_mixed_sale(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "100.00", "10")
    anna = await customer_in_vip(client, kit, credit_limit="1000.00")
    till = await Till(client, kit).open("200.00")
    # 3 x 100 with the VIP 10 %: 270.00; 90 on credit, 180 in cash (tendered 200).
    sold = await till.sell(
        [{"product": tea, "quantity": "3"}],
        [{"method": "credit", "amount": "90.00"}, {"method": "cash", "amount": "200.00"}],
        customer=anna,
    )
    assert sold.json()["total"] == "270.00"
    sale = sold.json()["id"]

    first = await give_back(client, kit, sale, [{"product": tea, "quantity": "1"}])
    assert first.status_code == 201, first.text
    assert first.json()["refund_total"] == "90.00"
    assert first.json()["number"] == 1  # the till's first return receipt
    assert {r["method"]: r["amount"] for r in first.json()["refunds"]} == {
        "cash": "60.00",
        "credit": "30.00",
    }
    customer = await client.get(f"/api/customers/customers/{anna}/", headers=kit.token("owner"))
    assert customer.json()["debt"] == "60.00"
    assert (await stock_of(client, kit, tea))["on_hand"] == "8.000"

    too_many = await give_back(client, kit, sale, [{"product": tea, "quantity": "3"}])
    assert too_many.status_code == 400
    assert "items.0.quantity" in too_many.json()["error"]["fields"]

    rest = await give_back(client, kit, sale, [{"product": tea, "quantity": "2"}])
    assert rest.json()["refund_total"] == "180.00"
    assert rest.json()["number"] == 2
    customer = await client.get(f"/api/customers/customers/{anna}/", headers=kit.token("owner"))
    assert customer.json()["debt"] == "0.00"
    assert (await stock_of(client, kit, tea))["on_hand"] == "10.000"
    nothing_left = await give_back(client, kit, sale, [{"product": tea, "quantity": "1"}])
    assert nothing_left.status_code == 400

    x = await client.get(
        f"/api/sales/sessions/{till.shift}/x-report/", headers=kit.token("manager")
    )
    report = x.json()
    assert (report["returns"], report["returns_total"], report["net_total"]) == (
        2,
        "270.00",
        "0.00",
    )
    assert report["payments"]["cash"] == {
        "sales": "180.00",
        "refunds": "180.00",
        "net": "0.00",
        "count": 3,
    }
    assert report["expected_cash"] == "200.00"


async def test_thirds_come_back_to_the_cent(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    item = await stocked(client, kit, "3.33", "9")
    till = await Till(client, kit).open()
    sold = await till.sell(
        [{"product": item, "quantity": "3"}], [{"method": "card", "amount": "9.99"}]
    )
    sale = sold.json()["id"]
    refunds = []
    for _ in range(3):
        back = await give_back(client, kit, sale, [{"product": item, "quantity": "1"}])
        assert back.status_code == 201, back.text
        refunds.append(back.json()["refund_total"])
    assert refunds == ["3.33", "3.33", "3.33"]


async def test_who_may_return_and_retries(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    tea = await stocked(client, kit, "10.00", "5")
    till = await Till(client, kit).open()
    sold = await till.sell(
        [{"product": tea, "quantity": "2"}], [{"method": "cash", "amount": "20"}]
    )
    body = {"sale": sold.json()["id"], "items": [{"product": tea, "quantity": "1"}]}
    cashier = await client.post("/api/sales/returns/", json=body, headers=kit.token("cashier"))
    assert cashier.status_code == 403
    headers = {**kit.token("manager"), "Idempotency-Key": "ret-1"}
    first = await client.post("/api/sales/returns/", json=body, headers=headers)
    again = await client.post("/api/sales/returns/", json=body, headers=headers)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await stock_of(client, kit, tea))["on_hand"] == "4.000"
    # A closed shift pays nothing out.
    await client.post(
        f"/api/sales/sessions/{till.shift}/close/",
        json={"closing_cash": "510"},
        headers=kit.token("cashier"),
    )
    closed = await client.post("/api/sales/returns/", json=body, headers=kit.token("manager"))
    assert closed.status_code == 409
    assert "session" in closed.json()["error"]["fields"]


async def test_refusals_name_what_the_request_said(client: httpx.AsyncClient) -> None:
    """A refused return names the line at fault, or the shift whose drawer would pay."""
    kit = await build_tenant(client)
    tea, coffee = await stocked(client, kit, "10.00", "5"), await stocked(client, kit, "8.00", "5")
    selling, empty = await Till(client, kit).open(), await Till(client, kit).open("0.00")
    sold = await selling.sell(
        [{"product": tea, "quantity": "2"}, {"product": coffee, "quantity": "1"}],
        [{"method": "cash", "amount": "28.00"}],
    )
    sale = sold.json()["id"]
    half = await give_back(
        client,
        kit,
        sale,
        [{"product": tea, "quantity": "1"}, {"product": coffee, "quantity": "0.5"}],
    )
    too_many = await give_back(
        client, kit, sale, [{"product": tea, "quantity": "1"}, {"product": coffee, "quantity": "2"}]
    )
    from_empty = await give_back(
        client, kit, sale, [{"product": tea, "quantity": "1"}], session=empty.shift
    )
    assert half.status_code == 400
    assert half.json()["error"]["fields"] == {"items.1.quantity": "at most whole units"}
    assert too_many.json()["error"]["fields"] == {"items.1.quantity": "at most 1.000 more"}
    assert from_empty.status_code == 400
    assert from_empty.json()["error"]["fields"] == {"session": "the drawer should hold 0.00"}
    assert (await stock_of(client, kit, tea))["on_hand"] == "3.000"


# --- a cashier's return with a manager's PIN ----------------------------------------------


async def sold_in_cashiers_shift(
    client: httpx.AsyncClient, kit: TenantKit, quantity: str = "3"
) -> tuple[Till, str, str]:
    """A till run by the kit's cashier, a product at 10.00 and a cash sale of `quantity`."""
    tea = await stocked(client, kit, "10.00", "10")
    till = await Till(client, kit).open("100.00")
    sold = await till.sell(
        [{"product": tea, "quantity": quantity}], [{"method": "cash", "amount": "100.00"}]
    )
    assert sold.status_code == 201, sold.text
    return till, tea, sold.json()["id"]


async def cashier_returns(
    client: httpx.AsyncClient, kit: TenantKit, sale: str, product: str, role: str = "cashier",
    **approval: str,
) -> httpx.Response:  # fmt: skip
    return await client.post(
        "/api/sales/returns/",
        json={"sale": sale, "items": [{"product": product, "quantity": "1"}], **approval},
        headers=kit.token(role),
    )


async def nothing_returned(client: httpx.AsyncClient, kit: TenantKit, till: Till, tea: str) -> None:
    assert (await stock_of(client, kit, tea))["on_hand"] == "7.000"
    x = await client.get(f"/api/sales/sessions/{till.shift}/x-report/", headers=kit.token("owner"))
    assert (x.json()["returns"], x.json()["returns_total"]) == (0, "0.00")
    assert x.json()["expected_cash"] == "130.00"


async def test_a_cashier_returns_with_a_managers_pin(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    manager = kit.members["manager"]
    assert (await set_pin(client, kit.token("manager"), "2580")).json() == {"has_pin": True}
    till, tea, sale = await sold_in_cashiers_shift(client, kit)

    # Without naming anyone: the shop's managers and owners are tried.
    first = await cashier_returns(client, kit, sale, tea, manager_pin="2580")
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["user"], made["approved_by"]) == (kit.members["cashier"].id, manager.id)
    assert made["refund_total"] == "10.00"
    # Naming the manager, and the owner's own PIN, work as well.
    named = await cashier_returns(client, kit, sale, tea, manager_pin="2580", manager=manager.id)
    assert named.status_code == 201, named.text
    assert named.json()["approved_by"] == manager.id
    await set_pin(client, kit.token("owner"), "97531")
    by_owner = await cashier_returns(client, kit, sale, tea, manager_pin="97531")
    assert by_owner.json()["approved_by"] == kit.members["owner"].id
    assert (await stock_of(client, kit, tea))["on_hand"] == "10.000"
    x = await client.get(f"/api/sales/sessions/{till.shift}/x-report/", headers=kit.token("owner"))
    assert (x.json()["returns"], x.json()["returns_total"], x.json()["expected_cash"]) == (
        3,
        "30.00",
        "100.00",
    )

    # A manager returns alone: no approver, and a PIN sent along changes nothing.
    _, tea2, sale2 = await sold_in_cashiers_shift(client, kit)
    alone = await cashier_returns(client, kit, sale2, tea2, role="manager", manager_pin="0000")
    assert alone.status_code == 201, alone.text
    assert (alone.json()["user"], alone.json()["approved_by"]) == (manager.id, None)
    # The stored digest is the request's without the PIN: the same as a manager's.
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id)) as uow:
        row = await uow.session.get(SaleReturn, uuid.UUID(made["id"]))
        assert row is not None
        expected = returns.ReturnRequest(
            uuid.UUID(sale), (returns.ReturnItem(uuid.UUID(tea), Decimal("1")),)
        ).digest()
        assert row.request_digest == expected
        assert row.approved_by == uuid.UUID(manager.id)


async def test_wrong_or_missing_pin_changes_nothing(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await set_pin(client, kit.token("manager"), "2580")
    till, tea, sale = await sold_in_cashiers_shift(client, kit)
    missing = await cashier_returns(client, kit, sale, tea)
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "permission_denied"
    assert missing.json()["error"]["fields"] == {"manager_pin": "required"}
    for approval in (
        {"manager_pin": "2581"},
        {"manager_pin": "2580", "manager": kit.members["owner"].id},  # the owner has no PIN
        {"manager_pin": "2580", "manager": kit.members["cashier"].id},
    ):
        await refused_pin(await cashier_returns(client, kit, sale, tea, **approval))
    unknown = await cashier_returns(
        client, kit, sale, tea, manager_pin="2580", manager=str(uuid.uuid4())
    )
    assert unknown.status_code == 404
    assert "manager" in unknown.json()["error"]["fields"]
    await nothing_returned(client, kit, till, tea)
    # A stockkeeper sells nothing, so no PIN lets them return.
    keeper = await cashier_returns(client, kit, sale, tea, role="stockkeeper", manager_pin="2580")
    assert keeper.status_code == 403
    assert keeper.json()["error"]["code"] == "permission_denied"
    await nothing_returned(client, kit, till, tea)


async def refused_pin(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == InvalidPin.code.value
    assert set(response.json()["error"]["fields"]) == {"manager_pin"}


# Enough tries that only wrong PINs, never the throttle, answer here.
@pytest.mark.parametrize("settings", [{"pin_max_failures": 50}], indirect=True)
async def test_only_an_active_manager_of_the_shop_approves(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.members["owner"].token
    _, tea, sale = await sold_in_cashiers_shift(client, kit)
    # A manager of the second shop only: their PIN approves nothing in the first.
    far = await create_user(client, owner, "manager", [kit.second_shop_id])
    far_login = await login(client, far["username"])
    assert (await set_pin(client, bearer(far_login["access"]), "4826")).status_code == 200
    await refused_pin(await cashier_returns(client, kit, sale, tea, manager_pin="4826"))
    # A deactivated manager's PIN is refused, named or not, and stays cleared.
    gone = await create_user(client, owner, "manager", [kit.shop_id])
    gone_login = await login(client, gone["username"])
    assert (await set_pin(client, bearer(gone_login["access"]), "7392")).status_code == 200
    works = await cashier_returns(client, kit, sale, tea, manager_pin="7392")
    assert works.status_code == 201, works.text
    assert works.json()["approved_by"] == gone["id"]
    deactivated = await client.delete(f"/api/users/users/{gone['id']}/", headers=bearer(owner))
    assert deactivated.status_code == 204
    for approval in ({"manager_pin": "7392"}, {"manager_pin": "7392", "manager": gone["id"]}):
        await refused_pin(await cashier_returns(client, kit, sale, tea, **approval))
    back = await client.patch(
        f"/api/users/users/{gone['id']}/", json={"is_active": True}, headers=bearer(owner)
    )
    assert back.json()["is_active"] is True
    await refused_pin(await cashier_returns(client, kit, sale, tea, manager_pin="7392"))
    # A password reset, or a move to a role that approves nothing, clears the PIN too.
    await set_pin(client, kit.token("manager"), "5173")
    reset = await client.post(
        f"/api/users/users/{kit.members['manager'].id}/set-password/",
        json={"password": "a-new-password-5"},
        headers=bearer(owner),
    )
    assert reset.status_code == 204
    await refused_pin(await cashier_returns(client, kit, sale, tea, manager_pin="5173"))
    demoted = await create_user(client, owner, "manager", [kit.shop_id])
    await set_pin(client, bearer((await login(client, demoted["username"]))["access"]), "6284")
    await client.patch(
        f"/api/users/users/{demoted['id']}/", json={"role": "cashier"}, headers=bearer(owner)
    )
    await client.patch(
        f"/api/users/users/{demoted['id']}/", json={"role": "manager"}, headers=bearer(owner)
    )
    await refused_pin(await cashier_returns(client, kit, sale, tea, manager_pin="6284"))
    assert (await stock_of(client, kit, tea))["on_hand"] == "8.000"  # the one that worked


async def open_shift_as(client: httpx.AsyncClient, kit: TenantKit, headers: dict[str, str]) -> str:
    register = await client.post(
        "/api/sales/cash-registers/",
        json={"name": f"Till {uuid.uuid4().hex[:6]}", "shop": kit.shop_id},
        headers=kit.token("owner"),
    )
    shift = await client.post(
        "/api/sales/sessions/",
        json={"cash_register": register.json()["id"], "opening_cash": "50.00"},
        headers=headers,
    )
    assert shift.status_code == 201, shift.text
    return str(shift.json()["id"])


async def test_a_cashier_refunds_from_their_own_shift_only(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    await set_pin(client, kit.token("manager"), "2580")
    _, tea, sale = await sold_in_cashiers_shift(client, kit)
    theirs = await Till(client, kit).open()
    managers = await open_shift_as(client, kit, kit.token("manager"))
    refused = await cashier_returns(client, kit, sale, tea, manager_pin="2580", session=managers)
    assert refused.status_code == 403
    assert "session" in refused.json()["error"]["fields"]
    own = await cashier_returns(client, kit, sale, tea, manager_pin="2580", session=theirs.shift)
    assert own.status_code == 201, own.text
    assert own.json()["session"] == theirs.shift
    assert own.json()["number"] == 1  # numbered by the till that paid out


@pytest.mark.parametrize("settings", [{"pin_max_failures": 3}], indirect=True)
async def test_wrong_pins_are_throttled(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    manager = kit.members["manager"].id
    await set_pin(client, kit.token("manager"), "2580")
    till, tea, sale = await sold_in_cashiers_shift(client, kit)
    for guess in ("1111", "2222", "3333"):
        wrong = await cashier_returns(client, kit, sale, tea, manager_pin=guess, manager=manager)
        assert wrong.status_code == 403
    # Locked out now, even with the right PIN; so is anyone naming the same manager.
    locked = await cashier_returns(client, kit, sale, tea, manager_pin="2580")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 900
    await nothing_returned(client, kit, till, tea)
    other = await create_user(client, kit.members["owner"].token, "cashier", [kit.shop_id])
    other_headers = bearer((await login(client, other["username"]))["access"])
    body = {"sale": sale, "items": [{"product": tea, "quantity": "1"}], "session": till.shift}
    named = await client.post(
        "/api/sales/returns/",
        json={**body, "manager_pin": "2580", "manager": manager},
        headers=other_headers,
    )
    assert named.status_code == 429
    await nothing_returned(client, kit, till, tea)
    # The other cashier's own count is clean: without naming the manager, from their own
    # drawer, the right PIN works.
    own = await open_shift_as(client, kit, other_headers)
    unnamed = await client.post(
        "/api/sales/returns/",
        json={**body, "session": own, "manager_pin": "2580"},
        headers=other_headers,
    )
    assert unnamed.status_code == 201, unnamed.text
    assert unnamed.json()["approved_by"] == manager


async def test_a_pin_is_never_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """With every logger at DEBUG (SQL statements and their parameters included), neither
    a PIN being set nor one typed at a till, right or wrong, shows up."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQLAlchemy's own is WARN
    kit = await build_tenant(client)
    assert (await set_pin(client, kit.token("manager"), "80246139")).status_code == 200
    _, tea, sale = await sold_in_cashiers_shift(client, kit)
    await refused_pin(await cashier_returns(client, kit, sale, tea, manager_pin="80246138"))
    done = await cashier_returns(client, kit, sale, tea, manager_pin="80246139")
    assert done.status_code == 201, done.text
    # The SQL was logged, parameters and all (the approver's id among them).
    assert "sale_returns" in caplog.text
    assert kit.members["manager"].id.replace("-", "") in caplog.text.replace("-", "")
    assert "80246139" not in caplog.text
    assert "80246138" not in caplog.text
