"""What both ends read in an edge agent's job: the till it belongs to, and how long a
till's request (open the drawer, show lines) is wanted."""

from __future__ import annotations

from typing import Any

# Seconds from being asked for at the till: the agent refuses an older request (a drawer
# springing open with nobody at the till), and the hub fails one still pending a while
# after that.
REQUESTED_JOB_TTL = 120.0


def till_of(payload: dict[str, Any]) -> str | None:
    """The till a job's document names: a receipt's `register.id`, or a `register`."""
    register = payload.get("register")
    if isinstance(register, dict):
        register = register.get("id")
    return register if isinstance(register, str) else None
