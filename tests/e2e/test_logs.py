"""With POS_LOG_JSON=1 every line a serving hub writes is one JSON object: its own
loggers', uvicorn's (startup, websocket openings, tracebacks) and any traceback inside
one as a field."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import websockets

from hub.logs import configure_logging
from hub.settings import Settings
from tests.processes import base_env, pos_hub, start_hub, wait_ready

pytestmark = pytest.mark.slow


def json_lines(output: str) -> list[dict[str, object]]:
    lines = output.splitlines()
    assert lines, "the hub wrote nothing"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}\nwhole output:\n{output}")
    return parsed


async def test_a_serving_hub_writes_only_json_lines(tmp_path: Path) -> None:
    env = base_env(POS_DATA_DIR=str(tmp_path / "data"), POS_LOG_JSON="1", POS_ENV="development")
    migrated = pos_hub(tmp_path, env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    hub = start_hub(tmp_path, env)
    try:
        wait_ready(hub)
        async with httpx.AsyncClient(base_url=hub.http) as client:
            assert (await client.get("/api/nowhere/")).status_code == 404
        async with websockets.connect(hub.ws) as ws:
            await ws.send("not json")
            await ws.recv()
    finally:
        hub.stop()
    entries = json_lines(hub.output())
    messages = [str(e["message"]) for e in entries]
    assert any("WebSocket /ws" in m for m in messages), messages
    assert any(e["logger"] == "uvicorn.error" for e in entries)


def test_a_traceback_is_a_field_of_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(Settings(log_json=True, database_url="sqlite+aiosqlite://"))
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        (entry,) = json_lines(capsys.readouterr().err)
        assert entry["message"] == "Exception in ASGI application"
        assert "RuntimeError: boom" in str(entry["exception"])
    finally:
        logging.getLogger().handlers.clear()
