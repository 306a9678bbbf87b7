"""Who is acting: a staff user (from an access token) or an edge agent (device token)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from hub.domain.errors import PermissionDenied
from hub.domain.permissions import Permission, Role, role_has, sees_all_shops


@dataclass(frozen=True)
class Principal:
    tenant_id: uuid.UUID
    shop_ids: frozenset[uuid.UUID]
    user_id: uuid.UUID | None = None
    role: Role | None = None
    session_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None

    @property
    def is_device(self) -> bool:
        return self.device_id is not None

    def has(self, permission: Permission) -> bool:
        return self.role is not None and role_has(self.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.has(permission):
            raise PermissionDenied(f"your role may not do this ({permission.value})")

    @property
    def sees_all_shops(self) -> bool:
        return self.role is not None and sees_all_shops(self.role)

    def visible_shops(self) -> frozenset[uuid.UUID] | None:
        """Shops this principal may see; None means every shop of the tenant."""
        return None if self.sees_all_shops else self.shop_ids

    def sees_shop(self, shop_id: uuid.UUID) -> bool:
        return self.sees_all_shops or shop_id in self.shop_ids
