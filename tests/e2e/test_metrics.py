"""Prometheus metrics at `GET /metrics`: HTTP requests per route template (never an id),
committed sales (a replay is not one), websocket connections and requests, the token
that guards them when set, and one sum over several worker processes."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import services
from tests.conftest import LiveHub
from tests.e2e.test_crash import Attempt, open_shift, post_sale, sale_body, stocked_shop
from tests.e2e.ws_support import api, hub_client
from tests.processes import hub_env, start_hub, wait_ready


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition by name and labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(http: httpx.AsyncClient, **headers: str) -> dict[Any, float]:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_sales_and_websockets_are_counted(live_hub: LiveHub) -> None:
    async with api(live_hub) as http:
        shop = await stocked_shop(http)
        _, shift = await open_shift(http, shop)
        route = "/api/core/shops/{shop_id}/"
        before = await scrape(http)
        for _ in range(3):
            got = await http.get(f"/api/core/shops/{shop.kit.shop_id}/", headers=shop.owner)
            assert got.status_code == 200
        missing = await http.get(f"/api/core/shops/{uuid.uuid4()}/", headers=shop.owner)
        assert missing.status_code == 404
        attempt = Attempt("metrics-sale", sale_body(random.Random(1), shop, shift))
        assert (await post_sale(http, shop, attempt)).status_code == 201
        assert (await post_sale(http, shop, attempt)).status_code == 201  # a replay

        async with hub_client(live_hub, shop.kit.members["owner"].token) as ws:
            await ws.request("ping", {})
            during = await scrape(http)
        after = await scrape(http)

    def grew(found: dict[Any, float], name: str, **labels: str) -> float:
        return value(found, name, **labels) - value(before, name, **labels)

    ok = {"method": "GET", "route": route, "status": "200"}
    assert grew(after, "pos_http_requests_total", **ok) == 3
    assert grew(after, "pos_http_requests_total", **{**ok, "status": "404"}) == 1
    assert grew(after, "pos_http_request_duration_seconds_count", method="GET", route=route) == 4
    assert grew(after, "pos_sales_committed_total") == 1
    assert grew(after, "pos_ws_requests_total", type="ping", outcome="ok") == 1
    assert value(during, "pos_ws_connections") - value(after, "pos_ws_connections") == 1
    assert not any(shop.kit.shop_id in str(labels) for _, labels in after)


@pytest.mark.parametrize("settings", [{"metrics_token": "scrape-me-" + "x" * 20}], indirect=True)
async def test_a_metrics_token_guards_them(live_hub: LiveHub) -> None:
    async with api(live_hub) as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        await scrape(http, Authorization="Bearer scrape-me-" + "x" * 20)


@pytest.mark.slow
async def test_several_worker_processes_are_summed_in_one_scrape(
    tmp_path: Path, pg_database_url: str
) -> None:
    """`pos-hub serve` with two workers: whichever process answers a scrape, the count
    of requests made to both is the whole count."""
    services.need("redis")
    env = {**hub_env(tmp_path, pg_database_url, services.REDIS_URL), "POS_WORKERS": "2"}
    hub = start_hub(tmp_path, env)
    try:
        await asyncio.to_thread(wait_ready, hub)
        requests = 40
        for _ in range(requests):  # new connections: the kernel spreads them
            async with httpx.AsyncClient(base_url=hub.http) as one:
                assert (await one.get("/healthz")).status_code == 200
        counts = set()
        for _ in range(6):
            async with httpx.AsyncClient(base_url=hub.http) as one:
                found = await scrape(one)
            healthz = {"method": "GET", "route": "/healthz", "status": "200"}
            counts.add(value(found, "pos_http_requests_total", **healthz))
        assert counts == {float(requests)}  # (wait_ready asks /readyz, not /healthz)
        assert (tmp_path / "data" / "metrics").is_dir()
    finally:
        hub.stop()
