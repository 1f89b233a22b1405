"""Record ids: time-ordered, unique across processes, cheap to make."""

from __future__ import annotations

import os

__all__ = ["new_record_id"]


def new_record_id(started_at_ns: int) -> str:
    """A 32-hex-digit id in UUIDv7 layout: 48 bits of milliseconds, then 74 random bits.

    Time order keeps inserts at the end of the primary-key index; the random
    part keeps ids from different processes apart without coordination.
    """
    milliseconds = started_at_ns // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")
    version_and_random_a = 0x7000 | (random_bits >> 68)
    variant_and_random_b = (0b10 << 62) | (random_bits & ((1 << 62) - 1))
    return f"{milliseconds:012x}{version_and_random_a:04x}{variant_and_random_b:016x}"
