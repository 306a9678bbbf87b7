"""Declaring endpoints: one decorator names the route, the permission and the schemas;
this module parses and validates the request, authenticates, opens the tenant's unit
of work, calls the handler and renders its result. OpenAPI is generated from the same
declarations (`openapi.py`).

A handler looks like:

    @api.post("/api/core/shops/", permission=Permission.SHOPS_CREATE, status=201)
    async def create_shop(ctx: Ctx, body: ShopIn) -> ShopOut: ...

Parameters after the context: `body` (JSON body model), `query` (query-string model),
and path parameters by name (UUID path ids that do not parse are a 404).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.adapters.db.uow import UnitOfWork
from hub.domain.errors import DomainError, PermissionDenied
from hub.domain.permissions import Permission
from hub.services import auth as auth_service
from hub.services.auth import ClientInfo
from hub.services.deps import Deps
from hub.services.principal import Principal
from hub.web.errors import ApiError, fault_response, validation_fields
from protocol.errors import ErrorCode

Handler = Callable[..., Awaitable[Any]]
_PATH_PARAM = re.compile(r"{(\w+)}")
log = logging.getLogger("hub.web")


class Auth(StrEnum):
    PUBLIC = "public"  # no token
    USER = "user"  # a staff access token
    ANY = "any"  # a staff access token or a device token


@dataclass
class PublicCtx:
    request: Request
    deps: Deps
    client: ClientInfo


@dataclass
class Ctx(PublicCtx):
    principal: Principal
    uow: UnitOfWork


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    auth: Auth
    permission: Permission | None
    status: int
    write: bool
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    path_params: dict[str, type] = field(default_factory=dict)
    # Media types of a raw (non-JSON) body the handler reads itself: uploads, imports.
    upload: tuple[str, ...] = ()

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Api:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        tag: str,
        auth: Auth = Auth.USER,
        permission: Permission | None = None,
        status: int = 200,
        write: bool | None = None,
        upload: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            hints = typing.get_type_hints(handler)
            params = list(inspect.signature(handler).parameters)[1:]
            path_names = set(_PATH_PARAM.findall(path))
            endpoint = Endpoint(
                method=method,
                path=path,
                handler=handler,
                auth=auth,
                permission=permission,
                status=status,
                write=method != "GET" if write is None else write,
                summary=(inspect.getdoc(handler) or handler.__name__).split("\n")[0],
                tag=tag,
                upload=upload,
            )
            for name in params:
                if name == "body":
                    endpoint.body = hints[name]
                elif name == "query":
                    endpoint.query = hints[name]
                elif name in path_names:
                    endpoint.path_params[name] = hints[name]
                else:
                    raise TypeError(f"{handler.__name__}: unknown parameter {name!r}")
            if path_names != set(endpoint.path_params):
                raise TypeError(f"{handler.__name__}: path parameters do not match {path}")
            returned = hints.get("return")
            # `Model | Response`: a list that can also be downloaded as a file.
            for candidate in typing.get_args(returned) or (returned,):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    endpoint.response = candidate
                    break
            self.endpoints.append(endpoint)
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, status=204, **kw)

    def include(self, other: Api) -> None:
        self.endpoints.extend(other.endpoints)

    def routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Endpoint]] = {}
        for endpoint in self.endpoints:
            by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
        return [
            Route(path, _dispatcher(methods), methods=list(methods))
            for path, methods in by_path.items()
        ]


def _dispatcher(methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        endpoint = methods.get("GET" if request.method == "HEAD" else request.method)
        if endpoint is None:  # Starlette answers 405 before this for undeclared methods
            raise ApiError(ErrorCode.METHOD_NOT_ALLOWED, "method not allowed")
        try:
            return await _run(endpoint, request)
        except (ApiError, DomainError):
            raise
        except Exception as exc:
            # Answered here, not re-raised: one log line and the error shape, never a
            # stack trace to the client.
            return fault_response(exc, endpoint.operation_id)

    return dispatch


def client_info(request: Request) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )


async def _read_json(request: Request, model: type[BaseModel], limit: int) -> BaseModel:
    raw = await _read_limited(request, limit)
    if not raw.strip():
        raw = b"{}"
    else:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send application/json")
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(ErrorCode.MALFORMED_JSON, "body is not valid JSON") from exc
    except RecursionError as exc:  # arrays or objects nested thousands deep
        raise ApiError(ErrorCode.MALFORMED_JSON, "body is nested too deeply") from exc
    if not isinstance(document, dict):
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            "body must be a JSON object",
            fields={"body": "expected an object"},
        )
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR, "invalid request body", fields=validation_fields(exc)
        ) from exc


async def read_upload(request: Request, accepted: tuple[str, ...], limit: int) -> tuple[str, bytes]:
    """A raw file body (not multipart): its media type, one of `accepted`, and its bytes,
    refused beyond `limit` bytes before it is all read."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in accepted:
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"send the file as one of: {', '.join(accepted)}"
        )
    return media, await _read_limited(request, limit)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _read_query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR, "invalid query parameters", fields=validation_fields(exc)
        ) from exc


def _path_values(endpoint: Endpoint, request: Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, kind in endpoint.path_params.items():
        raw = request.path_params[name]
        if kind is uuid.UUID:
            try:
                values[name] = uuid.UUID(raw)
            except ValueError as exc:
                raise ApiError(ErrorCode.NOT_FOUND, "no such object") from exc
        else:
            values[name] = raw
    return values


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            ErrorCode.NOT_AUTHENTICATED,
            "send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def _render(endpoint: Endpoint, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, BaseModel):
        return JSONResponse(result.model_dump(mode="json"), status_code=endpoint.status)
    raise TypeError(f"{endpoint.operation_id} returned {type(result).__name__}")


async def _run(endpoint: Endpoint, request: Request) -> Response:
    deps: Deps = request.app.state.deps
    kwargs = _path_values(endpoint, request)
    if endpoint.query is not None:
        kwargs["query"] = _read_query(request, endpoint.query)
    token = None if endpoint.auth is Auth.PUBLIC else bearer_token(request)
    if endpoint.body is not None:
        kwargs["body"] = await _read_json(request, endpoint.body, deps.settings.max_body_bytes)
    client = client_info(request)
    if token is None:
        result = await endpoint.handler(PublicCtx(request, deps, client), **kwargs)
        return _render(endpoint, result)

    if token.startswith(auth_service.DEVICE_TOKEN_PREFIX):
        if endpoint.auth is not Auth.ANY:
            raise PermissionDenied("device tokens may not use this endpoint")
        device = await auth_service.identify_device(deps, token)
        tenant_id = device.tenant_id
    else:
        claims = deps.access_tokens.decode(token)
        tenant_id = claims.tenant_id
    async with UnitOfWork(deps.db, tenant_id, write=endpoint.write) as uow:
        if token.startswith(auth_service.DEVICE_TOKEN_PREFIX):
            principal = await auth_service.authenticate_device(uow, device)
        else:
            principal = await auth_service.authenticate_user(uow, claims)
        if endpoint.permission is not None:
            principal.require(endpoint.permission)
        result = await endpoint.handler(Ctx(request, deps, client, principal, uow), **kwargs)
        return _render(endpoint, result)
