"""The websocket endpoint, `/ws`: authenticate, then subscribe / unsubscribe / ping.

Codec by subprotocol (`pos.v1.msgpack` or `pos.v1.json`; JSON when none is offered).
The token comes, in order of preference, from an `Authorization: Bearer` header, a
`bearer.<token>` subprotocol entry (browsers cannot set headers), or an `auth` first
frame within AUTH_TIMEOUT seconds. Every request gets exactly one reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.exceptions import RedisError
from starlette.websockets import WebSocket, WebSocketDisconnect

from hub.adapters import metrics
from hub.domain.errors import DomainError
from hub.realtime.access import authorize
from hub.realtime.connection import Connection
from hub.realtime.fanout import Realtime
from hub.services import auth as auth_service
from hub.services.deps import Deps
from hub.services.principal import Principal
from hub.web import ws_agents, ws_carts
from hub.web.errors import fault_code
from protocol import channels, messages
from protocol.codec import CODECS, JSON, Codec, DecodeError
from protocol.errors import ErrorCode

log = logging.getLogger("hub.realtime")

WEBSOCKET_PATH = "/ws"
AUTH_TIMEOUT = 10.0
MAX_CONSECUTIVE_ERRORS = 20
CONNECT_WINDOW_SECONDS = 10
BEARER_SUBPROTOCOL = "bearer."


def _negotiate(websocket: WebSocket) -> tuple[Codec, str | None, str | None]:
    """The codec, the subprotocol to answer with, and a token offered as a subprotocol."""
    offered: list[str] = list(websocket.scope.get("subprotocols") or [])
    token = next(
        (p[len(BEARER_SUBPROTOCOL) :] for p in offered if p.startswith(BEARER_SUBPROTOCOL)), None
    )
    for name in offered:
        if name in CODECS:
            return CODECS[name], name, token
    return JSON, None, token


def _header_token(websocket: WebSocket) -> str | None:
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _error(
    code: ErrorCode,
    message: str,
    request_id: Any = None,
    fields: dict[str, str] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"code": code.value, "message": message, "fields": fields or {}}
    if data is not None:
        payload["data"] = data
    return messages.envelope("error", payload, id=request_id)


async def _receive(websocket: WebSocket, codec: Codec, limit: int) -> dict[str, Any] | None:
    """The next decoded frame; None after the peer closed. DecodeError for bad frames."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
    if data is None:
        raise DecodeError("empty frame")
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise OverflowError
    return codec.decode(data)


