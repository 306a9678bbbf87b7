"""Brokers carry events between hub processes and keep each channel's recent history:
in process (embedded default) or in Redis. Pick one with `make_broker`."""

from __future__ import annotations

from hub.adapters.broker.base import Broker, Event
from hub.adapters.broker.memory import MemoryBroker

__all__ = ["Broker", "Event", "MemoryBroker"]
