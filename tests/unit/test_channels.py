"""Channel names: every builder's name parses back to the same channel, nothing else
parses, and a name always belongs to exactly one tenant."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocol import channels
from protocol.channels import MAX_CHANNEL_LENGTH, Channel, ChannelKind, InvalidChannel, parse

UUIDS = st.uuids()
T = uuid.UUID("0190f2c4-5b6a-7cde-8f01-23456789abcd")
S = uuid.UUID("0190f2c4-5b6a-7cde-8f01-aaaaaaaaaaaa")
C = uuid.UUID("0190f2c4-5b6a-7cde-8f01-bbbbbbbbbbbb")

# builder, the number of ids after the tenant, and the kind it makes
BUILDERS: list[tuple[Callable[..., Channel], int, ChannelKind]] = [
    (channels.shop, 1, ChannelKind.SHOP),
    (channels.sales, 1, ChannelKind.SALES),
    (channels.carts, 1, ChannelKind.CARTS),
    (channels.cart, 2, ChannelKind.CART),
    (channels.tasks, 1, ChannelKind.TASKS),
    (channels.user, 1, ChannelKind.USER),
    (channels.device, 1, ChannelKind.DEVICE),
]
BUILDER_PARAMS = [pytest.param(b, n, k, id=k.value) for b, n, k in BUILDERS]


def build(
    builder: Callable[..., Channel], n: int, tenant: uuid.UUID, ids: list[uuid.UUID]
) -> Channel:
    return builder(tenant, *ids[:n])


# A channel of any kind: (builder, tenant, ids)
ANY_CHANNEL = st.tuples(st.sampled_from(BUILDERS), UUIDS, st.lists(UUIDS, min_size=2, max_size=2))


def test_every_kind_has_a_builder() -> None:
    assert {k for _, _, k in BUILDERS} == set(ChannelKind)


@pytest.mark.parametrize(("builder", "n", "kind"), BUILDER_PARAMS)
@settings(max_examples=50, deadline=None)
@given(tenant=UUIDS, ids=st.lists(UUIDS, min_size=2, max_size=2))
def test_builders_round_trip(
    builder: Callable[..., Channel],
    n: int,
    kind: ChannelKind,
    tenant: uuid.UUID,
    ids: list[uuid.UUID],
) -> None:
    channel = build(builder, n, tenant, ids)
    assert channel.kind is kind
    assert channel.tenant == tenant
    name = channel.name
    assert name.startswith(f"tenant:{tenant}:")
    assert len(name) <= MAX_CHANNEL_LENGTH
    parsed = parse(name)
    assert parsed == channel
    assert parsed.kind is kind
    assert parsed.name == name


@pytest.mark.parametrize(
    ("channel", "name"),
    [
        (channels.shop(T, S), f"tenant:{T}:shop:{S}"),
        (channels.sales(T, S), f"tenant:{T}:shop:{S}:sales"),
        (channels.carts(T, S), f"tenant:{T}:shop:{S}:carts"),
        (channels.cart(T, S, C), f"tenant:{T}:shop:{S}:cart:{C}"),
        (channels.tasks(T, S), f"tenant:{T}:user:{S}:tasks"),
        (channels.user(T, S), f"tenant:{T}:user:{S}"),
        (channels.device(T, S), f"tenant:{T}:device:{S}"),
    ],
    ids=lambda v: v.kind.value if isinstance(v, Channel) else "",
)
def test_documented_names(channel: Channel, name: str) -> None:
    assert channel.name == name
    assert parse(name) == channel


def test_fields_are_set_per_kind() -> None:
    assert parse(f"tenant:{T}:shop:{S}:cart:{C}") == Channel(ChannelKind.CART, T, shop=S, cart=C)
    assert parse(f"tenant:{T}:user:{S}:tasks") == Channel(ChannelKind.TASKS, T, user=S)
    assert parse(f"tenant:{T}:device:{S}") == Channel(ChannelKind.DEVICE, T, device=S)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "name",
    [
        "",
        ":",
        "tenant",
        f"tenant:{T}",
        f"tenant:{T}:",
        f"tenant:{T}:shop",
        f"tenant:{T}:shop:",
        f"tenant:{T}:shop:{S}:",
        f"tenant:{T}:shop:{S}:cart",
        f"tenant:{T}:shop:{S}:cart:",
        f"tenant:{T}:user",
        f"tenant:{T}:user:{S}:",
        f"tenant:{T}:device",
        f"tenant::shop:{S}",
        f"shop:{S}",
        f":{T}:shop:{S}",
    ],
)
def test_missing_parts_are_refused(name: str) -> None:
    with pytest.raises(InvalidChannel):
        parse(name)


@pytest.mark.parametrize(
    "name",
    [
        f"tenant:{T}:shop:{S}:x",
        f"tenant:{T}:shop:{S}:sales:x",
        f"tenant:{T}:shop:{S}:carts:{C}",
        f"tenant:{T}:shop:{S}:cart:{C}:x",
        f"tenant:{T}:shop:{S}:cart:{C}:{C}",
        f"tenant:{T}:user:{S}:tasks:x",
        f"tenant:{T}:device:{S}:x",
        f"tenant:{T}:device:{S}:",
        f"tenant:{T}:shop:{S}:sales:",
        f"tenant:{T}:tenant:{T}:shop:{S}",
    ],
)
def test_extra_parts_are_refused(name: str) -> None:
    with pytest.raises(InvalidChannel):
        parse(name)


@pytest.mark.parametrize(
    "name",
    [
        f"Tenant:{T}:shop:{S}",
        f"TENANT:{T}:shop:{S}",
        f"tenants:{T}:shop:{S}",
        f" tenant:{T}:shop:{S}",
        f"user:{T}:shop:{S}",
        f"x:tenant:{T}:shop:{S}",
        f"tenant:{T}:Shop:{S}",
        f"tenant:{T}:shop:{S}:SALES",
        f"tenant:{T}:shop:{S}:sale",
        f"tenant:{T}:shops:{S}",
        f"tenant:{T}:widget:{S}",
        f"tenant:{T}:cart:{S}",
        f"tenant:{T}:carts:{S}",
        f"tenant:{T}:user:{S}:carts",
        f"tenant:{T}:shop:{S}:tasks",
        f"tenant:{T}:devices:{S}",
        f"tenant:{T}:user:{S}:task",
    ],
)
def test_other_prefixes_and_unknown_kinds_are_refused(name: str) -> None:
    with pytest.raises(InvalidChannel):
        parse(name)


def _non_canonical(value: uuid.UUID) -> list[str]:
    text = str(value)
    forms = [
        value.hex,
        "{" + text + "}",
        text + " ",
        " " + text,
        text[:8] + text[9:],  # a dash missing
        text.replace("-", "_"),
        text[:-1],
        text + "0",
        "0" + text[1:] + "0",
        text.replace("-", ""),
    ]
    if text != text.upper():
        forms.append(text.upper())
        last = text.rstrip("0123456789-")[-1]
        forms.append(text.replace(last, last.upper(), 1))  # one capital letter
    return [f for f in forms if f != text]


@pytest.mark.parametrize("position", ["tenant", "shop", "cart"])
def test_non_canonical_ids_are_refused(position: str) -> None:
    for bad in _non_canonical(C):
        ids = {"tenant": str(T), "shop": str(S), "cart": str(C)}
        ids[position] = bad
        name = f"tenant:{ids['tenant']}:shop:{ids['shop']}:cart:{ids['cart']}"
        with pytest.raises(InvalidChannel):
            parse(name)


@settings(max_examples=100, deadline=None)
@given(tenant=UUIDS, shop_id=UUIDS)
def test_uppercase_ids_are_refused(tenant: uuid.UUID, shop_id: uuid.UUID) -> None:
    assume(str(shop_id) != str(shop_id).upper())
    with pytest.raises(InvalidChannel):
        parse(f"tenant:{tenant}:shop:{str(shop_id).upper()}")
    with pytest.raises(InvalidChannel):
        parse(f"tenant:{tenant}:shop:{shop_id.hex}")
    with pytest.raises(InvalidChannel):
        parse(f"tenant:{tenant}:shop:{{{shop_id}}}")


@pytest.mark.parametrize(
    "text", ["", "x", "not-a-uuid", "0" * 36, "g" * 32, "00000000-0000-0000-0000-00000000000g"]
)
def test_non_ids_are_refused(text: str) -> None:
    for name in (f"tenant:{text}:shop:{S}", f"tenant:{T}:shop:{text}", f"tenant:{T}:device:{text}"):
        with pytest.raises(InvalidChannel):
            parse(name)


def test_names_longer_than_the_limit_are_refused() -> None:
    valid = channels.cart(T, S, C).name
    assert parse(valid)
    for name in (
        valid + ":" + "x" * (MAX_CHANNEL_LENGTH - len(valid)),
        "tenant:" + "x" * MAX_CHANNEL_LENGTH,
        "x" * 10_000,
        f"tenant:{T}:shop:{S}" + ":" * 200,
    ):
        assert len(name) > MAX_CHANNEL_LENGTH
        with pytest.raises(InvalidChannel):
            parse(name)


@pytest.mark.parametrize(
    "name",
    [
        None,
        0,
        1.5,
        f"tenant:{T}:shop:{S}".encode(),
        ["tenant", str(T), "shop", str(S)],
        channels.shop(T, S),
        T,
    ],
    ids=lambda v: type(v).__name__,
)
def test_non_text_is_refused(name: Any) -> None:
    with pytest.raises(InvalidChannel):
        parse(name)


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=250) | st.text(alphabet="tenant:shopcrt-0123456789abcdef"))
def test_parse_never_raises_anything_else(name: str) -> None:
    try:
        channel = parse(name)
    except InvalidChannel:
        return
    assert channel.name == name


# --------------------------------------------------------------------------- tenancy


@settings(max_examples=100, deadline=None)
@given(first=ANY_CHANNEL, second=ANY_CHANNEL)
def test_two_tenants_never_share_a_channel(
    first: tuple[tuple[Callable[..., Channel], int, ChannelKind], uuid.UUID, list[uuid.UUID]],
    second: tuple[tuple[Callable[..., Channel], int, ChannelKind], uuid.UUID, list[uuid.UUID]],
) -> None:
    (builder_a, n_a, _), tenant_a, ids_a = first
    (builder_b, n_b, _), tenant_b, ids_b = second
    assume(tenant_a != tenant_b)
    a = build(builder_a, n_a, tenant_a, ids_a)
    b = build(builder_b, n_b, tenant_b, ids_b)
    assert a.name != b.name
    assert parse(a.name).tenant == tenant_a
    assert parse(b.name).tenant == tenant_b


@settings(max_examples=100, deadline=None)
@given(tenant=UUIDS, other=UUIDS, ids=st.lists(UUIDS, min_size=2, max_size=2))
def test_same_ids_under_another_tenant_is_another_channel(
    tenant: uuid.UUID, other: uuid.UUID, ids: list[uuid.UUID]
) -> None:
    assume(tenant != other)
    names = {build(b, n, tenant, ids).name for b, n, _ in BUILDERS}
    others = {build(b, n, other, ids).name for b, n, _ in BUILDERS}
    assert len(names) == len(BUILDERS)
    assert not names & others
    # the tenant's id is the very first part, whatever ids follow
    assert all(name.split(":")[1] == str(tenant) for name in names)
