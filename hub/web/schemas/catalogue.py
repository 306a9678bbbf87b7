"""Request and response shapes of the catalogue and stock API (Appendix A fields)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hub.domain.catalogue import MONEY_STEP, QUANTITY_STEP, BarcodeKind, Unit
from hub.services.catalogue import ProductView
from hub.services.stock import StockView
from hub.web.export import ExportQuery
from hub.web.schemas.common import Day, In, Instant, PageQuery

Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]
Quantity = Annotated[Decimal, Field(gt=0, le=Decimal("99999999999.999"), decimal_places=3)]
Count = Annotated[Decimal, Field(ge=0, le=Decimal("99999999999.999"), decimal_places=3)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(max_length=500)]


# --- categories ------------------------------------------------------------------------


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    parent: uuid.UUID | None = Field(validation_alias="parent_id")
    created_at: datetime


class CategoryCreateIn(In):
    name: Name
    parent: uuid.UUID | None = None


class CategoryUpdateIn(In):
    name: Name | None = None
    parent: uuid.UUID | None = Field(default=None, description="null moves it to the top")


class CategoryQuery(PageQuery):
    parent: uuid.UUID | None = None
    roots: bool = Field(default=False, description="only top-level categories")
    search: str | None = Field(default=None, max_length=100)


# --- suppliers -------------------------------------------------------------------------


class SupplierOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    tax_id: str
    phone: str
    email: str
    notes: str
    is_active: bool
    created_at: datetime


class SupplierCreateIn(In):
    name: Name
    tax_id: str = Field(default="", max_length=32)
    phone: str = Field(default="", max_length=32)
    email: str = Field(default="", max_length=254)
    notes: str = Field(default="", max_length=2000)


class SupplierUpdateIn(In):
    name: Name | None = None
    tax_id: str | None = Field(default=None, max_length=32)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    notes: str | None = Field(default=None, max_length=2000)
    is_active: bool | None = None


class SupplierQuery(PageQuery):
    is_active: bool | None = None
    search: str | None = Field(default=None, max_length=100)


# --- products --------------------------------------------------------------------------


class BarcodeOut(BaseModel):
    code: str
    kind: BarcodeKind


class BarcodeIn(In):
    code: str = Field(min_length=1, max_length=48)
    kind: BarcodeKind | None = Field(default=None, description="guessed from the digits if absent")


def _barcodes(value: object) -> object:
    """`barcodes` may be plain strings (Appendix A) or {code, kind} objects."""
    if isinstance(value, list):
        return [{"code": v} if isinstance(v, str) else v for v in value]
    return value


class ProductOut(BaseModel):
    id: uuid.UUID
    name: str
    sku: str | None
    category: uuid.UUID | None
    supplier: uuid.UUID | None
    unit: Unit
    price: Decimal
    cost: Decimal
    vat_rate: Decimal | None
    attributes: dict[str, str]
    barcodes: list[BarcodeOut]
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: ProductView) -> ProductOut:
        p = view.product
        return cls(
            id=p.id,
            name=p.name,
            sku=p.sku,
            category=p.category_id,
            supplier=p.supplier_id,
            unit=Unit(p.unit),
            price=p.price,
            cost=p.cost,
            vat_rate=p.vat_rate,
            attributes=p.attributes,
            barcodes=[BarcodeOut(code=b.code, kind=BarcodeKind(b.kind)) for b in view.barcodes],
            is_active=p.is_active,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


Attributes = Annotated[dict[str, Annotated[str, Field(max_length=200)]], Field(max_length=50)]


class ProductCreateIn(In):
    name: str = Field(min_length=1, max_length=300)
    price: Money
    sku: str | None = Field(default=None, max_length=64)
    category: uuid.UUID | None = None
    cost: Money = Decimal("0")
    barcodes: list[BarcodeIn] = Field(default_factory=list, max_length=50)
    unit: Unit = Unit.PIECE
    vat_rate: Decimal | None = Field(default=None, ge=0, le=100)
    supplier: uuid.UUID | None = None
    attributes: Attributes = Field(default_factory=dict)
    is_active: bool = True

    _split_barcodes = field_validator("barcodes", mode="before")(_barcodes)


class ProductUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    price: Money | None = None
    sku: str | None = Field(default=None, max_length=64)
    category: uuid.UUID | None = None
    cost: Money | None = None
    barcodes: list[BarcodeIn] | None = Field(default=None, max_length=50)
    unit: Unit | None = None
    vat_rate: Decimal | None = Field(default=None, ge=0, le=100)
    supplier: uuid.UUID | None = None
    attributes: Attributes | None = None
    is_active: bool | None = None

    _split_barcodes = field_validator("barcodes", mode="before")(_barcodes)


class ProductQuery(PageQuery, ExportQuery):
    # As long as a product's name, so a name copied whole finds its product.
    search: str | None = Field(
        default=None, max_length=300, description="name fragment, exact SKU or barcode"
    )
    barcode: str | None = Field(default=None, max_length=48)
    sku: str | None = Field(default=None, max_length=64)
    category: uuid.UUID | None = Field(default=None, description="includes subcategories")
    supplier: uuid.UUID | None = None
    is_active: bool | None = None


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product: uuid.UUID = Field(validation_alias="product_id")
    content_type: str
    width: int
    height: int
    size: int
    created_at: datetime


class ImageList(BaseModel):
    results: list[ImageOut]


class ImageQuery(In):
    model_config = ConfigDict(extra="ignore")
    thumbnail: bool = False


# --- batches and stock -----------------------------------------------------------------


class BatchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product: uuid.UUID = Field(validation_alias="product_id")
    shop: uuid.UUID = Field(validation_alias="shop_id")
    batch_number: str
    supplier: uuid.UUID | None = Field(validation_alias="supplier_id")
    received_at: datetime
    expiry_date: date | None
    cost: Decimal
    quantity: Decimal
    remaining: Decimal

    @field_validator("cost", "quantity", "remaining")
    @classmethod
    def _decimals(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        # A batch just received still holds the figures as the client typed them ("10"):
        # the answer shows them as every read does ("10.000").
        return value.quantize(MONEY_STEP if info.field_name == "cost" else QUANTITY_STEP)


class BatchCreateIn(In):
    product: uuid.UUID
    shop: uuid.UUID
    quantity: Quantity
    cost: Money | None = Field(default=None, description="the product's cost if absent")
    batch_number: str = Field(default="", max_length=64)
    expiry_date: Day | None = None
    supplier: uuid.UUID | None = None
    reason: Reason = ""


class BatchQuery(PageQuery):
    shop: uuid.UUID | None = None
    product: uuid.UUID | None = None
    remaining: bool = Field(default=False, description="only batches with stock left")
    expiring_before: Day | None = None


class StockOut(BaseModel):
    shop: uuid.UUID
    product: uuid.UUID
    on_hand: Decimal
    reserved: Decimal
    expired: Decimal
    available: Decimal

    @classmethod
    def of(cls, view: StockView) -> StockOut:
        return cls(
            shop=view.shop_id,
            product=view.product_id,
            on_hand=view.on_hand.quantize(QUANTITY_STEP),
            reserved=view.reserved.quantize(QUANTITY_STEP),
            expired=view.expired.quantize(QUANTITY_STEP),
            available=view.available.quantize(QUANTITY_STEP),
        )


class StockQuery(PageQuery, ExportQuery):
    shop: uuid.UUID | None = None
    product: uuid.UUID | None = None
    in_stock: bool | None = None


class MovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    shop: uuid.UUID = Field(validation_alias="shop_id")
    product: uuid.UUID = Field(validation_alias="product_id")
    batch: uuid.UUID | None = Field(validation_alias="batch_id")
    kind: str
    quantity: Decimal
    reason: str
    ref: uuid.UUID | None = Field(validation_alias="ref_id")
    sale: uuid.UUID | None = Field(validation_alias="sale_id")
    user: uuid.UUID | None = Field(validation_alias="user_id")
    created_at: datetime


MovementKindName = Literal[
    "receipt", "sale", "return", "adjustment", "write_off", "transfer_out", "transfer_in"
]


class MovementQuery(PageQuery, ExportQuery):
    shop: uuid.UUID | None = None
    product: uuid.UUID | None = None
    kind: MovementKindName | None = None
    ref: uuid.UUID | None = None
    date_from: Instant | None = None
    date_to: Instant | None = None


class AdjustmentIn(In):
    shop: uuid.UUID
    product: uuid.UUID
    counted: Count = Field(description="what the count found; on hand becomes this")
    reason: Reason = ""


class WriteOffIn(In):
    shop: uuid.UUID
    product: uuid.UUID
    quantity: Quantity
    reason: str = Field(min_length=1, max_length=500)
    batch: uuid.UUID | None = None


class TransferLineIn(In):
    product: uuid.UUID
    quantity: Quantity


class TransferIn(In):
    from_shop: uuid.UUID
    to_shop: uuid.UUID
    items: list[TransferLineIn] = Field(min_length=1, max_length=500)
    reason: Reason = ""


class TransferOut(BaseModel):
    id: uuid.UUID
    movements: list[MovementOut]


class ImportQuery(In):
    model_config = ConfigDict(extra="ignore")
    shop: uuid.UUID | None = Field(default=None, description="where quantities go")
    dry_run: bool = False


class ImportOut(BaseModel):
    rows: int
    created: int
    updated: int
    stocked: int
    dry_run: bool
