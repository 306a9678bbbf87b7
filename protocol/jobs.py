"""What both ends read in an edge agent's job: the till it belongs to."""

from __future__ import annotations

from typing import Any


def till_of(payload: dict[str, Any]) -> str | None:
    """The till a job's document names: a receipt's `register.id`, or a `register`."""
    register = payload.get("register")
    if isinstance(register, dict):
        register = register.get("id")
    return register if isinstance(register, str) else None
