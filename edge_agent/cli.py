"""`pos-edge`: the shop-side agent's command line."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pos-edge", description="The shop's edge agent.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="verify a device token against the hub")
    check.add_argument("--hub", required=True, help="hub base URL, e.g. http://127.0.0.1:8000")
    check.add_argument("--token", required=True, help="the device token issued by the hub")
    args = parser.parse_args(argv)

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
