"""A demo business for trying the hub: an owner, a manager, a cashier, a stockkeeper,
a small catalogue with stock in the shop, a cash register, two customers (one in a VIP
group, one with prepaid money and credit), a task for the stockkeeper and the cashiers'
daily opening checklist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal

from hub.adapters.db.repositories import PageRequest
from hub.adapters.db.types import utcnow
from hub.adapters.db.uow import SharedUnitOfWork, UnitOfWork
from hub.domain.accounts import normalise_username
from hub.domain.catalogue import Unit, gtin_check_digit
from hub.domain.permissions import Role
from hub.domain.tasks import TaskPriority
from hub.services import auth, catalogue, customers, shifts, stock, tasks, users
from hub.services.deps import Deps
from hub.services.principal import Principal

TENANT_NAME = "Demo Shop Ltd"
SHOP_NAME = "Demo Shop"
PASSWORD = "demo-pass-2026"
REGISTER_NAME = "Касса 1"
LOGINS = [
    ("demo.owner", Role.OWNER),
    ("demo.manager", Role.MANAGER),
    ("demo.cashier", Role.CASHIER),
    ("demo.stockkeeper", Role.STOCKKEEPER),
]


# name, category, unit, price, cost, VAT %, quantity, shelf life in days (None: keeps)
CATALOGUE = [
    ("Молоко 3,2% 1 л", "Молочное", Unit.PIECE, "89.90", "61.00", "10", "40", 10),
    ("Кефир 1% 900 г", "Молочное", Unit.PIECE, "79.50", "52.00", "10", "30", 7),
    ("Сыр Российский", "Молочное", Unit.KG, "899.00", "610.00", "10", "12.500", 60),
    ("Хлеб бородинский", "Выпечка", Unit.PIECE, "64.00", "38.00", "10", "25", 3),
    ("Круассан", "Выпечка", Unit.PIECE, "59.00", "27.00", "22", "30", 2),
    ("Вода питьевая 0,5 л", "Напитки", Unit.PIECE, "39.00", "14.00", "22", "120", None),
    ("Сок яблочный 1 л", "Напитки", Unit.PIECE, "129.00", "78.00", "22", "48", 180),
    ("Кофе зерновой 250 г", "Бакалея", Unit.PIECE, "549.00", "330.00", "22", "20", None),
]


def demo_barcode(index: int) -> str:
    """EAN-13s in the in-store range (prefix 2), check digit included."""
    body = f"2000000{index:05d}"
    return body + str(gtin_check_digit(body))


async def _fill_catalogue(deps: Deps, owner: Principal, shop_id: uuid.UUID) -> None:
    categories: dict[str, uuid.UUID] = {}
    for index, (name, group, unit, price, cost, vat, quantity, keeps) in enumerate(CATALOGUE):
        async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
            if group not in categories:
                made = await catalogue.create_category(uow, owner, group, None)
                categories[group] = made.id
        async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
            view = await catalogue.create_product(
                uow,
                owner,
                catalogue.ProductFields(
                    name=name,
                    price=Decimal(price),
                    cost=Decimal(cost),
                    sku=f"DEMO-{index + 1:03d}",
                    category_id=categories[group],
                    unit=unit,
                    vat_rate=Decimal(vat),
                    barcodes=[catalogue.BarcodeIn(demo_barcode(index + 1))],
                ),
            )
        async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
            await stock.receive(
                uow,
                owner,
                stock.Receipt(
                    shop_id=shop_id,
                    product_id=view.product.id,
                    quantity=Decimal(quantity),
                    batch_number=f"DEMO-{index + 1:03d}-1",
                    expiry_date=date.today() + timedelta(days=keeps) if keeps else None,
                ),
            )


@dataclass(frozen=True)
class Demo:
    tenant_name: str
    shop_name: str
    password: str
    logins: list[tuple[str, str]]
    created: bool


async def _add_customers(deps: Deps, owner: Principal) -> None:
    async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
        vip = await customers.create_group(
            uow, owner, customers.GroupFields(name="VIP", discount_percent=Decimal("10"))
        )
        await customers.create_customer(
            uow,
            owner,
            customers.CustomerFields(name="Анна Петрова", phone="+7 916 123-45-67", group=vip.id),
        )
    async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
        regular = await customers.create_customer(
            uow,
            owner,
            customers.CustomerFields(
                name="Борис Смирнов", phone="+7 903 555-12-34", credit_limit=Decimal("5000")
            ),
        )
    async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
        await customers.top_up(
            uow, owner, regular.id, customers.Payment(Decimal("500"), reference="demo")
        )


async def _add_tasks(deps: Deps, owner: Principal, shop_id: uuid.UUID) -> None:
    async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
        stockkeepers, _ = await uow.users.find(PageRequest(0, 1), role=Role.STOCKKEEPER.value)
        await tasks.create_task(
            uow,
            owner,
            tasks.TaskFields(
                shop=shop_id,
                title="Проверить сроки годности молочной продукции",
                assignment=tasks.Assignment(user=stockkeepers[0].id),
                priority=TaskPriority.HIGH,
                due_at=utcnow() + timedelta(hours=4),
                requires_photo=True,
            ),
        )
    async with UnitOfWork(deps.db, owner.tenant_id, write=True) as uow:
        await tasks.create_template(
            uow,
            owner,
            tasks.TemplateFields(
                shop=shop_id,
                title="Чек-лист открытия смены",
                description="Касса, весы, ценники, чистота торгового зала",
                assignment=tasks.Assignment(role=Role.CASHIER),
                weekdays=(0, 1, 2, 3, 4, 5, 6),
                at=time(8, 30),
                due_minutes=30,
            ),
        )


async def ensure_demo(deps: Deps) -> Demo:
    """Create the demo business unless its owner exists; idempotent."""
    logins = [(name, role.value) for name, role in LOGINS]
    async with SharedUnitOfWork(deps.db) as shared:
        exists = await shared.logins.username_taken(normalise_username(LOGINS[0][0]))
    if exists:
        return Demo(TENANT_NAME, SHOP_NAME, PASSWORD, logins, created=False)
    registered = await auth.register(
        deps,
        auth.Registration(
            tenant_name=TENANT_NAME,
            username=LOGINS[0][0],
            password=PASSWORD,
            shop_name=SHOP_NAME,
            email="owner@demo.example",
        ),
        auth.ClientInfo(),
    )
    owner = Principal(
        tenant_id=registered.tenant.id,
        shop_ids=frozenset({registered.shop.id}),
        user_id=registered.user.id,
        role=Role.OWNER,
    )
    for username, role in LOGINS[1:]:
        async with UnitOfWork(deps.db, registered.tenant.id, write=True) as uow:
            await users.create_user(
                deps,
                uow,
                owner,
                users.NewUser(
                    username=username, password=PASSWORD, role=role, shops=[registered.shop.id]
                ),
            )
    await _fill_catalogue(deps, owner, registered.shop.id)
    async with UnitOfWork(deps.db, registered.tenant.id, write=True) as uow:
        await shifts.create_register(uow, owner, registered.shop.id, REGISTER_NAME)
    await _add_customers(deps, owner)
    await _add_tasks(deps, owner, registered.shop.id)
    return Demo(TENANT_NAME, SHOP_NAME, PASSWORD, logins, created=True)
