"""The OpenAPI 3.0 document, generated from the endpoint declarations and their pydantic
models, and Swagger UI served from the `swagger-ui-bundle` package (no internet)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from hub import __version__
from hub.web.api import Auth, Endpoint
from hub.web.schemas.common import ErrorBody, Query

_REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "Invalid input (`validation_error`, `malformed_json`)",
    401: "Not authenticated, or the token is invalid, expired or revoked",
    403: "The role may not do this (`permission_denied`)",
    404: "No such object in this tenant (`not_found`)",
    409: "Conflicts with the current state",
    413: "Body too large (`payload_too_large`)",
    429: "Too many attempts (`too_many_attempts`)",
}


# Keys whose values are data (or maps of names to schemas), not schemas themselves.
_VALUE_KEYS = frozenset({"default", "example", "examples", "enum", "const"})
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})


def _to_openapi30(node: Any) -> Any:
    """Pydantic writes JSON Schema 2020-12; Swagger UI 4 reads OpenAPI 3.0."""
    if isinstance(node, list):
        return [_to_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted: dict[str, Any] = {}
    for key, value in node.items():
        if key in _VALUE_KEYS:
            converted[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            converted[key] = {name: _to_openapi30(schema) for name, schema in value.items()}
        else:
            converted[key] = _to_openapi30(value)
    node = converted
    for combinator in ("anyOf", "oneOf"):
        options = node.get(combinator)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            del node[combinator]
            if len(rest) == 1 and "$ref" not in rest[0]:
                node.update(rest[0])
            elif len(rest) == 1:
                node["allOf"] = rest
            else:
                node[combinator] = rest
            node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    return node


def _query_parameters(model: type[Query], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__.replace("[", "_").replace("]", "_"))}


def build_openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorBody]
    for e in endpoints:
        models.extend(m for m in (e.body, e.response) if m is not None)
    keyed = [
        (m, "validation" if m in {e.body for e in endpoints} else "serialization") for m in models
    ]
    refs, top = models_json_schema(keyed, ref_template=_REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    ref_of = {model: ref for (model, _), ref in refs.items()}

    paths: dict[str, dict[str, Any]] = {}
    for e in endpoints:
        operation: dict[str, Any] = {
            "operationId": e.operation_id,
            "summary": e.summary,
            "tags": [e.tag],
            "parameters": [
                {
                    "name": n,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
                for n in e.path_params
            ],
            "responses": {},
        }
        if e.query is not None:
            operation["parameters"].extend(_query_parameters(e.query, schemas))  # type: ignore[arg-type]
        if e.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[e.body]}},
            }
        if e.upload:
            binary = {"schema": {"type": "string", "format": "binary"}}
            operation["requestBody"] = {
                "required": True,
                "content": dict.fromkeys(e.upload, binary),
            }
        if e.auth is not Auth.PUBLIC:
            operation["security"] = [{"bearer": []}]
        if e.permission is not None:
            operation["description"] = f"Permission: `{e.permission.value}`."
        success: dict[str, Any] = {"description": "Success"}
        if e.response is not None:
            success["content"] = {"application/json": {"schema": ref_of[e.response]}}
        operation["responses"][str(e.status)] = success
        error_schema = {"content": {"application/json": {"schema": ref_of[ErrorBody]}}}
        for status, text in _ERRORS.items():
            if (
                status == 401
                and e.auth is Auth.PUBLIC
                and "login" not in e.path
                and "refresh" not in e.path
            ):
                continue
            operation["responses"][str(status)] = {"description": text, **error_schema}
        paths.setdefault(e.path, {})[e.method.lower()] = operation

    document = {
        "openapi": "3.0.3",
        "info": {
            "title": "POS hub API",
            "version": __version__,
            "description": "Multi-tenant point-of-sale hub. Errors are "
            '`{"error": {"code", "message", "fields"}}` with stable codes; lists are '
            "paginated as `count`, `next`, `previous`, `results`; money travels as "
            "decimal strings.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    result: dict[str, Any] = _to_openapi30(document)
    return result


_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>POS hub API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body></html>"""

_SWAGGER_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout", persistAuthorization: true
});"""


def docs_routes(endpoints: list[Endpoint]) -> list[BaseRoute]:
    document = json.dumps(build_openapi(endpoints)).encode()

    async def openapi_json(_request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def swagger_page(_request: Request) -> Response:
        return HTMLResponse(_SWAGGER_PAGE)

    async def swagger_init(_request: Request) -> Response:
        return Response(_SWAGGER_INIT, media_type="application/javascript")

    return [
        Route("/openapi.json", openapi_json, include_in_schema=False),
        Route("/docs", swagger_page, include_in_schema=False),
        Route("/docs/init.js", swagger_init, include_in_schema=False),
        Mount("/docs/static", StaticFiles(directory=str(swagger_ui_path)), name="swagger"),
    ]
