"""The customer-account functions the sales module calls, against real stores: credit
limits under concurrency, idempotency, bonus cap and rounding, expiry, and returns that
restore exact amounts. Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from hub.adapters.db.customer_tables import Customer, CustomerBonusLot, CustomerLedgerEntry
from hub.adapters.db.database import Database, tenant_schema_name
from hub.adapters.db.migrate import create_tenant_at_head, migrate_all
from hub.adapters.db.tables import Tenant
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import UnitOfWork
from hub.domain.customers import (
    BonusCapExceeded,
    CreditLimitExceeded,
    InsufficientBalance,
    InsufficientBonus,
)
from hub.domain.errors import Conflict
from hub.domain.permissions import Role
from hub.services import customer_accounts as accounts
from hub.services import customers
from hub.services.principal import Principal
from hub.settings import Settings

D = Decimal


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings)
    try:
        if settings.is_sqlite:
            await migrate_all(database)
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def tenant(db: Database) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with UnitOfWork(db, tenant_id, write=True) as uow:
        await create_tenant_at_head(db, await uow.connection(), tenant_id)
        uow.tenants.add(Tenant(id=tenant_id, name="T", schema_name=tenant_schema_name(tenant_id)))
        await uow.commit()
    return tenant_id


def owner(tenant: uuid.UUID) -> Principal:
    return Principal(tenant_id=tenant, shop_ids=frozenset(), user_id=uuid.uuid4(), role=Role.OWNER)


async def configure(db: Database, tenant: uuid.UUID, **values: Any) -> None:
    async with UnitOfWork(db, tenant, write=True) as uow:
        for key, value in values.items():
            await uow.tenants.put_setting(key, value)
        await uow.commit()


async def new_customer(
    db: Database,
    tenant: uuid.UUID,
    *,
    credit_limit: str = "0",
    balance: str = "0",
    group: uuid.UUID | None = None,
) -> uuid.UUID:
    async with UnitOfWork(db, tenant, write=True) as uow:
        customer = await customers.create_customer(
            uow,
            owner(tenant),
            customers.CustomerFields(name="Buyer", credit_limit=D(credit_limit), group=group),
        )
    if D(balance):
        async with UnitOfWork(db, tenant, write=True) as uow:
            await customers.top_up(uow, owner(tenant), customer.id, customers.Payment(D(balance)))
    return customer.id


async def new_group(db: Database, tenant: uuid.UUID, bonus_rate: str | None) -> uuid.UUID:
    async with UnitOfWork(db, tenant, write=True) as uow:
        group = await customers.create_group(
            uow,
            owner(tenant),
            customers.GroupFields(
                name=f"G{uuid.uuid4().hex[:6]}",
                discount_percent=D("7.5"),
                bonus_rate=None if bonus_rate is None else D(bonus_rate),
            ),
        )
    return group.id


async def state(db: Database, tenant: uuid.UUID, customer_id: uuid.UUID) -> dict[str, Any]:
    """The accounts, the ledger's sums per account, and the lots' remainders."""
    async with UnitOfWork(db, tenant) as uow:
        customer = await uow.session.get(Customer, customer_id)
        assert customer is not None
        rows = list(
            await uow.session.scalars(
                select(CustomerLedgerEntry)
                .where(CustomerLedgerEntry.customer_id == customer_id)
                .order_by(CustomerLedgerEntry.seq)
            )
        )
        lots = list(
            await uow.session.scalars(
                select(CustomerBonusLot.remaining).where(
                    CustomerBonusLot.customer_id == customer_id
                )
            )
        )
    sums = {
        a: sum((r.amount for r in rows if r.account == a), D("0.00"))
        for a in ("balance", "debt", "bonus")
    }
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert (sums["balance"], sums["debt"], sums["bonus"]) == (
        customer.balance,
        customer.debt,
        customer.bonus,
    ), "the ledger must sum to the accounts"
    assert sum(lots, D("0.00")) == customer.bonus, "the lots must hold the bonus"
    if rows:
        last = rows[-1]
        assert (last.balance_after, last.debt_after, last.bonus_after) == (
            customer.balance,
            customer.debt,
            customer.bonus,
        )
    return {
        "balance": customer.balance,
        "debt": customer.debt,
        "bonus": customer.bonus,
        "rows": rows,
    }


async def run(db: Database, tenant: uuid.UUID, call: Any, *args: Any, **kw: Any) -> Any:
    """One sales transaction: the call, then commit."""
    async with UnitOfWork(db, tenant, write=True) as uow:
        result = await call(uow, *args, **kw)
        await uow.commit()
        return result


# ---------------------------------------------------------------- concurrency


async def test_concurrent_credit_charges_never_pass_the_limit(
    db: Database, tenant: uuid.UUID
) -> None:
    customer = await new_customer(db, tenant, credit_limit="100.00")
    amounts = [D("30.00"), D("25.50"), D("10.01"), D("40.00"), D("19.99")] * 2

    async def sale(amount: Decimal) -> Decimal:
        await run(db, tenant, accounts.charge_credit, customer, amount, uuid.uuid4(), None)
        return amount

    results = await asyncio.gather(*(sale(a) for a in amounts), return_exceptions=True)
    accepted = [r for r in results if isinstance(r, Decimal)]
    refused = [r for r in results if not isinstance(r, Decimal)]
    assert all(isinstance(r, CreditLimitExceeded) for r in refused), refused
    assert accepted
    assert refused
    after = await state(db, tenant, customer)
    assert after["debt"] == sum(accepted, D(0)) <= D("100.00")
    assert sorted(r.amount for r in after["rows"]) == sorted(accepted)
    # Whatever was refused did not fit when its turn came, and debt only grows since:
    # none of the refused amounts fits now. (Not the smallest of all amounts: both 10.01
    # may be accepted with room left for a third that does not exist.)
    refused_amounts = [
        a for a, r in zip(amounts, results, strict=True) if not isinstance(r, Decimal)
    ]
    assert after["debt"] + min(refused_amounts) > D("100.00")


async def test_concurrent_repeats_of_one_sale_charge_once(db: Database, tenant: uuid.UUID) -> None:
    customer = await new_customer(db, tenant, credit_limit="100")
    sale_id = uuid.uuid4()
    results = await asyncio.gather(
        *(
            run(db, tenant, accounts.charge_credit, customer, D("60"), sale_id, None)
            for _ in range(6)
        )
    )
    assert len({r.id for r in results}) == 1
    after = await state(db, tenant, customer)
    assert after["debt"] == D("60.00")
    assert len(after["rows"]) == 1


# ---------------------------------------------------------------- idempotency


async def test_every_function_is_idempotent(db: Database, tenant: uuid.UUID) -> None:
    await configure(db, tenant, bonus_accrual_percent="5")
    customer = await new_customer(db, tenant, credit_limit="500", balance="300")
    sale, user = uuid.uuid4(), uuid.uuid4()
    calls: list[tuple[Any, tuple[Any, ...]]] = [
        (accounts.charge_credit, (customer, D("100"), sale, user)),
        (accounts.pay_from_balance, (customer, D("50"), sale, user)),
        (accounts.accrue_bonus, (customer, D("150"), sale, user)),
        (accounts.redeem_bonus, (customer, D("3"), D("200"), sale, user)),
        (accounts.reverse_for_return, (customer, sale, uuid.uuid4(), D("0.5"), user)),
    ]
    for call, args in calls:
        first = await run(db, tenant, call, *args)
        before = await state(db, tenant, customer)
        again = await run(db, tenant, call, *args)
        after = await state(db, tenant, customer)
        assert (after["balance"], after["debt"], after["bonus"]) == (
            before["balance"],
            before["debt"],
            before["bonus"],
        ), call.__name__
        assert len(after["rows"]) == len(before["rows"]), call.__name__
        ids = [e.id for e in first] if isinstance(first, list) else first.id
        assert ids == ([e.id for e in again] if isinstance(again, list) else again.id)

    with pytest.raises(Conflict):
        await run(db, tenant, accounts.charge_credit, customer, D("100.01"), sale, user)
    other = await new_customer(db, tenant, credit_limit="500")
    with pytest.raises(Conflict):
        await run(db, tenant, accounts.charge_credit, other, D("100"), sale, user)


async def test_nothing_accrued_is_still_applied_once(db: Database, tenant: uuid.UUID) -> None:
    customer = await new_customer(db, tenant)
    sale = uuid.uuid4()
    assert await run(db, tenant, accounts.accrue_bonus, customer, D("100"), sale, None) is None
    await configure(db, tenant, bonus_accrual_percent="10")
    assert await run(db, tenant, accounts.accrue_bonus, customer, D("100"), sale, None) is None
    assert (await state(db, tenant, customer))["bonus"] == D("0.00")


async def test_functions_do_not_commit(db: Database, tenant: uuid.UUID) -> None:
    customer = await new_customer(db, tenant, credit_limit="100", balance="100")
    async with UnitOfWork(db, tenant, write=True) as uow:
        await accounts.charge_credit(uow, customer, D("10"), uuid.uuid4(), None)
        await accounts.pay_from_balance(uow, customer, D("10"), uuid.uuid4(), None)
        # the caller's transaction fails: no commit
    after = await state(db, tenant, customer)
    assert (after["debt"], after["balance"], len(after["rows"])) == (D("0.00"), D("100.00"), 1)


async def test_a_refusal_writes_nothing_and_the_sale_can_go_on(
    db: Database, tenant: uuid.UUID
) -> None:
    customer = await new_customer(db, tenant, credit_limit="50", balance="80")
    sale = uuid.uuid4()
    async with UnitOfWork(db, tenant, write=True) as uow:
        with pytest.raises(CreditLimitExceeded):
            await accounts.charge_credit(uow, customer, D("80"), sale, None)
        with pytest.raises(InsufficientBalance):
            await accounts.pay_from_balance(uow, customer, D("80.01"), sale, None)
        await accounts.pay_from_balance(uow, customer, D("80"), sale, None)
        await uow.commit()
    after = await state(db, tenant, customer)
    assert (after["debt"], after["balance"]) == (D("0.00"), D("0.00"))
    # The refused charge was not recorded: the same sale may still charge credit.
    await run(db, tenant, accounts.charge_credit, customer, D("50"), sale, None)
    assert (await state(db, tenant, customer))["debt"] == D("50.00")


# ---------------------------------------------------------------- bonus


async def test_bonus_rates_rounding_and_cap(db: Database, tenant: uuid.UUID) -> None:
    await configure(db, tenant, bonus_accrual_percent="2", bonus_redeem_cap_percent="50")
    vip = await new_group(db, tenant, bonus_rate="3.5")
    plain = await new_group(db, tenant, bonus_rate=None)
    in_vip = await new_customer(db, tenant, group=vip)
    in_plain = await new_customer(db, tenant, group=plain)
    alone = await new_customer(db, tenant)

    async with UnitOfWork(db, tenant) as uow:
        assert await accounts.group_discount_percent(uow, in_vip) == D("7.50")
        assert await accounts.group_discount_percent(uow, alone) == D("0.00")

    # 123.45 x 3.5 % = 4.32075 -> 4.32; x 2 % = 2.469 -> 2.47 (the tenant's rate)
    entry = await run(db, tenant, accounts.accrue_bonus, in_vip, D("123.45"), uuid.uuid4(), None)
    assert entry.amount == D("4.32")
    entry = await run(db, tenant, accounts.accrue_bonus, in_plain, D("123.45"), uuid.uuid4(), None)
    assert entry.amount == D("2.47")
    await run(db, tenant, accounts.accrue_bonus, alone, D("5000"), uuid.uuid4(), None)  # 100.00

    async with UnitOfWork(db, tenant) as uow:
        assert await accounts.redeemable_bonus(uow, alone, D("99.99")) == D("49.99")
        assert await accounts.redeemable_bonus(uow, alone, D("1000")) == D("100.00")
    with pytest.raises(BonusCapExceeded):  # 50 % of 99.99 is 49.995: the cap is 49.99
        await run(
            db, tenant, accounts.redeem_bonus, alone, D("50.00"), D("99.99"), uuid.uuid4(), None
        )
    entry = await run(
        db, tenant, accounts.redeem_bonus, alone, D("49.99"), D("99.99"), uuid.uuid4(), None
    )
    assert (entry.amount, entry.bonus_after) == (D("-49.99"), D("50.01"))
    with pytest.raises(InsufficientBonus):
        await run(
            db, tenant, accounts.redeem_bonus, alone, D("50.02"), D("1000"), uuid.uuid4(), None
        )
    await state(db, tenant, alone)


async def test_expired_points_are_not_redeemable(db: Database, tenant: uuid.UUID) -> None:
    await configure(db, tenant, bonus_accrual_percent="10", bonus_ttl_days=30)
    customer = await new_customer(db, tenant)
    start = utcnow() - timedelta(days=60)
    old, new = uuid.uuid4(), uuid.uuid4()
    await run(db, tenant, accounts.accrue_bonus, customer, D("100"), old, None, now=start)
    day_20 = start + timedelta(days=20)
    await run(db, tenant, accounts.accrue_bonus, customer, D("100"), new, None, now=day_20)
    # Day 25: 20 points; a redemption of 15 takes the first lot's 10 (it expires first)
    # and 5 of the second, which expires on day 50.
    day_25 = start + timedelta(days=25)
    await run(
        db,
        tenant,
        accounts.redeem_bonus,
        customer,
        D("15"),
        D("100"),
        uuid.uuid4(),
        None,
        now=day_25,
    )
    # Now (day 60) the remaining 5 have expired: nothing may be redeemed.
    async with UnitOfWork(db, tenant) as uow:
        assert await accounts.redeemable_bonus(uow, customer, D("1000")) == D("0.00")
    with pytest.raises(InsufficientBonus):
        await run(db, tenant, accounts.redeem_bonus, customer, D("1"), D("100"), uuid.uuid4(), None)
    await run(db, tenant, accounts.accrue_bonus, customer, D("10"), uuid.uuid4(), None)
    after = await state(db, tenant, customer)
    kinds = [(r.kind, r.amount) for r in after["rows"]]
    assert kinds == [
        ("bonus_accrual", D("10.00")),
        ("bonus_accrual", D("10.00")),
        ("bonus_redemption", D("-15.00")),
        ("bonus_expiry", D("-5.00")),
        ("bonus_accrual", D("1.00")),
    ]
    expiry = after["rows"][3]
    assert expiry.created_at == start + timedelta(days=50)
    assert after["bonus"] == D("1.00")


# ---------------------------------------------------------------- returns


async def test_partial_returns_restore_exact_amounts(db: Database, tenant: uuid.UUID) -> None:
    await configure(db, tenant, bonus_accrual_percent="5")
    customer = await new_customer(db, tenant, credit_limit="1000", balance="100")
    await run(db, tenant, accounts.accrue_bonus, customer, D("400"), uuid.uuid4(), None)  # 20
    sale = uuid.uuid4()
    await run(db, tenant, accounts.charge_credit, customer, D("100.00"), sale, None)
    await run(db, tenant, accounts.pay_from_balance, customer, D("33.33"), sale, None)
    await run(db, tenant, accounts.redeem_bonus, customer, D("10.00"), D("143.33"), sale, None)
    await run(db, tenant, accounts.accrue_bonus, customer, D("133.33"), sale, None)  # 6.67
    before = await state(db, tenant, customer)
    assert (before["debt"], before["balance"], before["bonus"]) == (
        D("100.00"),
        D("66.67"),
        D("16.67"),
    )

    third = D(1) / D(3)
    first = await run(
        db, tenant, accounts.reverse_for_return, customer, sale, uuid.uuid4(), third, None
    )
    assert {(e.kind, e.amount) for e in first} == {
        ("credit_reversal", D("-33.33")),
        ("balance_payment_reversal", D("11.11")),
        ("bonus_redemption_reversal", D("3.33")),
        ("bonus_accrual_reversal", D("-2.22")),
    }
    await run(db, tenant, accounts.reverse_for_return, customer, sale, uuid.uuid4(), third, None)
    last = await run(
        db,
        tenant,
        accounts.reverse_for_return,
        customer,
        sale,
        uuid.uuid4(),
        third,
        None,
        final=True,
    )
    assert {(e.kind, e.amount) for e in last} == {
        ("credit_reversal", D("-33.34")),
        ("balance_payment_reversal", D("11.11")),
        ("bonus_redemption_reversal", D("3.34")),
        ("bonus_accrual_reversal", D("-2.23")),
    }
    after = await state(db, tenant, customer)
    # Everything the sale did is undone, to the cent; the earlier 20 points remain.
    assert (after["debt"], after["balance"], after["bonus"]) == (
        D("0.00"),
        D("100.00"),
        D("20.00"),
    )
    # A further return of the same sale finds nothing left to give back.
    extra = await run(
        db, tenant, accounts.reverse_for_return, customer, sale, uuid.uuid4(), D("0.5"), None
    )
    assert extra == []


async def test_repaid_credit_comes_back_to_the_balance(db: Database, tenant: uuid.UUID) -> None:
    customer = await new_customer(db, tenant, credit_limit="100")
    sale = uuid.uuid4()
    await run(db, tenant, accounts.charge_credit, customer, D("80"), sale, None)
    async with UnitOfWork(db, tenant, write=True) as uow:
        await customers.repay(uow, owner(tenant), customer, customers.Payment(D("50")))
    entries = await run(
        db, tenant, accounts.reverse_for_return, customer, sale, uuid.uuid4(), D(1), None
    )
    assert [(e.account, e.amount) for e in entries] == [
        ("debt", D("-30.00")),
        ("balance", D("50.00")),
    ]
    after = await state(db, tenant, customer)
    assert (after["debt"], after["balance"]) == (D("0.00"), D("50.00"))


async def test_spent_accrued_points_are_not_clawed_below_zero(
    db: Database, tenant: uuid.UUID
) -> None:
    await configure(db, tenant, bonus_accrual_percent="10")
    customer = await new_customer(db, tenant)
    sale = uuid.uuid4()
    await run(db, tenant, accounts.accrue_bonus, customer, D("100"), sale, None)  # 10
    await run(db, tenant, accounts.redeem_bonus, customer, D("8"), D("100"), uuid.uuid4(), None)
    entries = await run(
        db, tenant, accounts.reverse_for_return, customer, sale, uuid.uuid4(), D(1), None
    )
    assert [(e.kind, e.amount) for e in entries] == [("bonus_accrual_reversal", D("-2.00"))]
    assert (await state(db, tenant, customer))["bonus"] == D("0.00")


async def test_expired_accrued_points_are_not_taken_back(db: Database, tenant: uuid.UUID) -> None:
    await configure(db, tenant, bonus_accrual_percent="10", bonus_ttl_days=30)
    customer = await new_customer(db, tenant)
    sale, later = uuid.uuid4(), uuid.uuid4()
    start = utcnow() - timedelta(days=40)
    await run(db, tenant, accounts.accrue_bonus, customer, D("100"), sale, None, now=start)
    await run(db, tenant, accounts.accrue_bonus, customer, D("50"), later, None)  # 5, fresh
    # The sale's 10 points expired on day 30: its return takes nothing of the later 5.
    entries = await run(
        db, tenant, accounts.reverse_for_return, customer, sale, uuid.uuid4(), D(1), None
    )
    assert entries == []
    assert (await state(db, tenant, customer))["bonus"] == D("5.00")


async def test_bad_arguments(db: Database, tenant: uuid.UUID) -> None:
    customer = await new_customer(db, tenant, credit_limit="100")
    for call, args in (
        (accounts.charge_credit, (customer, D("0"), uuid.uuid4(), None)),
        (accounts.charge_credit, (customer, D("1.001"), uuid.uuid4(), None)),
        (accounts.reverse_for_return, (customer, uuid.uuid4(), uuid.uuid4(), D("1.5"), None)),
        (accounts.reverse_for_return, (customer, uuid.uuid4(), uuid.uuid4(), D("0"), None)),
        (accounts.accrue_bonus, (customer, D("-1"), uuid.uuid4(), None)),
        (accounts.redeem_bonus, (customer, D("1"), D("0"), uuid.uuid4(), None)),
    ):
        with pytest.raises(Exception) as info:
            await run(db, tenant, call, *args)
        assert getattr(info.value, "code", None) == "validation_error", call.__name__
    with pytest.raises(Exception) as missing:
        await run(db, tenant, accounts.charge_credit, uuid.uuid4(), D("1"), uuid.uuid4(), None)
    assert getattr(missing.value, "code", None) == "not_found"
