"""Customers over REST: groups, registration, phones, search, filters, permissions, the
money desk (top-up, refund, repayment) with Idempotency-Key, the ledger and bonus
expiry. Runs on SQLite and PostgreSQL."""

# Cyrillic names are what the search must handle: letters that look Latin are meant.

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.services import customer_accounts
from tests.helpers import TenantKit, build_tenant

GROUPS = "/api/customers/groups/"
CUSTOMERS = "/api/customers/customers/"


async def new_customer(
    client: httpx.AsyncClient, kit: TenantKit, role: str = "owner", **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Иван Петров", "phone": "+7 916 123-45-67"}
    body.update(fields)
    response = await client.post(CUSTOMERS, json=body, headers=kit.token(role))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def new_group(client: httpx.AsyncClient, kit: TenantKit, **fields: Any) -> str:
    body: dict[str, Any] = {"name": "VIP", "discount_percent": "10"}
    body.update(fields)
    response = await client.post(GROUPS, json=body, headers=kit.token("owner"))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def charge(client: httpx.AsyncClient, kit: TenantKit, customer: str, amount: str) -> None:
    """A sale on credit, as the sales module will make it."""
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
        await customer_accounts.charge_credit(
            uow, uuid.UUID(customer), Decimal(amount), uuid.uuid4(), None
        )
        await uow.commit()


# ---------------------------------------------------------------- groups


async def test_groups_crud(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    created = await client.post(
        GROUPS, json={"name": "VIP", "discount_percent": "10"}, headers=owner
    )
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["id"]
    assert (group["discount_percent"], group["bonus_rate"]) == ("10.00", None)
    duplicate = await client.post(
        GROUPS, json={"name": " vip ", "discount_percent": 5}, headers=owner
    )
    assert duplicate.status_code == 409
    assert "name" in duplicate.json()["error"]["fields"]
    for bad in ("100.01", "-1", "1.234"):
        response = await client.post(
            GROUPS, json={"name": "X", "discount_percent": bad}, headers=owner
        )
        assert response.status_code == 400, bad
        assert "discount_percent" in response.json()["error"]["fields"]

    one = f"{GROUPS}{group['id']}/"
    changed = await client.patch(one, json={"bonus_rate": "3.5", "name": "Gold"}, headers=owner)
    assert changed.json()["bonus_rate"] == "3.50"
    assert changed.json()["name"] == "Gold"
    kept = await client.patch(one, json={"discount_percent": "12"}, headers=owner)
    assert kept.json()["bonus_rate"] == "3.50"
    cleared = await client.patch(one, json={"bonus_rate": None}, headers=owner)
    assert cleared.json()["bonus_rate"] is None
    listed = await client.get(GROUPS + "?search=gol", headers=kit.token("cashier"))
    assert [g["id"] for g in listed.json()["results"]] == [group["id"]]

    customer = await new_customer(client, kit, group=group["id"])
    busy = await client.delete(one, headers=owner)
    assert busy.status_code == 409
    await client.patch(f"{CUSTOMERS}{customer['id']}/", json={"group": None}, headers=owner)
    assert (await client.delete(one, headers=owner)).status_code == 204
    assert (await client.get(one, headers=owner)).status_code == 404


# ---------------------------------------------------------------- customers


async def test_create_customer_with_the_pilot_fields(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    group = await new_group(client, kit)
    response = await client.post(
        CUSTOMERS,
        json={
            "name": "ООО Ромашка",
            "phone": "8 (916) 123-45-67",
            "group": group,
            "credit_limit": "5000.00",
            "kind": "company",
            "legal_name": "ООО «Ромашка»",
            "tax_id": "7707083893",
            "email": "buh@romashka.example",
        },
        headers=kit.token("manager"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+79161234567"
    assert (body["balance"], body["debt"], body["bonus"]) == ("0.00", "0.00", "0.00")
    assert (body["credit_limit"], body["available_credit"]) == ("5000.00", "5000.00")
    assert (body["group"], body["kind"], body["is_active"]) == (group, "company", True)
    again = await client.get(f"{CUSTOMERS}{body['id']}/", headers=kit.token("cashier"))
    assert again.json() == body


@pytest.mark.parametrize(
    "phone", ["+79161234567", "89161234567", "8 916 123 45 67", "+7 (916) 123-45-67", "9161234567"]
)
async def test_phone_forms_collide(client: httpx.AsyncClient, phone: str) -> None:
    kit = await build_tenant(client)
    await new_customer(client, kit, phone="+7 916 123-45-67")
    duplicate = await client.post(
        CUSTOMERS, json={"name": "Другой", "phone": phone}, headers=kit.token("owner")
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "phone_taken"
    assert "phone" in duplicate.json()["error"]["fields"]


async def test_bad_phones_tax_ids_and_emails_are_field_errors(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    for body, field in (
        ({"name": "A", "phone": "12345"}, "phone"),
        ({"name": "A", "phone": "phone me"}, "phone"),
        ({"name": "A", "kind": "company", "tax_id": "7707083894"}, "tax_id"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "kind": "robot"}, "kind"),
        ({"name": "A", "credit_limit": "-1"}, "credit_limit"),
        ({"name": " "}, "name"),
    ):
        response = await client.post(CUSTOMERS, json=body, headers=owner)
        assert response.status_code == 400, (body, response.text)
        assert field in response.json()["error"]["fields"], (body, response.text)


async def test_tax_ids_are_free_form_outside_russia(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    response = await client.patch(
        "/api/core/tenant/", json={"settings": {"country": "DE"}}, headers=kit.token("owner")
    )
    assert response.status_code == 200, response.text
    customer = await new_customer(
        client, kit, kind="company", tax_id="DE123456789", phone="030 901820"
    )
    assert (customer["tax_id"], customer["phone"]) == ("DE123456789", "+4930901820")


async def test_search_by_phone_fragment_and_cyrillic_name(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    ivan = await new_customer(client, kit, name="Иван Петров", phone="+79161234567")
    olga = await new_customer(client, kit, name="ОЛЬГА Ёлкина", phone="+79037776655")
    corp = await new_customer(
        client, kit, name="Ромашка", kind="company", legal_name="ООО «Ромашка»", phone=None
    )
    cases = {
        "1234": [ivan],
        "8916123": [ivan],
        "+7 916": [ivan],
        "(903) 777": [olga],
        "иван": [ivan],
        "ПЕТРОВ": [ivan],
        "ольга": [olga],
        "елкина": [olga],
        "Ёлк": [olga],
        "ооо": [corp],
        "7": [ivan, olga],
        "nobody": [],
        "%": [],
        "_": [],
    }
    for term, expected in cases.items():
        response = await client.get(
            CUSTOMERS, params={"search": term}, headers=kit.token("cashier")
        )
        assert response.status_code == 200, response.text
        found = {c["id"] for c in response.json()["results"]}
        assert found == {c["id"] for c in expected}, term


async def test_filters(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    group = await new_group(client, kit)
    person = await new_customer(client, kit, phone="+79161111111", credit_limit="100")
    company = await new_customer(
        client, kit, name="Corp", kind="company", phone="+79162222222", group=group
    )
    gone = await new_customer(client, kit, name="Gone", phone="+79163333333")
    await client.delete(f"{CUSTOMERS}{gone['id']}/", headers=kit.token("manager"))
    await charge(client, kit, person["id"], "40")

    async def ids(query: str) -> set[str]:
        response = await client.get(f"{CUSTOMERS}?{query}", headers=kit.token("owner"))
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["results"]}

    assert await ids(f"group={group}") == {company["id"]}
    assert await ids("kind=company") == {company["id"]}
    assert await ids("is_active=false") == {gone["id"]}
    assert await ids("has_debt=true") == {person["id"]}
    assert await ids("has_debt=false&is_active=true") == {company["id"]}
    debtor = await client.get(f"{CUSTOMERS}{person['id']}/", headers=kit.token("cashier"))
    assert (debtor.json()["debt"], debtor.json()["available_credit"]) == ("40.00", "60.00")
    bad = await client.get(f"{CUSTOMERS}?has_debt=maybe", headers=kit.token("owner"))
    assert bad.status_code == 400
    # A group that is not this business's is not an empty list: as a ?shop= filter.
    unknown = await client.get(f"{CUSTOMERS}?group={uuid.uuid4()}", headers=kit.token("owner"))
    assert (unknown.status_code, list(unknown.json()["error"]["fields"])) == (404, ["group"])
    # Who owes, as a file.
    owing = await client.get(f"{CUSTOMERS}?has_debt=true&format=csv", headers=kit.token("owner"))
    assert owing.headers["content-type"].startswith("text/csv")
    header, row, *rest = owing.content.decode("utf-8-sig").splitlines()
    assert header.split(",")[:3] == ["id", "name", "phone"]
    assert (row.split(",")[0], row.split(",")[7], rest) == (person["id"], "40.00", [])
    book = await client.get(f"{CUSTOMERS}?kind=company&format=xlsx", headers=kit.token("owner"))
    sheet = load_workbook(io.BytesIO(book.content)).worksheets[0]
    assert [r[:2] for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        (company["id"], "Corp")
    ]


async def test_cashiers_may_not_set_groups_limits_or_deactivate(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    group = await new_group(client, kit)
    cashier = kit.token("cashier")
    customer = await new_customer(client, kit, role="cashier", email="a@example.com")
    one = f"{CUSTOMERS}{customer['id']}/"
    for body in ({"group": group}, {"credit_limit": "100"}, {"is_active": False}):
        response = await client.patch(one, json=body, headers=cashier)
        assert response.status_code == 403, body
        assert set(response.json()["error"]["fields"]) == set(body)
        with_it = await client.post(
            CUSTOMERS, json={"name": "X", **body, "phone": None}, headers=cashier
        )
        assert with_it.status_code in (400, 403), body  # is_active is no creation field
    edited = await client.patch(
        one, json={"notes": "likes tea", "phone": "89165554433", "email": ""}, headers=cashier
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["phone"], edited.json()["email"]) == ("+79165554433", "")
    # Sending the current values is no change and needs no right.
    same = await client.patch(one, json={"credit_limit": "0.00", "group": None}, headers=cashier)
    assert same.status_code == 200, same.text
    managed = await client.patch(
        one, json={"group": group, "credit_limit": "250.5"}, headers=kit.token("manager")
    )
    assert (managed.json()["group"], managed.json()["credit_limit"]) == (group, "250.50")
    unknown = await client.patch(one, json={"group": str(uuid.uuid4())}, headers=kit.token("owner"))
    assert unknown.status_code == 404
    assert "group" in unknown.json()["error"]["fields"]


# ---------------------------------------------------------------- the money desk


async def test_a_balance_beyond_what_the_books_hold_is_refused(client: httpx.AsyncClient) -> None:
    """Each top-up is within the largest amount, but a hundred of the largest make the
    most a balance can hold: one more is 409 `value_out_of_range` and writes nothing,
    on SQLite as on PostgreSQL (not a 500 on one and a silent success on the other)."""
    kit = await build_tenant(client)
    customer = await new_customer(client, kit)
    path = f"{CUSTOMERS}{customer['id']}/"
    owner = kit.token("owner")
    for _ in range(100):
        topped = await client.post(
            path + "top-up/", json={"amount": "9999999999.99"}, headers=owner
        )
        assert topped.status_code == 200, topped.text
    assert topped.json()["balance"] == "999999999999.00"
    refused = await client.post(path + "top-up/", json={"amount": "1.00"}, headers=owner)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "value_out_of_range"
    assert refused.json()["error"]["message"]
    after = await client.get(path, headers=owner)
    assert after.json()["balance"] == "999999999999.00"
    ledger = await client.get(path + "ledger/", headers=owner)
    assert ledger.json()["count"] == 100


async def test_top_up_refund_and_idempotency(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    customer = await new_customer(client, kit)
    path = f"{CUSTOMERS}{customer['id']}/"
    cashier = kit.token("cashier")
    first = await client.post(
        path + "top-up/",
        json={"amount": "1000.50", "reference": "cash"},
        headers={**cashier, "Idempotency-Key": "k-1"},
    )
    assert first.status_code == 200, first.text
    assert first.json()["balance"] == "1000.50"
    entry = first.json()["entry"]
    assert (entry["kind"], entry["account"], entry["amount"]) == ("top_up", "balance", "1000.50")
    assert entry["user"] == kit.members["cashier"].id

    retry = await client.post(
        path + "top-up/", json={"amount": "1000.50"}, headers={**cashier, "Idempotency-Key": "k-1"}
    )
    assert retry.status_code == 200
    assert retry.json() == first.json()
    reused = await client.post(
        path + "top-up/", json={"amount": "5"}, headers={**cashier, "Idempotency-Key": "k-1"}
    )
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    repay_reuse = await client.post(
        path + "repay/", json={"amount": "1000.50"}, headers={**cashier, "Idempotency-Key": "k-1"}
    )
    assert repay_reuse.json()["error"]["code"] == "idempotency_key_reused"
    second = await client.post(path + "top-up/", json={"amount": 10}, headers=cashier)
    assert second.json()["balance"] == "1010.50"

    refund_by_cashier = await client.post(path + "refund/", json={"amount": "10"}, headers=cashier)
    assert refund_by_cashier.status_code == 403
    too_much = await client.post(
        path + "refund/", json={"amount": "1010.51"}, headers=kit.token("manager")
    )
    assert too_much.status_code == 409
    assert too_much.json()["error"]["code"] == "insufficient_balance"
    refund = await client.post(
        path + "refund/", json={"amount": "0.50"}, headers=kit.token("manager")
    )
    assert refund.json()["balance"] == "1010.00"
    assert refund.json()["entry"]["amount"] == "-0.50"

    for amount in ("0", "-5", "1.001", "abc", None):
        bad = await client.post(path + "top-up/", json={"amount": amount}, headers=cashier)
        assert bad.status_code == 400, amount
    long_key = await client.post(
        path + "top-up/", json={"amount": "1"}, headers={**cashier, "Idempotency-Key": "x" * 101}
    )
    assert long_key.status_code == 400
    final = await client.get(path, headers=cashier)
    assert final.json()["balance"] == "1010.00"


async def test_repayment(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    customer = await new_customer(client, kit, credit_limit="500")
    path = f"{CUSTOMERS}{customer['id']}/"
    await charge(client, kit, customer["id"], "300")
    over = await client.post(
        path + "repay/", json={"amount": "300.01"}, headers=kit.token("cashier")
    )
    assert over.status_code == 409
    paid = await client.post(
        path + "repay/",
        json={"amount": "120", "reference": "PP-17"},
        headers={**kit.token("cashier"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status_code == 200, paid.text
    assert (paid.json()["debt"], paid.json()["entry"]["kind"]) == ("180.00", "repayment")
    assert paid.json()["entry"]["reference"] == "PP-17"


async def test_credit_limit_is_enforced(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    customer = await new_customer(client, kit, credit_limit="100")
    await charge(client, kit, customer["id"], "100")
    with pytest.raises(Exception) as info:
        await charge(client, kit, customer["id"], "0.01")
    assert getattr(info.value, "code", None) == "credit_limit_exceeded"


async def test_ledger_history(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    customer = await new_customer(client, kit, credit_limit="1000")
    path = f"{CUSTOMERS}{customer['id']}/"
    owner = kit.token("owner")
    for amount in ("10", "20", "30"):
        await client.post(path + "top-up/", json={"amount": amount}, headers=owner)
    await charge(client, kit, customer["id"], "99.99")
    await client.post(path + "repay/", json={"amount": "9.99"}, headers=owner)

    history = await client.get(path + "ledger/?page_size=2", headers=kit.token("cashier"))
    assert history.status_code == 200, history.text
    page = history.json()
    assert page["count"] == 5
    assert page["next"]
    assert [e["seq"] for e in page["results"]] == [5, 4]
    assert [e["kind"] for e in page["results"]] == ["repayment", "credit_charge"]
    assert page["results"][0]["debt_after"] == "90.00"
    top_ups = await client.get(path + "ledger/?kind=top_up", headers=owner)
    assert [e["amount"] for e in top_ups.json()["results"]] == ["30.00", "20.00", "10.00"]
    debts = await client.get(path + "ledger/?account=debt", headers=owner)
    assert debts.json()["count"] == 2
    today = utcnow().date()
    window = f"date_from={today - timedelta(days=1)}&date_to={today + timedelta(days=1)}"
    assert (await client.get(f"{path}ledger/?{window}", headers=owner)).json()["count"] == 5
    future = f"date_from={today + timedelta(days=2)}"
    assert (await client.get(f"{path}ledger/?{future}", headers=owner)).json()["count"] == 0
    backwards = await client.get(
        f"{path}ledger/?date_from={today}&date_to={today - timedelta(days=1)}", headers=owner
    )
    assert backwards.status_code == 400
    bad_kind = await client.get(path + "ledger/?kind=gift", headers=owner)
    assert bad_kind.status_code == 400


async def test_expired_bonus_is_written_off_when_read(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    settings = {"bonus_accrual_percent": "10", "bonus_ttl_days": 30}
    response = await client.patch("/api/core/tenant/", json={"settings": settings}, headers=owner)
    assert response.json()["settings"]["bonus_ttl_days"] == 30
    customer = await new_customer(client, kit)
    db = client.app.state.deps.db  # type: ignore[attr-defined]
    long_ago = utcnow() - timedelta(days=31)
    async with UnitOfWork(db, uuid.UUID(kit.tenant_id), write=True) as uow:
        for paid, when in (("200", long_ago), ("50", utcnow() - timedelta(days=10))):
            await customer_accounts.accrue_bonus(
                uow, uuid.UUID(customer["id"]), Decimal(paid), uuid.uuid4(), None, now=when
            )
        await uow.commit()

    listed = await client.get(CUSTOMERS, headers=owner)
    assert [c["bonus"] for c in listed.json()["results"]] == ["5.00"]
    history = await client.get(f"{CUSTOMERS}{customer['id']}/ledger/", headers=owner)
    kinds = [(e["kind"], e["amount"], e["bonus_after"]) for e in history.json()["results"]]
    assert kinds == [
        ("bonus_expiry", "-20.00", "5.00"),
        ("bonus_accrual", "5.00", "25.00"),
        ("bonus_accrual", "20.00", "20.00"),
    ]
    forever = await client.patch(
        "/api/core/tenant/", json={"settings": {"bonus_ttl_days": None}}, headers=owner
    )
    assert forever.json()["settings"]["bonus_ttl_days"] is None


async def test_text_that_a_store_cannot_keep_is_a_field_error(client: httpx.AsyncClient) -> None:
    kit = await build_tenant(client)
    owner = kit.token("owner")
    for path, body, field in (
        (CUSTOMERS, {"name": "a\u0000b"}, "name"),
        (CUSTOMERS, {"name": "a", "notes": "\u0000"}, "notes"),
        (GROUPS, {"name": "\u0000"}, "name"),
    ):
        response = await client.post(path, json=body, headers=owner)
        assert response.status_code == 400, response.text
        assert field in response.json()["error"]["fields"]
    search = await client.get(CUSTOMERS, params={"search": "a\u0000"}, headers=owner)
    assert search.status_code == 400
    # Folding may lengthen a name (NFKC, ß -> ss): its search key still fits its column.
    for name in ("\ufdfa" * 200, "ß" * 200):
        created = await client.post(CUSTOMERS, json={"name": name}, headers=owner)
        assert created.status_code == 201, created.text
    for name in ("\ufdfa" * 100, "ß" * 100):
        group = await client.post(GROUPS, json={"name": name}, headers=owner)
        assert group.status_code == 201, group.text
