"""Record ids: UUIDv7 layout, time order, uniqueness across forked processes."""

from __future__ import annotations

import os
import uuid

import pytest

from oaitrace._ids import new_record_id


def test_uuid7_layout_and_time_order() -> None:
    """An id is a version-7 UUID whose first 48 bits are the start time in milliseconds."""
    first = new_record_id(1_700_000_000_123_456_789)
    later = new_record_id(1_700_000_000_124_000_000)
    parsed = uuid.UUID(first)

    assert (7, uuid.RFC_4122, 1_700_000_000_123, True) == (
        parsed.version,
        parsed.variant,
        parsed.int >> 80,
        first < later,
    )


def test_ids_of_one_millisecond_differ() -> None:
    """Within one millisecond the random part keeps ids apart."""
    ids = {new_record_id(1_700_000_000_000_000_000) for _ in range(10_000)}

    assert len(ids) == 10_000


def test_seeding_random_does_not_repeat_ids() -> None:
    """An application that seeds the `random` module cannot make oaitrace repeat ids."""
    import random  # noqa: PLC0415

    random.seed(7)
    first = new_record_id(0)
    random.seed(7)

    assert first != new_record_id(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    """After fork the child draws from a fresh generator, not a copy of the parent's."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        os.write(write_end, new_record_id(0).encode())
        os._exit(0)
    os.close(write_end)
    parent_id = new_record_id(0)
    with os.fdopen(read_end, "rb") as pipe:
        child_id = pipe.read().decode()
    os.waitpid(pid, 0)

    assert (32, parent_id[:12]) == (len(child_id), child_id[:12])
    assert child_id != parent_id
