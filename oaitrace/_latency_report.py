"""`Query.latency`: exact nearest-rank percentiles of duration, processing, network and TTFT.

Computed in Python over every value of each group, the same way for both
databases, never with a database's own percentile function. Grouped by
model, endpoint, day or hour and not filtered, complete hours and days come
from their summaries (`oaitrace._latency_hours`) instead of reading and
sorting a month's million values each time.
"""

from __future__ import annotations

from collections.abc import Sequence

from oaitrace._latency_hours import kind_for, samples_through_hours
from oaitrace._latency_samples import Samples, collect, nearest_rank
from oaitrace._report_scope import (
    REQUESTS,
    Scope,
    group_columns,
    select_requests,
    succeeded,
)
from oaitrace._report_types import GroupValue, LatencyReport

__all__ = [
    "latency",
    "nearest_rank",
]

_C = REQUESTS.c


def latency(scope: Scope, by: Sequence[str]) -> LatencyReport:
    """p50/p95/p99 of duration, server processing, network share and stream TTFT per group.

    Successful attempts only (status below 400): a fast 429 is not latency.
    Exact nearest-rank percentiles of every value in the period.
    """
    kind = kind_for(by) if scope.summarised else None
    total: Samples | None = None
    if kind is None:
        groups = _read_samples(scope, by)
    else:
        groups, total = samples_through_hours(scope, by, kind)
    if not by:
        return LatencyReport(by=(), rows=[], total=(total or Samples.of(groups.values())).row({}))
    keys = sorted(groups, key=lambda key: tuple((v is None, str(v)) for v in key))
    rows = [groups[key].row(dict(zip(by, key, strict=True))) for key in keys]
    # After the rows: each group's runs are merged by now where that was cheaper.
    total = total or Samples.of(groups.values())
    return LatencyReport(by=tuple(by), rows=rows, total=total.row({}))


def _read_samples(scope: Scope, by: Sequence[str]) -> dict[tuple[GroupValue, ...], Samples]:
    """Every value of the period, read from `requests`, per group, sorted."""
    groups = group_columns(scope, by)
    statement = select_requests(*groups, _C.duration_ms, _C.processing_ms, _C.ttft_ms, by=by).where(
        *scope.where(), succeeded()
    )
    return {
        key: values.sort().samples()
        for key, values in collect(scope.fetch_raw(statement), len(groups)).items()
    }
