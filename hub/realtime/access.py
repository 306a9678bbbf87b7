"""Who may subscribe to which channel: tenant first, then role and shop."""

from __future__ import annotations

from hub.domain.errors import PermissionDenied
from hub.domain.permissions import Permission
from hub.services.principal import Principal
from protocol.channels import Channel, ChannelKind


def authorize(principal: Principal, channel: Channel) -> None:
    """Raise PermissionDenied unless the principal may receive the channel's events."""
    if channel.tenant != principal.tenant_id:
        raise PermissionDenied("not your channel")
    if channel.shop is not None and not principal.sees_shop(channel.shop):
        raise PermissionDenied("not your shop")
    allowed = False
    match channel.kind:
        case ChannelKind.SHOP:
            allowed = True  # everyone who sees the shop, devices of the shop included
        case ChannelKind.SALES | ChannelKind.CARTS:
            allowed = principal.has(Permission.LIVE_WATCH)
        case ChannelKind.CART:
            allowed = (
                principal.is_device
                or principal.has(Permission.SALES_SELL)
                or (principal.has(Permission.LIVE_WATCH))
            )
        case ChannelKind.TASKS | ChannelKind.USER:
            allowed = channel.user == principal.user_id
        case ChannelKind.DEVICE:
            allowed = channel.device == principal.device_id
    if not allowed:
        raise PermissionDenied("your role may not receive this channel")
