"""Channel names: built here and only here, parsed here and only here.

    tenant:{tenant}:shop:{shop}              shop-wide events (stock, shop changes)
    tenant:{tenant}:shop:{shop}:sales        the shop's live sales feed
    tenant:{tenant}:shop:{shop}:carts        every live cart of the shop
    tenant:{tenant}:shop:{shop}:cart:{cart}  one cart
    tenant:{tenant}:user:{user}              one user's own notices (sessions ended)
    tenant:{tenant}:user:{user}:tasks        one user's tasks
    tenant:{tenant}:device:{device}          one edge agent's queue

Every name starts with its tenant, so a channel can never be shared by two tenants; the
hub checks that tenant against the connection's before anything else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

MAX_CHANNEL_LENGTH = 200


class ChannelKind(StrEnum):
    SHOP = "shop"
    SALES = "sales"
    CARTS = "carts"
    CART = "cart"
    TASKS = "tasks"
    USER = "user"
    DEVICE = "device"


class InvalidChannel(ValueError):
    pass


@dataclass(frozen=True)
class Channel:
    kind: ChannelKind
    tenant: uuid.UUID
    shop: uuid.UUID | None = None
    cart: uuid.UUID | None = None
    user: uuid.UUID | None = None
    device: uuid.UUID | None = None

    @property
    def name(self) -> str:
        base = f"tenant:{self.tenant}"
        match self.kind:
            case ChannelKind.SHOP:
                return f"{base}:shop:{self.shop}"
            case ChannelKind.SALES | ChannelKind.CARTS:
                return f"{base}:shop:{self.shop}:{self.kind.value}"
            case ChannelKind.CART:
                return f"{base}:shop:{self.shop}:cart:{self.cart}"
            case ChannelKind.TASKS:
                return f"{base}:user:{self.user}:tasks"
            case ChannelKind.USER:
                return f"{base}:user:{self.user}"
            case ChannelKind.DEVICE:
                return f"{base}:device:{self.device}"
        raise AssertionError(self.kind)


def shop(tenant: uuid.UUID, shop_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.SHOP, tenant, shop=shop_id)


def sales(tenant: uuid.UUID, shop_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.SALES, tenant, shop=shop_id)


def carts(tenant: uuid.UUID, shop_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.CARTS, tenant, shop=shop_id)


def cart(tenant: uuid.UUID, shop_id: uuid.UUID, cart_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.CART, tenant, shop=shop_id, cart=cart_id)


def tasks(tenant: uuid.UUID, user_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.TASKS, tenant, user=user_id)


def user(tenant: uuid.UUID, user_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.USER, tenant, user=user_id)


def device(tenant: uuid.UUID, device_id: uuid.UUID) -> Channel:
    return Channel(ChannelKind.DEVICE, tenant, device=device_id)


def _id(text: str) -> uuid.UUID:
    try:
        value = uuid.UUID(text)
    except ValueError as exc:
        raise InvalidChannel(f"not an id: {text[:40]!r}") from exc
    if str(value) != text:
        raise InvalidChannel("ids are written in canonical form")
    return value


def parse(name: str) -> Channel:
    """A channel from its name; InvalidChannel for anything not built by this module."""
    if not isinstance(name, str) or len(name) > MAX_CHANNEL_LENGTH:
        raise InvalidChannel("channel name too long or not text")
    parts = name.split(":")
    if len(parts) < 4 or parts[0] != "tenant":
        raise InvalidChannel(f"unknown channel {name[:60]!r}")
    tenant = _id(parts[1])
    rest = parts[2:]
    match rest:
        case ["shop", s]:
            channel = shop(tenant, _id(s))
        case ["shop", s, "sales"]:
            channel = sales(tenant, _id(s))
        case ["shop", s, "carts"]:
            channel = carts(tenant, _id(s))
        case ["shop", s, "cart", c]:
            channel = cart(tenant, _id(s), _id(c))
        case ["user", u, "tasks"]:
            channel = tasks(tenant, _id(u))
        case ["user", u]:
            channel = user(tenant, _id(u))
        case ["device", d]:
            channel = device(tenant, _id(d))
        case _:
            raise InvalidChannel(f"unknown channel {name[:60]!r}")
    assert channel.name == name
    return channel
