"""One latency group's values as sorted runs, and exact nearest-rank percentiles of them.

A group's values come as several sorted runs (one per hour or day summary,
or one read from `requests`); the percentiles are those of all of them
merged, found by bisection when the runs are few against the values, else
by merging (Timsort merges runs rather than sorting anew).
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Final

from oaitrace._report_types import GroupValue, LatencyRow, Percentiles

__all__ = [
    "MEASURES",
    "Samples",
    "Values",
    "collect",
    "nearest_rank",
    "percentiles_of_runs",
]

MEASURES: Final = ("duration", "processing", "network", "ttft")
_FRACTIONS: Final = (0.50, 0.95, 0.99)
# Bisection costs each run three searches of up to 64 rounds, about 200 µs;
# merging costs each value a copy and its share of a sort, about 0.2 µs.
# Below this many values per run merging is cheaper (a month's hourly runs
# of one model: 695 runs, 330,000 values, 0.5 s bisected, 0.1 s merged).
_VALUES_PER_RUN_TO_BISECT: Final = 1_000


def nearest_rank(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(slots=True)
class Values:
    """The values of one group as they are read, each list then sorted by `sort`."""

    duration: list[float] = field(default_factory=list)
    processing: list[float] = field(default_factory=list)
    network: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)

    def sort(self) -> Values:
        for measure in (self.duration, self.processing, self.network, self.ttft):
            measure.sort()
        return self

    def samples(self) -> Samples:
        """One sorted run per measure (call `sort` first)."""
        return Samples([self.duration], [self.processing], [self.network], [self.ttft])


@dataclass(slots=True)
class Samples:
    """The values of one group, each measure as sorted runs (lists or arrays of doubles)."""

    duration: list[Sequence[float]] = field(default_factory=list)
    processing: list[Sequence[float]] = field(default_factory=list)
    network: list[Sequence[float]] = field(default_factory=list)
    ttft: list[Sequence[float]] = field(default_factory=list)

    def add(self, other: Samples) -> None:
        self.duration.extend(other.duration)
        self.processing.extend(other.processing)
        self.network.extend(other.network)
        self.ttft.extend(other.ttft)

    def merged(self) -> Values:
        """The values as one sorted list per measure."""
        return Values(*(_merge(runs) for runs in self.runs())).sort()

    def runs(self) -> tuple[list[Sequence[float]], ...]:
        return (self.duration, self.processing, self.network, self.ttft)

    def row(self, group: Mapping[str, GroupValue]) -> LatencyRow:
        """The group's percentiles. Runs it had to merge stay merged, one sorted run each:
        a total made of the groups afterwards bisects those instead of merging again."""
        for runs in self.runs():
            if _merging_is_cheaper(runs):
                merged = _merge(runs)
                merged.sort()
                runs[:] = [merged]
        duration, processing, network, ttft = (percentiles_of_runs(runs) for runs in self.runs())
        return LatencyRow(
            group=group,
            requests=duration.count,
            duration=duration,
            processing=processing,
            network=network,
            ttft=ttft,
        )

    @classmethod
    def of(cls, groups: Iterable[Samples]) -> Samples:
        everything = cls()
        for group in groups:
            everything.add(group)
        return everything


def collect(rows: Iterable[Sequence[Any]], width: int) -> dict[tuple[GroupValue, ...], Values]:
    """Rows of (group values..., duration, processing, ttft) as unsorted values per group."""
    groups: dict[tuple[GroupValue, ...], Values] = {}
    # The hot loop of the slowest report: one dict lookup a row. The network
    # share is subtracted here, the same IEEE subtraction the databases make.
    for row in rows:
        key = tuple(row[:width])
        group = groups.get(key)
        if group is None:
            group = groups[key] = Values()
        duration = row[width]
        group.duration.append(duration)
        processing = row[width + 1]
        if processing is not None:
            group.processing.append(processing)
            group.network.append(duration - processing)
        if row[width + 2] is not None:
            group.ttft.append(row[width + 2])
    return groups


def percentiles_of_runs(runs: Sequence[Sequence[float]]) -> Percentiles:
    """The percentiles of the union of sorted runs, as if they were merged and sorted."""
    runs = [run for run in runs if len(run)]
    count = sum(len(run) for run in runs)
    if count == 0:
        return Percentiles(count=0, p50=None, p95=None, p99=None)
    if _merging_is_cheaper(runs):
        merged = _merge(runs)
        merged.sort()
        runs = [merged]
    if len(runs) == 1:
        p50, p95, p99 = (nearest_rank(runs[0], fraction) for fraction in _FRACTIONS)
    else:
        # Ranks as `nearest_rank` computes them.
        p50, p95, p99 = (
            _kth_smallest(runs, max(1, math.ceil(fraction * count))) for fraction in _FRACTIONS
        )
    return Percentiles(count=count, p50=p50, p95=p95, p99=p99)


def _merging_is_cheaper(runs: Sequence[Sequence[float]]) -> bool:
    """Whether merging the runs costs less than bisecting them (see _VALUES_PER_RUN_TO_BISECT)."""
    return len(runs) > 1 and len(runs) * _VALUES_PER_RUN_TO_BISECT > sum(len(r) for r in runs)


def _merge(runs: Sequence[Sequence[float]]) -> list[float]:
    """The runs' values in one list, not yet sorted."""
    if len(runs) == 1:
        return list(runs[0])
    return list(chain.from_iterable(runs))


def _kth_smallest(runs: Sequence[Sequence[float]], rank: int) -> float:
    """The rank-th smallest (from 1) of the values of sorted runs, without merging them.

    A binary search over the doubles themselves, in the order of their bits
    made monotonic: at most 64 rounds of one bisection per run. For a few
    runs of many values that is nothing next to sorting them again.
    """
    low = _ordered_bits(min(run[0] for run in runs))
    high = _ordered_bits(max(run[-1] for run in runs))
    # The smallest double with at least `rank` values at or below it is the value.
    while low < high:
        middle = (low + high) // 2
        at_or_below = sum(bisect_right(run, _from_ordered_bits(middle)) for run in runs)
        if at_or_below >= rank:
            high = middle
        else:
            low = middle + 1
    value = _from_ordered_bits(low)
    for run in runs:  # the value as stored (0.0 and -0.0 share their bits here)
        index = bisect_left(run, value)
        if index < len(run) and run[index] == value:
            return float(run[index])
    return value


_DOUBLE: Final = struct.Struct("<d")
_BITS: Final = struct.Struct("<Q")
_SIGN: Final = 1 << 63


def _ordered_bits(value: float) -> int:
    """An integer that orders as the double does (negative doubles count down)."""
    (bits,) = _BITS.unpack(_DOUBLE.pack(value))
    return -(bits ^ _SIGN) if bits & _SIGN else int(bits)


def _from_ordered_bits(ordered: int) -> float:
    (value,) = _DOUBLE.unpack(_BITS.pack(ordered if ordered >= 0 else -ordered | _SIGN))
    return float(value)
