"""`Query.latency`: exact nearest-rank percentiles of duration, processing, network and TTFT.

Computed in Python over every value of each group, the same way for both
databases, never with a database's own percentile function.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from oaitrace._report_scope import (
    REQUESTS,
    Scope,
    group_columns,
    select_requests,
    succeeded,
)
from oaitrace._report_types import (
    GroupValue,
    LatencyReport,
    LatencyRow,
    Percentiles,
)

__all__ = [
    "latency",
    "nearest_rank",
]

_C = REQUESTS.c


def nearest_rank(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


_FRACTIONS: Final = (0.50, 0.95, 0.99)
_MEASURES: Final = ("duration", "processing", "network", "ttft")


def _percentiles(sorted_values: Sequence[float]) -> Percentiles:
    p50, p95, p99 = (nearest_rank(sorted_values, fraction) for fraction in _FRACTIONS)
    return Percentiles(count=len(sorted_values), p50=p50, p95=p95, p99=p99)


def _percentiles_of_runs(runs: Sequence[Sequence[float]]) -> Percentiles:
    """The percentiles of the union of sorted lists, as if they were merged and sorted."""
    count = sum(len(run) for run in runs)
    if count == 0:
        return Percentiles(count=0, p50=None, p95=None, p99=None)
    # Ranks as `nearest_rank` computes them.
    p50, p95, p99 = (
        _kth_smallest(runs, max(1, math.ceil(fraction * count))) for fraction in _FRACTIONS
    )
    return Percentiles(count=count, p50=p50, p95=p95, p99=p99)


def _kth_smallest(runs: Sequence[Sequence[float]], rank: int) -> float:
    """The rank-th smallest (from 1) of the values of sorted lists, without merging them.

    A binary search over the doubles themselves, in the order of their bits
    made monotonic: at most 64 rounds of one bisection per list. For a
    handful of groups that is nothing next to sorting a million values again.
    """
    low = _ordered_bits(min(run[0] for run in runs if run))
    high = _ordered_bits(max(run[-1] for run in runs if run))
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
            return run[index]
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


# Beyond this many groups (hourly over a long period) merging and sorting
# the sorted lists again is cheaper than bisecting every one of them.
_MAX_RUNS: Final = 64


@dataclass(slots=True)
class _Samples:
    """The measured values of one group (each list sorted by `sort`)."""

    duration: list[float] = field(default_factory=list)
    processing: list[float] = field(default_factory=list)
    network: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)

    def sort(self) -> None:
        for measure in (self.duration, self.processing, self.network, self.ttft):
            measure.sort()

    def row(self, group: Mapping[str, GroupValue]) -> LatencyRow:
        return LatencyRow(
            group=group,
            requests=len(self.duration),
            duration=_percentiles(self.duration),
            processing=_percentiles(self.processing),
            network=_percentiles(self.network),
            ttft=_percentiles(self.ttft),
        )


def latency(scope: Scope, by: Sequence[str]) -> LatencyReport:
    """p50/p95/p99 of duration, server processing, network share and stream TTFT per group.

    Successful attempts only (status below 400): a fast 429 is not latency.
    Exact nearest-rank percentiles of every value in the period: the values
    are read and each group's sorted once; the total's come from those
    sorted lists by bisection.
    """
    groups = group_columns(scope, by)
    statement = select_requests(*groups, _C.duration_ms, _C.processing_ms, _C.ttft_ms, by=by).where(
        *scope.where(), succeeded()
    )
    width = len(groups)
    samples: dict[tuple[GroupValue, ...], _Samples] = {}
    # The hot loop of the slowest report: one dict lookup a row. The network
    # share is subtracted here, the same IEEE subtraction the databases make.
    for row in scope.fetch_raw(statement):
        key = row[:width]
        group = samples.get(key)
        if group is None:
            group = samples[key] = _Samples()
        duration = row[width]
        group.duration.append(duration)
        processing = row[width + 1]
        if processing is not None:
            group.processing.append(processing)
            group.network.append(duration - processing)
        if row[width + 2] is not None:
            group.ttft.append(row[width + 2])
    for group in samples.values():
        group.sort()
    if not by:
        return LatencyReport(by=(), rows=[], total=samples.get((), _Samples()).row({}))
    keys = sorted(samples, key=lambda key: tuple((v is None, str(v)) for v in key))
    rows = [samples[key].row(dict(zip(by, key, strict=True))) for key in keys]
    return LatencyReport(by=tuple(by), rows=rows, total=_total_latency(list(samples.values())))


def _total_latency(groups: Sequence[_Samples]) -> LatencyRow:
    """The row of all groups together, from their sorted values."""
    if len(groups) > _MAX_RUNS:
        everything = _Samples()
        for measure in _MEASURES:
            merged: list[float] = getattr(everything, measure)
            for group in groups:
                merged.extend(getattr(group, measure))
        everything.sort()
        return everything.row({})
    duration, processing, network, ttft = (
        _percentiles_of_runs([getattr(group, measure) for group in groups]) for measure in _MEASURES
    )
    return LatencyRow(
        group={},
        requests=duration.count,
        duration=duration,
        processing=processing,
        network=network,
        ttft=ttft,
    )
