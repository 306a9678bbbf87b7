"""Every message of the realtime protocol, as a typed class.

A frame is an envelope:

    {"type": str, "id": str|int, "channel": str, "seq": int, "epoch": str, "payload": ...}

with absent fields omitted. Requests (client → hub) carry an `id`; each gets exactly one
reply, `ok` or `error`, with the same `id`. Events (hub → client) carry `channel`, `seq`
and `epoch`. See docs/protocol.md.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

PROTOCOL_VERSION = 1
MAX_TYPE_LENGTH = 64

# Close codes (4000-4999 are the application's). Clients reconnect with backoff after any
# of them except AUTH_FAILED and FORBIDDEN, which need a new token first.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_AUTH_FAILED = 4001
CLOSE_AUTH_TIMEOUT = 4002
CLOSE_TOKEN_EXPIRED = 4003
CLOSE_REVOKED = 4004
CLOSE_IDLE = 4008
CLOSE_SLOW_CONSUMER = 4009
CLOSE_TOO_MANY_ERRORS = 4010


class Message(BaseModel):
    """A payload; `TYPE` is the envelope's type."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str]


# --- requests: client → hub ----------------------------------------------------------


class Auth(Message):
    """Authenticate (first frame, for clients that cannot send headers), or renew an
    expiring access token on a live connection."""

    TYPE = "auth"
    token: str = Field(min_length=1, max_length=4096)


class Since(BaseModel):
    """The last event a client applied; epoch null (seq 0) when the channel was empty."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    epoch: str | None = Field(min_length=1, max_length=64)
    seq: int = Field(ge=0, le=2**62)


class Subscribe(Message):
    """Receive a channel's events; with `since`, first everything after that position."""

    TYPE = "subscribe"
    channel: str = Field(min_length=1, max_length=200)
    since: Since | None = None


class Unsubscribe(Message):
    TYPE = "unsubscribe"
    channel: str = Field(min_length=1, max_length=200)


class Ping(Message):
    """Liveness from the client; answered by `ok` with the hub's time."""

    TYPE = "ping"


# --- live carts: client → hub; each `ok` carries {"cart": <the cart>} ------------------
#
# Money and quantities travel as decimal strings (numbers are accepted on the way in).
# Every change names the version it was made against; the hub refuses a stale one with
# `stale_version` and the current cart in the error's `data`.

Quantity = Annotated[Decimal, Field(max_digits=12, decimal_places=3, allow_inf_nan=False)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]
Barcode = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")]
IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,100}$")]
Version = Annotated[int, Field(ge=1, le=2**31)]


class CartOpen(Message):
    """The shift's open cart, or a new one (a reloaded till continues its cart)."""

    TYPE = "cart.open"
    session: uuid.UUID  # the shift


class CartGet(Message):
    TYPE = "cart.get"
    cart: uuid.UUID


class CartChange(Message):
    cart: uuid.UUID
    version: Version


class _Line(CartChange):
    """A line, named by its product's id or a barcode of it (one of the two)."""

    product: uuid.UUID | None = None
    barcode: Barcode | None = None

    @model_validator(mode="after")
    def _one_name(self) -> Self:
        if (self.product is None) == (self.barcode is None):
            raise ValueError("name the line by product or by barcode, one of them")
        return self


class _Discount(BaseModel):
    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if getattr(self, "percent", None) is not None and getattr(self, "amount", None) is not None:
            raise ValueError("a discount is a percent or an amount, not both")
        return self


class CartAdd(_Line):
    TYPE = "cart.add"
    quantity: Quantity = Field(default=Decimal(1), gt=0)


class CartSetQuantity(_Line):
    """Zero removes the line."""

    TYPE = "cart.set_quantity"
    quantity: Quantity = Field(ge=0)


class CartRemove(_Line):
    TYPE = "cart.remove"


class CartDiscountLine(_Line, _Discount):
    """The line's own discount; neither field clears it."""

    TYPE = "cart.discount_line"
    percent: Percent | None = None
    amount: Amount | None = None


class CartDiscount(CartChange, _Discount):
    """The receipt's discount; neither field clears it."""

    TYPE = "cart.discount"
    percent: Percent | None = None
    amount: Amount | None = None


class CartCustomer(CartChange):
    """Attach a customer (their group's discount applies) or detach (null)."""

    TYPE = "cart.customer"
    customer: uuid.UUID | None


class CartBonus(CartChange):
    """Points to redeem on this receipt; zero cancels."""

    TYPE = "cart.bonus"
    amount: Amount


class CartCancel(CartChange):
    TYPE = "cart.cancel"


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    method: Literal["cash", "card", "credit", "balance"]
    amount: Amount = Field(gt=0)


class CartPay(CartChange):
    """Commit the cart as a sale; `ok` data {"cart", "sale"}. A retry with the same
    key returns the same sale. `payments` is empty when nothing is left to pay (the
    points redeemed or a whole-receipt discount cover the total)."""

    TYPE = "cart.pay"
    payments: list[PaymentIn] = Field(max_length=8)
    idempotency_key: IdempotencyKey


CART_REQUESTS: tuple[type[Message], ...] = (
    CartOpen,
    CartGet,
    CartAdd,
    CartSetQuantity,
    CartRemove,
    CartDiscountLine,
    CartDiscount,
    CartCustomer,
    CartBonus,
    CartCancel,
    CartPay,
)

# --- edge agents: agent → hub ------------------------------------------------------

