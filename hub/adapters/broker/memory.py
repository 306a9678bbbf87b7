"""The in-process broker: one hub process, history in memory (a restart is a new epoch)."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from hub.adapters.broker.base import Broker, Event, new_epoch, pack_payload


@dataclass
class _Log:
    epoch: str
    seq: int = 0
    events: deque[Event] = field(default_factory=deque)


class MemoryBroker(Broker):
    def __init__(self, *, history: int = 1000, max_channels: int = 100_000) -> None:
        super().__init__()
        self._history = history
        self._max_channels = max_channels
        self._logs: OrderedDict[str, _Log] = OrderedDict()
        self._listening: set[str] = set()
        self._seen_ids: OrderedDict[str, None] = OrderedDict()

    def _log(self, channel: str) -> _Log:
        log = self._logs.get(channel)
        if log is None:
            if len(self._logs) >= self._max_channels:
                self._evict()
            log = self._logs[channel] = _Log(new_epoch(), events=deque(maxlen=self._history))
        else:
            self._logs.move_to_end(channel)
        return log

    def _evict(self) -> None:
        # The least recently used channel nobody listens to loses its history.
        for name in self._logs:
            if name not in self._listening:
                del self._logs[name]
                return

    def _duplicate(self, event_id: str | None) -> bool:
        if event_id is None:
            return False
        if event_id in self._seen_ids:
            return True
        self._seen_ids[event_id] = None
        if len(self._seen_ids) > 100_000:
            self._seen_ids.popitem(last=False)
        return False

    async def publish(
        self, channel: str, type_: str, payload: Any, *, event_id: str | None = None
    ) -> Event | None:
        if self._duplicate(event_id):
            return None
        log = self._log(channel)
        log.seq += 1
        event = Event(channel, log.seq, log.epoch, type_, pack_payload(payload))
        log.events.append(event)
        if channel in self._listening:
            self.on_event(event)
        return event

    async def history(self, channel: str, epoch: str, after: int) -> list[Event] | None:
        log = self._logs.get(channel)
        if log is None or log.epoch != epoch or after > log.seq:
            return None
        if after == log.seq:
            return []
        first = log.events[0].seq if log.events else log.seq + 1
        if after + 1 < first:
            return None
        return [e for e in log.events if e.seq > after]

    async def position(self, channel: str) -> tuple[str | None, int]:
        log = self._logs.get(channel)
        return (None, 0) if log is None else (log.epoch, log.seq)

    async def listen(self, channel: str) -> None:
        self._listening.add(channel)

    async def unlisten(self, channel: str) -> None:
        self._listening.discard(channel)
