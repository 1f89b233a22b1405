"""Record ids: time-ordered, unique across processes, cheap to make."""

from __future__ import annotations

import os
import random

__all__ = ["new_record_id"]


def _seeded() -> random.Random:
    return random.Random(os.urandom(32))  # noqa: S311 - ids need uniqueness, not secrecy


# Not os.urandom per id: reading the kernel's generator releases the GIL, and
# a thread that gives the GIL up while the application's thread keeps it busy
# waits up to the switch interval (5 ms) to get it back, for every record.
# A private generator seeded from the kernel once per process (and again in
# a forked child, which would otherwise repeat its parent's ids) gives 74
# random bits per id for nothing; an application seeding `random` cannot
# touch it.
_generator = _seeded()


def _reseed_after_fork() -> None:
    global _generator  # noqa: PLW0603 - one generator per process
    _generator = _seeded()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed_after_fork)


def new_record_id(started_at_ns: int) -> str:
    """A 32-hex-digit id in UUIDv7 layout: 48 bits of milliseconds, then 74 random bits.

    Time order keeps inserts at the end of the primary-key index; the random
    part keeps ids from different processes apart without coordination.
    """
    milliseconds = started_at_ns // 1_000_000
    random_bits = _generator.getrandbits(74)
    version_and_random_a = 0x7000 | (random_bits >> 62)
    variant_and_random_b = (0b10 << 62) | (random_bits & ((1 << 62) - 1))
    return f"{milliseconds:012x}{version_and_random_a:04x}{variant_and_random_b:016x}"
