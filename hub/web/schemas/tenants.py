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


class TenantUpdateIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: TenantSettingsPatch | None = None
