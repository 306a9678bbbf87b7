"""Every URL the hub answers. Open this file first to find the handler of a path."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from hub.web.api import Api
from hub.web.endpoints import (
    analytics,
    auth,
    carts,
    catalogue,
    customers,
    device_jobs,
    devices,
    health,
    sales,
    shifts,
    shops,
    stock,
    tasks,
    tenants,
    users,
)
from hub.web.openapi import docs_routes
from hub.web.websocket import WEBSOCKET_PATH, websocket_endpoint

WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "web_client"


def build_api() -> Api:
    api = Api()
    for module in (
        auth,
        users,
        shops,
        tenants,
        devices,
        device_jobs,
        catalogue,
        stock,
        customers,
        carts,
        shifts,
        sales,
        tasks,
        analytics,
    ):
        api.include(module.api)
    return api


def build_routes(api: Api) -> list[BaseRoute]:
    return [
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", health.metrics, methods=["GET"]),
        # Served by HubApp directly (see hub/app.py); listed so the route table is whole.
        WebSocketRoute(WEBSOCKET_PATH, websocket_endpoint),
        *api.routes(),
        *docs_routes(api.endpoints),
        Mount("/", StaticFiles(directory=WEB_CLIENT_DIR, html=True), name="web_client"),
    ]
