"""Catalogue and stock tables (tenant schema).

Stock is kept three ways that must agree, and `pos-hub check-stock` proves they do:
`stock_levels.on_hand` equals the sum of `stock_movements.quantity` for the shop and
product; `stock_levels.reserved` equals the sum of `stock_reservations`; and the batches'
`remaining` sum to on hand whenever on hand is not negative.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.adapters.db.tables import Shop, TenantBase
from hub.adapters.db.types import JsonDocument, Money, Quantity, utcnow
from hub.domain.ids import new_id


class Category(TenantBase):
    __tablename__ = "categories"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Supplier(TenantBase):
    __tablename__ = "suppliers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str] = mapped_column(String(32), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    notes: Mapped[str] = mapped_column(String(2000), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(TenantBase):
    __tablename__ = "products"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(300))
    # Case-folded name (see hub.domain.catalogue.fold), the column search reads.
    name_folded: Mapped[str] = mapped_column(String(300))
    sku: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(Category.id, ondelete="RESTRICT"), index=True, default=None
    )
    supplier_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(Supplier.id, ondelete="RESTRICT"), index=True, default=None
    )
    unit: Mapped[str] = mapped_column(String(16), default="piece")
    price: Mapped[Decimal] = mapped_column(Money())
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    vat_rate: Mapped[Decimal | None] = mapped_column(Money(), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        # Substring search on names, Cyrillic included: a trigram index on PostgreSQL.
        Index(
            "ix_products_name_trgm",
            "name_folded",
            postgresql_using="gin",
            postgresql_ops={"name_folded": "gin_trgm_ops"},
        ),
        Index("ix_products_name_folded", "name_folded"),
    )


class Barcode(TenantBase):
    """A product's barcodes; the code is unique within the tenant (its own schema)."""

    __tablename__ = "barcodes"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Product.id, ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))


class ProductImage(TenantBase):
    __tablename__ = "product_images"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Product.id, ondelete="CASCADE"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    size: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockLevel(TenantBase):
    """On hand and reserved per shop and product; the row a stock change locks."""

    __tablename__ = "stock_levels"

    shop_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Shop.id, ondelete="RESTRICT"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(Product.id, ondelete="RESTRICT"), primary_key=True, index=True
    )
    on_hand: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal("0"))
    reserved: Mapped[Decimal] = mapped_column(Quantity(), default=Decimal("0"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Batch(TenantBase):
    """A lot of goods received into a shop (partiya)."""

    __tablename__ = "batches"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Product.id, ondelete="RESTRICT"))
    batch_number: Mapped[str] = mapped_column(String(64), default="")
    supplier_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(Supplier.id, ondelete="RESTRICT"), default=None
    )
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    expiry_date: Mapped[date | None] = mapped_column(Date, default=None)
    cost: Mapped[Decimal] = mapped_column(Money())
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    remaining: Mapped[Decimal] = mapped_column(Quantity())
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)

    __table_args__ = (Index(None, "shop_id", "product_id", "remaining"),)


class StockMovement(TenantBase):
    """The ledger: every change of on-hand stock, signed, with who, when and why."""

    __tablename__ = "stock_movements"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Product.id, ondelete="RESTRICT"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(Batch.id, ondelete="RESTRICT"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    reason: Mapped[str] = mapped_column(String(500), default="")
    # The document that caused it: a sale, a return or a transfer.
    ref_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    # For sales and returns: the sale, so a return finds what it may give back.
    sale_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index(None, "shop_id", "product_id", "created_at"),
        Index(None, "created_at"),
    )


class StockReservation(TenantBase):
    """Stock held by a live cart (the holder) until it is sold or released."""

    __tablename__ = "stock_reservations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    holder_id: Mapped[uuid.UUID] = mapped_column(index=True)
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Shop.id, ondelete="RESTRICT"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Product.id, ondelete="RESTRICT"))
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("holder_id", "shop_id", "product_id"),)
