"""`pos-edge`: the shop-side agent's command line."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

from edge_agent import __version__


def check_token(hub_url: str, token: str, timeout: float = 10.0) -> dict[str, object]:
    """Ask the hub whom a device token belongs to; raises on a refused token."""
    if not hub_url.startswith(("http://", "https://")):
        raise ValueError("the hub URL must start with http:// or https://")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        hub_url.rstrip("/") + "/api/users/auth/me/",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        document: dict[str, object] = json.load(response)
    return document


TOKEN_REFUSED = 3  # exit status: the hub refused the device token (see docs/edge-agent.md)


def run_agent(config_path: Path, log_level: str) -> int:
    """Run until SIGINT/SIGTERM; 2 on a bad config, 3 when the hub refuses the token."""
    import asyncio
    import contextlib
    import logging
    import signal

    from edge_agent import config as agent_config
    from edge_agent import devices
    from edge_agent.agent import Agent
    from edge_agent.link import TokenRefused
    from edge_agent.store import AgentStore

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        config = agent_config.load(config_path)
        token = config.hub.read_token()
        agent_config.prepare_data_dir(config.agent.data_dir)
    except (agent_config.ConfigError, OSError) as exc:
        print(f"pos-edge: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        store = await AgentStore(config.agent.data_dir / "agent.db").open()
        agent = Agent(
            hub_url=config.hub.websocket_url,
            token=token,
            store=store,
            devices=devices.build(config),
            retry_seconds=config.agent.retry_seconds,
            max_backoff=config.agent.max_backoff_seconds,
        )
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            await agent.run()
        finally:
            await store.close()

    try:
        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
            asyncio.run(serve())
    except TokenRefused as exc:
        print(
            f"pos-edge: {exc}. No job is worked with this token; give the agent a new"
            " device token ([hub] token or token_file) and start it again.",
            file=sys.stderr,
        )
        return TOKEN_REFUSED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-edge", description="The shop's edge agent.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="verify a device token against the hub")
    check.add_argument("--hub", required=True, help="hub base URL, e.g. http://127.0.0.1:8000")
    check.add_argument("--token", required=True, help="the device token issued by the hub")
    run = sub.add_parser("run", help="run the agent: link to the hub, jobs, devices")
    run.add_argument("--config", required=True, type=Path, help="the agent's TOML file")
    run.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    sim = sub.add_parser("simulate", help="a simulated shop (printer, register, scanner)")
    sim.add_argument("--hub", required=True, help="hub base URL, e.g. http://127.0.0.1:8000")
    sim.add_argument("--token", required=True, help="a device token of the shop")
    sim.add_argument("--data-dir", type=Path, default=Path("var/edge-sim"))
    sim.add_argument("--cash-register", type=uuid.UUID, help="the till the scanner feeds")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_agent(args.config, args.log_level)
    if args.command == "simulate":
        from edge_agent import simulate

        return simulate.run(args.hub, args.token, args.data_dir, args.cash_register)

    try:
        identity = check_token(args.hub, args.token)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        print(f"hub refused the token ({exc.code}): {body}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"cannot reach the hub: {exc}", file=sys.stderr)
        return 1
    if identity.get("kind") != "device":
        print("this is not a device token", file=sys.stderr)
        return 1
    print(f"device {identity['device']} of tenant {identity['tenant']}, shops {identity['shops']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
