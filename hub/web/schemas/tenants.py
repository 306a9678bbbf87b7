from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from hub.services.tenants import TenantView
from hub.web.schemas.common import In


class TenantSettingsOut(BaseModel):
    currency: str
    timezone: str
    allow_negative_stock: bool
    vat_rates: list[str]
    country: str
    bonus_accrual_percent: Decimal
    bonus_redeem_cap_percent: Decimal
    bonus_ttl_days: int | None
    cart_idle_minutes: int


class TenantOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    settings: TenantSettingsOut

    @classmethod
    def of(cls, view: TenantView) -> TenantOut:
        return cls(
            id=view.tenant.id,
            name=view.tenant.name,
            created_at=view.tenant.created_at,
            settings=TenantSettingsOut(**view.settings.as_json()),
        )


class TenantSettingsPatch(In):
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    timezone: str | None = Field(default=None, max_length=64)
    allow_negative_stock: bool | None = None
    vat_rates: list[Decimal] | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    bonus_accrual_percent: Decimal | None = Field(
        default=None, ge=0, le=100, max_digits=5, decimal_places=2
    )
    bonus_redeem_cap_percent: Decimal | None = Field(
        default=None, ge=0, le=100, max_digits=5, decimal_places=2
    )
    bonus_ttl_days: int | None = Field(
        default=None, ge=1, le=3660, description="days points live; null: forever"
    )
    cart_idle_minutes: int | None = Field(
        default=None, ge=1, le=7 * 24 * 60, description="minutes before an untouched cart expires"
    )

    def changes(self) -> dict[str, object]:
        """The settings given; bonus_ttl_days may be set back to null (forever)."""
        changed = self.model_dump(exclude_none=True)
        if "bonus_ttl_days" in self.model_fields_set:
            changed["bonus_ttl_days"] = self.bonus_ttl_days
        return changed


class TenantUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: TenantSettingsPatch | None = None
