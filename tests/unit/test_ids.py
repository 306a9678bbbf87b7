"""Identifiers: RFC 9562 version 7 UUIDs."""

from __future__ import annotations

import os
import time
import uuid
from types import SimpleNamespace

import pytest

from hub.domain import ids
from hub.domain.ids import new_id


def _unix_ms(value: uuid.UUID) -> int:
    return value.int >> 80


def test_is_a_version_7_rfc_uuid() -> None:
    for _ in range(1000):
        value = new_id()
        assert isinstance(value, uuid.UUID)
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        # and it survives a round trip through its text form
        assert uuid.UUID(str(value)) == value


def test_unique_over_ten_thousand() -> None:
    made = [new_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)


def test_random_bits_vary() -> None:
    made = [new_id() for _ in range(1000)]
    rand_a = {(v.int >> 64) & 0xFFF for v in made}
    rand_b = {v.int & ((1 << 62) - 1) for v in made}
    assert len(rand_a) > 100
    assert len(rand_b) == len(made)


def test_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= _unix_ms(value) <= after


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """A settable wall clock for hub.domain.ids only (the real time module is untouched)."""
    fake = SimpleNamespace(ms=1_700_000_000_000)
    monkeypatch.setattr(ids, "_last", 0)  # forget ids made on the real clock
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: fake.ms * 1_000_000 + 999))
    return fake


def test_timestamp_field_is_exact(clock: SimpleNamespace) -> None:
    value = new_id()
    assert _unix_ms(value) == clock.ms
    assert value.version == 7


def test_ids_two_ms_apart_sort_in_order_whatever_the_random_bits(clock: SimpleNamespace) -> None:
    for _ in range(500):
        earlier = new_id()
        clock.ms += 2
        later = new_id()
        assert earlier < later
        assert str(earlier) < str(later)  # text order agrees with numeric order
        assert earlier.bytes < later.bytes


def test_ids_one_ms_apart_also_sort(clock: SimpleNamespace) -> None:
    made = []
    for _ in range(200):
        made.append(new_id())
        clock.ms += 1
    assert made == sorted(made)


def test_ids_made_2ms_apart_on_the_real_clock_sort_in_order() -> None:
    earlier = new_id()
    time.sleep(0.002)
    later = new_id()
    assert _unix_ms(later) - _unix_ms(earlier) >= 2
    assert earlier < later
    assert str(earlier) < str(later)


def test_strictly_increasing_within_a_process() -> None:
    made = [new_id() for _ in range(20_000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(v.version == 7 and v.variant == uuid.RFC_4122 for v in made)


def test_a_clock_step_back_still_increases(monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_id()
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_000_000_000)  # 1970
    second = new_id()
    assert second > first
    assert second.version == 7
    assert second.variant == uuid.RFC_4122


def test_a_forked_child_draws_random_bits_of_its_own() -> None:
    new_id()  # the parent's pool holds bytes not used yet
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side
        with ids._lock:
            os.write(writing, ids._random_62_bits().to_bytes(8, "big"))
        os._exit(0)
    os.close(writing)
    os.waitpid(child, 0)
    drawn_by_child = int.from_bytes(os.read(reading, 8), "big")
    os.close(reading)
    with ids._lock:
        drawn_by_parent = ids._random_62_bits()
    assert drawn_by_child != drawn_by_parent
