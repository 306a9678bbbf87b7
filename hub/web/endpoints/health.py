"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.adapters.metrics import exposition
from hub.services.deps import Deps
from hub.settings import MAIN_CLUSTER
from hub.web.errors import error_response
from protocol.errors import ErrorCode

CHECK_TIMEOUT = 2.0


async def healthz(_request: Request) -> Response:
    """The process is up and serving."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready to take traffic: the database (every cluster of it) and the broker answer."""
    deps: Deps = request.app.state.deps
    checks: dict[str, str] = {}
    for cluster in deps.db.cluster_engines:
        name = "database" if cluster == MAIN_CLUSTER else f"database {cluster}"
        try:
            await asyncio.wait_for(deps.db.ping(cluster), CHECK_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks[name] = f"error: {type(exc).__name__}"
    try:
        await asyncio.wait_for(deps.broker.ping(), CHECK_TIMEOUT)
        checks["broker"] = "ok (redis)" if deps.redis is not None else "ok (in-process)"
    except Exception as exc:
        checks["broker"] = f"error: {type(exc).__name__}"
    ready = all(v.startswith("ok") for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


async def metrics(request: Request) -> Response:
    """Prometheus metrics, in the text format. With POS_METRICS_TOKEN set, only for
    `Authorization: Bearer <that token>`."""
    token = request.app.state.deps.settings.metrics_token
    if token and not hmac.compare_digest(
        request.headers.get("authorization", "").encode(), f"Bearer {token}".encode()
    ):
        return error_response(ErrorCode.NOT_AUTHENTICATED, "metrics need their token")
    body, content_type = exposition()
    return Response(body, media_type=content_type)