async def _admit(deps: Deps, websocket: WebSocket) -> bool:
    """The per-address connection rate limit. Fails open: a limiter outage must not
    take every till offline."""
    client = websocket.client.host if websocket.client else "-"
    try:
        window = await deps.limiter.hit(f"ws:connect:{client}", CONNECT_WINDOW_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("connection rate limit unavailable: %s", exc)
        return True
    return window.count <= deps.settings.ws_connects_per_window


async def _refuse(websocket: WebSocket, codec: Codec, exc: Exception, where: str) -> None:
    """End a connection the hub cannot serve now: an `error` frame, then 1013 (try again
    later) for an outage, 1011 for a fault of ours; never an unhandled exception."""
    retry = fault_code(exc)
    if retry is not None:
        log.warning("%s failed, the client may retry: %s", where, exc)
        metrics.RETRYABLE_FAULTS.labels(retry[0].value).inc()
        frame, code = _error(*retry), messages.CLOSE_TRY_AGAIN_LATER
    else:
        log.exception("%s failed", where, exc_info=exc)
        frame = _error(ErrorCode.INTERNAL_ERROR, "internal error; connect again")
        code = messages.CLOSE_INTERNAL_ERROR
    try:
        data = codec.encode(frame)
        await (websocket.send_bytes(data) if isinstance(data, bytes) else websocket.send_text(data))
        await websocket.close(code, frame["payload"]["message"][:120])
    except Exception as gone:  # the peer left meanwhile
        log.debug("refusal not delivered: %r", gone)


async def _authenticate(deps: Deps, token: str) -> tuple[Principal, float | None]:
    principal, expires = await auth_service.authenticate_bearer(deps, token)
    return principal, expires.timestamp() if expires else None


def own_channel(principal: Principal) -> str:
    if principal.device_id is not None:
        return channels.device(principal.tenant_id, principal.device_id).name
    assert principal.user_id is not None
    return channels.user(principal.tenant_id, principal.user_id).name


async def _handshake(
    deps: Deps, websocket: WebSocket, codec: Codec, token: str | None, limit: int
) -> tuple[Principal, float | None] | None:
    """Authenticate, by the token already offered or by a first `auth` frame; None when
    the connection was refused (and closed)."""
    try:
        if token is None:
            frame = await asyncio.wait_for(_receive(websocket, codec, limit), AUTH_TIMEOUT)
            if frame is None:
                return None
            request = messages.parse_request(frame)
            if not isinstance(request, messages.Auth):
                raise DomainError("authenticate first", code=ErrorCode.NOT_AUTHENTICATED)
            token = request.token
        try:
            return await _authenticate(deps, token)
        except DomainError:
            raise
        except Exception as exc:  # the database away (or a fault): not the token's fault
            await _refuse(websocket, codec, exc, "websocket authentication")
            return None
    except TimeoutError:
        await websocket.close(messages.CLOSE_AUTH_TIMEOUT, "no auth frame in time")
        return None
    except (DomainError, DecodeError, ValueError, OverflowError) as exc:
        reason = getattr(exc, "message", None) or str(exc) or "bad auth frame"
        data = codec.encode(_error(ErrorCode.NOT_AUTHENTICATED, reason[:200]))
        if isinstance(data, bytes):
            await websocket.send_bytes(data)
        else:
            await websocket.send_text(data)
        await websocket.close(messages.CLOSE_AUTH_FAILED, "authentication failed")
        return None


async def websocket_endpoint(websocket: WebSocket) -> None:
    deps: Deps = websocket.app.state.deps
    realtime: Realtime = websocket.app.state.realtime
    codec, subprotocol, token = _negotiate(websocket)
    await websocket.accept(subprotocol=subprotocol)

    if not await _admit(deps, websocket):
        await websocket.close(messages.CLOSE_TRY_AGAIN_LATER, "too many connections; back off")
        return

    limit = realtime.settings.max_frame_bytes
    identity = await _handshake(deps, websocket, codec, _header_token(websocket) or token, limit)
    del token  # the connection outlives the handshake; its secret need not
    if identity is None:
        return
    principal, expires_at = identity

    connection = Connection(
        websocket,
        codec,
        principal,
        max_queue_bytes=realtime.settings.max_queue_bytes,
        token_expires_at=expires_at,
        flusher=realtime.flusher,
    )
    hello = messages.message_frame(
        messages.Hello(
            connection=connection.id,
            kind="device" if principal.is_device else "user",
            tenant=str(principal.tenant_id),
            heartbeat_seconds=realtime.settings.heartbeat_seconds,
            idle_timeout_seconds=realtime.settings.idle_timeout_seconds,
            max_frame_bytes=limit,
            token_expires_in=None if expires_at is None else round(expires_at - time.time(), 1),
            server_time=round(time.time(), 3),
        )
    )
    try:
        # Alone and first, before the connection is registered and anything can be
        # queued with it into a batch (docs/protocol.md: a client may wait for it bare).
        await connection.send_alone(hello)
    except Exception as exc:  # the peer left during the handshake
        log.debug("connection %s: hello not delivered: %r", connection.id, exc)
        return
    realtime.add(connection)
    metrics.WS_CONNECTIONS.inc()
    try:
        # A connection always hears its own channel: an agent's queue and revocation, a
        # user's ended sessions.
        try:
            await realtime.subscribe(connection, own_channel(principal), None, None)
        except Exception as exc:  # Redis away: a connection deaf to its own channel
            connection.closed = True  # would miss its revocation; none is better
            await _refuse(websocket, connection.codec, exc, "subscribing a connection")
            return
        connection.handler = asyncio.current_task()
        await _serve(deps, realtime, connection)
    except WebSocketDisconnect:
        pass
    except asyncio.CancelledError:
        if not connection.aborted:
            raise  # a shutdown, not our own abort of an unresponsive peer
    finally:
        connection.closed = True
        metrics.WS_CONNECTIONS.dec()
        await realtime.remove(connection)


async def _serve(deps: Deps, realtime: Realtime, connection: Connection) -> None:
    errors = 0
    while not connection.closed:
        request_id: Any = None
        kind = "invalid"  # the request's type once parsed (a label: never the client's text)
        try:
            frame = await _receive(
                connection.websocket, connection.codec, realtime.settings.max_frame_bytes
            )
            if frame is None:
                return
            connection.last_received = time.monotonic()
            request_id = frame.get("id")
            request = messages.parse_request(frame)
            kind = type(request).TYPE
            try:
                await _handle(deps, realtime, connection, request, request_id)
            except (DomainError, WebSocketDisconnect, channels.InvalidChannel):
                raise  # answered below, or the end of the connection
            except Exception as exc:
                # A fault of ours (a database outage, a bug) or a lost race: the request
                # fails, the connection and every other request on it live on.
                retry = fault_code(exc)
                if retry is not None:
                    log.warning("request %s failed, the client may retry: %s", kind, exc)
                    metrics.RETRYABLE_FAULTS.labels(retry[0].value).inc()
                    reply = _error(*retry, request_id)
                else:
                    log.exception("request %s failed", kind)
                    reply = _error(ErrorCode.INTERNAL_ERROR, "internal error; retry", request_id)
                metrics.WS_REQUESTS.labels(kind, reply["payload"]["code"]).inc()
                connection.send(reply)
                continue
            metrics.WS_REQUESTS.labels(kind, "ok").inc()
            errors = 0
            continue
        except OverflowError:
            connection.close(messages.CLOSE_TOO_BIG, "frame too large")
            await connection.wait_closed()  # returning first would drop the close frame
            return
        except DecodeError as exc:
            reply = _error(ErrorCode.MALFORMED_FRAME, str(exc), exc.request_id)
        except messages.UnknownType as exc:
            reply = _error(ErrorCode.UNKNOWN_TYPE, f"unknown type {exc}", request_id)
        except messages.InvalidPayload as exc:
            reply = _error(ErrorCode.VALIDATION_ERROR, "invalid payload", request_id, exc.fields)
        except channels.InvalidChannel as exc:
            reply = _error(ErrorCode.CHANNEL_INVALID, str(exc), request_id)
        except DomainError as exc:
            reply = _error(exc.code, exc.message, request_id, exc.fields, exc.data)
        connection.last_received = time.monotonic()
        metrics.WS_REQUESTS.labels(kind, reply["payload"]["code"]).inc()
        connection.send(reply)
        errors += 1
        if errors >= MAX_CONSECUTIVE_ERRORS:
            connection.close(messages.CLOSE_TOO_MANY_ERRORS, "too many bad frames")
            await connection.wait_closed()
            return


async def _handle(
    deps: Deps,
    realtime: Realtime,
    connection: Connection,
    request: messages.Message,
    request_id: Any,
) -> None:
    door = (
        ws_carts
        if isinstance(request, messages.CART_REQUESTS)
        else ws_agents
        if isinstance(request, messages.AGENT_REQUESTS)
        else None
    )
    if door is not None:
        data = await door.handle(deps, connection.principal, request)
        connection.send(messages.envelope("ok", {"data": data}, id=request_id))
        return
    match request:
        case messages.Ping():
            connection.send(messages.envelope("ok", {"data": {"time": time.time()}}, id=request_id))
        case messages.Subscribe(channel=name, since=since):
            authorize(connection.principal, channels.parse(name))
            # Each channel heard is a broker subscription and memory in every process.
            limit = deps.settings.ws_max_subscriptions
            if name not in connection.subscriptions and len(connection.subscriptions) >= limit:
                raise DomainError(
                    f"at most {limit} channels on one connection: unsubscribe from one first",
                    code=ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                )
            await realtime.subscribe(connection, name, since, request_id)
        case messages.Unsubscribe(channel=name):
            if name == own_channel(connection.principal):
                raise DomainError("a connection keeps its own channel", code=ErrorCode.CONFLICT)
            if not await realtime.unsubscribe(connection, name):
                raise DomainError("not subscribed", code=ErrorCode.NOT_SUBSCRIBED)
            connection.send(messages.envelope("ok", {"data": {"channel": name}}, id=request_id))
        case messages.Auth(token=token):
            principal, expires_at = await _authenticate(deps, token)
            if (principal.tenant_id, principal.user_id, principal.device_id) != (
                connection.principal.tenant_id,
                connection.principal.user_id,
                connection.principal.device_id,
            ):
                raise DomainError(
                    "a connection keeps its identity", code=ErrorCode.PERMISSION_DENIED
                )
            connection.principal = principal
            connection.token_expires_at = expires_at
            connection.send(messages.envelope("ok", {"data": {}}, id=request_id))
            # The renewed token may carry less (a demotion, a shop taken away).
            for name in list(connection.subscriptions):
                try:
                    authorize(principal, channels.parse(name))
                except DomainError as exc:
                    await realtime.unsubscribe(connection, name)
                    connection.send(
                        messages.message_frame(
                            messages.Unsubscribed(channel=name, reason=exc.message)
                        )
                    )