DeviceName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Epoch = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class AgentDevice(BaseModel):
    """A device an agent drives, and how it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: DeviceName
    kind: Literal["printer", "fiscal", "scanner", "display", "mqtt"]
    model: str = Field(default="", max_length=64)
    transport: str = Field(default="", max_length=200)
    status: Literal["online", "offline", "paper_out", "cover_open", "error", "unknown"]
    detail: str = Field(default="", max_length=200)
    # The till whose jobs it takes; none: the tills no other device is bound to. The hub
    # routes each job to one agent by it.
    cash_register: uuid.UUID | None = None


class AgentAnnounce(Message):
    """First request of an agent's connection; `ok` data {"acked": seq}: the hub has
    applied this epoch's events up to seq."""

    TYPE = "agent.announce"
    version: str = Field(max_length=32)
    epoch: Epoch
    devices: list[AgentDevice] = Field(default_factory=list, max_length=64)


class AgentEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    seq: int = Field(ge=1, le=2**62)
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    type: Literal["scan", "device.status", "job.result"]
    payload: dict[str, Any]


class AgentEvents(Message):
    """A batch of the agent's outbox, in order; `ok` data {"acked": seq}: the highest
    sequence of this epoch applied without a gap. The rest is sent again."""

    TYPE = "agent.events"
    epoch: Epoch
    events: list[AgentEventIn] = Field(min_length=1, max_length=100)


class AgentJobs(Message):
    """The shop's jobs not finished yet; `ok` data {"jobs": [...]}."""

    TYPE = "agent.jobs"


class AgentClaim(Message):
    """Take a job given to no agent before working it; `ok` data {"job": {...}} (as
    `job.created` carries it); `job_taken` when another agent has it, or when another
    agent's devices serve the job's till; `token_revoked` when this agent's token was
    revoked. `start`: the agent is about to fiscalise the job (its own, or one it takes
    now): the hub then never gives the job to another agent, even if this one is
    revoked (the job is held for a person)."""

    TYPE = "agent.claim"
    job: uuid.UUID
    start: bool = False


AGENT_REQUESTS: tuple[type[Message], ...] = (AgentAnnounce, AgentEvents, AgentJobs, AgentClaim)

_BASIC_REQUESTS: tuple[type[Message], ...] = (Auth, Subscribe, Unsubscribe, Ping)
REQUESTS: dict[str, type[Message]] = {
    m.TYPE: m for m in (*_BASIC_REQUESTS, *CART_REQUESTS, *AGENT_REQUESTS)
}


# --- replies and notices: hub → client -------------------------------------------------


class Hello(Message):
    """First frame after authentication."""

    TYPE = "hello"
    protocol: int = PROTOCOL_VERSION
    connection: str
    kind: str  # "user" or "device"
    tenant: str
    heartbeat_seconds: float
    idle_timeout_seconds: float
    max_frame_bytes: int
    token_expires_in: float | None = None
    # The hub's clock (seconds since the epoch) as it said hello: a device tells by it
    # how old a job is, whatever its own clock says.
    server_time: float | None = None


class Ok(Message):
    TYPE = "ok"
    data: dict[str, Any] = Field(default_factory=dict)


class Error(Message):
    TYPE = "error"
    code: str
    message: str
    fields: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] | None = None  # e.g. the current cart with `stale_version`


class Subscribed(BaseModel):
    """`data` of the `ok` reply to `subscribe`: where the channel stands now."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channel: str
    epoch: str | None
    seq: int
    replayed: int = 0


class Resync(Message):
    """The missed events cannot be replayed (history lost or too old): reload the state
    (a REST snapshot) and continue with the events that follow."""

    TYPE = "resync"
    channel: str
    epoch: str | None
    seq: int
    reason: str


class Unsubscribed(Message):
    """The hub ended a subscription (the renewed token no longer allows it)."""

    TYPE = "unsubscribed"
    channel: str
    reason: str


class Heartbeat(Message):
    TYPE = "heartbeat"
    time: float


NOTICES: dict[str, type[Message]] = {m.TYPE: m for m in (Hello, Ok, Error, Resync, Heartbeat)}

BATCH = "batch"  # {"type": "batch", "payload": [frame, frame, ...]}: frames in order


def parse_request(frame: dict[str, Any]) -> Message:
    """The typed request in a decoded frame; ValueError with a reason otherwise."""
    kind = frame.get("type")
    model = REQUESTS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise UnknownType(str(kind)[:MAX_TYPE_LENGTH])
    payload = frame.get("payload", {})
    if payload is None:
        payload = {}
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = {
            ".".join(str(p) for p in e["loc"]) or "payload": e["msg"]
            for e in exc.errors(include_url=False)
        }
        raise InvalidPayload(fields) from exc


class UnknownType(ValueError):
    pass


class InvalidPayload(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("invalid payload")
        self.fields = fields


def envelope(
    type_: str,
    payload: Any = None,
    *,
    id: str | int | None = None,
    channel: str | None = None,
    seq: int | None = None,
    epoch: str | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": type_}
    if id is not None:
        frame["id"] = id
    if channel is not None:
        frame["channel"] = channel
    if seq is not None:
        frame["seq"] = seq
    if epoch is not None:
        frame["epoch"] = epoch
    if payload is not None:
        frame["payload"] = payload
    return frame


def message_frame(message: Message, *, id: str | int | None = None) -> dict[str, Any]:
    return envelope(message.TYPE, message.model_dump(mode="json"), id=id)
