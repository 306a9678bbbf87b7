"""The agent's claim of a job over its hub link: what the runner gets back when the hub
answers, refuses, or goes away during the claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import websockets

from edge_agent.link import HubLink, TokenRefused
from edge_agent.store import AgentStore
from protocol.client import RequestFailed


async def _noop(_: dict[str, Any]) -> None:
    return None


def link_answering(store: AgentStore, answer: BaseException | None) -> HubLink:
    link = HubLink("ws://hub.invalid/ws", "token", store, devices=list, on_job=_noop)

    async def request(_type: str, _payload: dict[str, Any]) -> dict[str, Any]:
        if answer is not None:
            raise answer
        return {"job": {}}

    link._request = request  # type: ignore[method-assign]
    return link


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (None, True),
        (RequestFailed("job_taken", "another agent has it"), False),
        (RequestFailed("job_finished", "done"), False),
        (RequestFailed("internal_error", "boom"), ConnectionError),
        # The socket closing mid-claim is no OSError: it must still read as "cannot say
        # now" (the job waits), not crash the job runner.
        (websockets.ConnectionClosedError(None, None), ConnectionError),
    ],
)
async def test_a_claims_answer(tmp_path: Path, answer: BaseException | None, outcome: Any) -> None:
    async with AgentStore(tmp_path / "a.db") as store:
        link = link_answering(store, answer)
        if outcome is ConnectionError:
            with pytest.raises(ConnectionError):
                await link.claim("j1")
        else:
            assert await link.claim("j1") is outcome


async def test_a_revoked_token_stops_the_agent_and_a_start_offline_is_unknown(
    tmp_path: Path,
) -> None:
    """The hub answering `token_revoked` to a claim or a start is no "cannot say now":
    the agent must stop. A start while the link is down cannot tell the hub (None)."""
    async with AgentStore(tmp_path / "a.db") as store:
        link = link_answering(store, RequestFailed("token_revoked", "device token revoked"))
        with pytest.raises(TokenRefused):
            await link.claim("j1")
        assert await link.start("j1") is None  # not connected: the hub is unreachable
        link._client = object()  # type: ignore[assignment]
        link.connected.set()
        with pytest.raises(TokenRefused):
            await link.start("j1")
        ok = link_answering(store, None)
        ok._client = object()  # type: ignore[assignment]
        ok.connected.set()
        assert await ok.start("j1") is True
