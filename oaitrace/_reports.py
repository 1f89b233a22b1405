"""The reports behind `Query.usage`, `costs`, `errors`, `latency`, `ratelimits`, `retries` ...

SQLAlchemy Core with bound parameters only, written so SQLite and PostgreSQL
return the same numbers:

- day and hour buckets are text built by one dialect-specific helper
  (`_bucket`), in UTC on both;
- costs are summed exactly: NUMERIC on PostgreSQL; on SQLite, where the
  fixed-point text would be summed as floats, the integer and fractional
  parts are summed as integers (`_cost_sum_columns`);
- percentiles are nearest-rank, computed in Python over the values of each
  group, never with a database's own percentile function;
- `tag:<name>` groups by the `request_tags` row of that name, outer-joined
  (no such tag: the group is None).
"""

from __future__ import annotations

import datetime
import functools
import heapq
import json
import math
import struct
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Engine,
    String,
    and_,
    case,
    cast,
    column,
    extract,
    func,
    null,
    or_,
    select,
    text,
    true,
    type_coerce,
    values,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.selectable import FromClause, NamedFromClause

from oaitrace._report_types import (
    ErrorCount,
    ErrorExample,
    ErrorReport,
    GroupValue,
    LatencyReport,
    LatencyRow,
    Percentiles,
    RateLimitBucket,
    RateLimitReport,
    RateLimitRow,
    RetriedCall,
    RetryGroup,
    RetryReport,
    UsageReport,
    UsageRow,
)
from oaitrace.exceptions import DatabaseError, QueryError
from oaitrace.storage._models import (
    COST_SCALE,
    FAILED_PREDICATE,
    RETRIED_PREDICATE,
    UNPRICED_PREDICATE,
    RequestRow,
    RequestTagRow,
    UtcDateTime,
)

__all__ = [
    "GROUP_KEYS",
    "Scope",
    "errors",
    "latency",
    "ratelimits",
    "retries",
    "usage",
]

_REQUESTS = RequestRow.__table__
_C = _REQUESTS.c
_TAGS = RequestTagRow.__table__
_DEFAULT_RETRY_WINDOW_S: Final = 600.0

# The --by keys besides day/hour and tag:<name>.
_COLUMN_KEYS: Final[Mapping[str, Callable[[], ColumnElement[Any]]]] = {
    # The expression of ix_requests_model_report, so the planners use it.
    "model": lambda: func.coalesce(_C.request_model, _C.response_model),
    "response_model": lambda: _C.response_model,
    "endpoint": lambda: _C.endpoint,
    "operation": lambda: _C.operation,
    "host": lambda: _C.host,
    "status": lambda: _C.status_code,
    "project": lambda: _C.project,
    "organization": lambda: _C.organization,
    "api_key": lambda: _C.api_key_fingerprint,
    "service_tier": lambda: _C.service_tier,
}
GROUP_KEYS: Final = (*_COLUMN_KEYS, "day", "hour", "tag:<name>")
# Keys with an index of their own, (column, started_at). Grouped by the bare
# column, SQLite walks that index to spare a sort and fetches every row from
# the table: usage by endpoint over 1,000,000 records took 2.4 s, 1.0 s as an
# expression (a covering scan and a sort).
_OWN_INDEX_KEYS: Final = frozenset({"response_model", "endpoint", "status"})


def _select(*columns: Any, by: Sequence[str] = ()) -> Any:
    """SELECT ... FROM requests, joined to the tags `by` groups on.

    The FROM is explicit because some conditions are SQL text.
    """
    source: FromClause = _REQUESTS
    for key in by:
        if _is_tag(key):
            tag = _tag_alias(key[4:])
            source = source.outerjoin(tag, and_(tag.c.request_pk == _C.id, tag.c.key == key[4:]))
    return select(*columns).select_from(source)


def _is_tag(key: str) -> bool:
    return key.startswith("tag:") and len(key) > 4


@functools.lru_cache(maxsize=64)
def _tag_alias(name: str) -> NamedFromClause:
    """One alias of request_tags per tag name: the group column and the join must share it."""
    return _TAGS.alias()


def _valid_keys() -> str:
    return ", ".join(GROUP_KEYS)


def _bucket(dialect: str, unit: str) -> ColumnElement[str]:
    """The UTC day ("2025-01-15") or hour ("2025-01-15 12:00") of `started_at`, as text.

    SQLite stores `started_at` as fixed-width UTC text ("2025-01-15
    12:30:45.123456"), so a prefix is the bucket (and uses the index);
    PostgreSQL formats its timestamptz in UTC.
    """
    if dialect == "sqlite":
        if unit == "day":
            return func.substr(_C.started_at, 1, 10)
        return func.substr(_C.started_at, 1, 13).concat(":00")
    utc = func.timezone("UTC", _C.started_at)
    return func.to_char(utc, "YYYY-MM-DD" if unit == "day" else "YYYY-MM-DD HH24:00")


def group_expression(dialect: str, key: str) -> ColumnElement[Any]:
    """The SQL expression of one --by key; QueryError listing the valid keys otherwise."""
    if key in ("day", "hour"):
        return _bucket(dialect, key)
    if _is_tag(key):
        tag: ColumnElement[Any] = _tag_alias(key[4:]).c.value
        return tag
    factory = _COLUMN_KEYS.get(key)
    if factory is None:
        msg = f"unknown grouping {key!r}; group by any of: {_valid_keys()}"
        raise QueryError(msg)
    if dialect == "sqlite" and key in _OWN_INDEX_KEYS:
        return factory() + 0 if key == "status" else factory().concat("")
    return factory()


def parse_by(by: str | Iterable[str] | None) -> tuple[str, ...]:
    """`"model,day"` or `["model", "day"]` -> ("model", "day"); checks every key."""
    if by is None:
        return ()
    keys = [part.strip() for part in by.split(",")] if isinstance(by, str) else list(by)
    keys = [key for key in keys if key]
    for key in keys:
        if key in ("day", "hour") or key in _COLUMN_KEYS or (key.startswith("tag:") and key[4:]):
            continue
        msg = f"unknown grouping {key!r}; group by any of: {_valid_keys()}"
        raise QueryError(msg)
    if len(set(keys)) != len(keys):
        msg = f"a grouping key is repeated in {','.join(keys)}"
        raise QueryError(msg)
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class Scope:
    """What every report reads: a time range (since inclusive, until exclusive) and filters."""

    engine: Engine
    since: datetime.datetime | None
    until: datetime.datetime | None
    conditions: tuple[ColumnElement[bool], ...]

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def where(self) -> list[ColumnElement[bool]]:
        """The conditions of the scope, time range included."""
        conditions = list(self.conditions)
        if self.since is not None:
            conditions.append(_C.started_at >= self.since)
        if self.until is not None:
            conditions.append(_C.started_at < self.until)
        return conditions

    def fetch(self, statement: Any) -> list[Any]:
        """Run a SELECT and return its rows; DatabaseError with a hint on failure."""
        try:
            with self.engine.connect() as connection:
                return list(connection.execute(statement))
        except SQLAlchemyError as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            msg = (
                f"cannot read {url}: {exc.__class__.__name__}: "
                f"{exc.args[0] if exc.args else exc}; "
                "if it is an oaitrace database, run `oaitrace db upgrade`"
            )
            raise DatabaseError(msg) from exc

    def fetch_raw(self, statement: Any) -> list[Any]:
        """Rows straight from the driver, without SQLAlchemy's per-value processing.

        Three times faster for the million-row fetches of `latency`; only for
        columns whose raw driver values are what the report wants (numbers
        and text, not SQLite timestamps or costs).
        """
        try:
            with self.engine.connect() as connection:
                cursor = connection.execute(statement).cursor
                return list(cursor.fetchall()) if cursor is not None else []
        except SQLAlchemyError as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            msg = f"cannot read {url}: {exc.__class__.__name__}: {exc}"
            raise DatabaseError(msg) from exc


def _groups(scope: Scope, by: Sequence[str]) -> list[KeyedColumnElement[Any]]:
    return [group_expression(scope.dialect, key).label(f"g{index}") for index, key in enumerate(by)]


def _group_of(by: Sequence[str], row: Any) -> dict[str, GroupValue]:
    return {key: row[index] for index, key in enumerate(by)}


def _is_error() -> ColumnElement[bool]:
    # As literal SQL, the very text of the partial index, so planners use it;
    # in parentheses, or its OR would escape the other conditions of a WHERE.
    return text(f"({FAILED_PREDICATE})")  # type: ignore[return-value]


def _succeeded() -> ColumnElement[bool]:
    """Attempts answered below 400, as a WHERE term that no index serves.

    SQLite keeps no statistics, so for `status_code < 400` it would read the
    nineteen attempts in twenty that succeeded through the status index, one
    table lookup each, instead of scanning a covering index (measured over
    1,000,000 records: latency 3.7 s, the unpriced reasons of costs 0.8 s).
    """
    return (_C.status_code + 0) < 400


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _total(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


# --- exact cost sums ------------------------------------------------------------


def _cost_sum_columns(dialect: str) -> list[ColumnElement[Any]]:
    """Columns whose values `_cost_from_sums` turns into the exact sum of `cost_usd`."""
    if dialect != "sqlite":
        return [func.sum(_C.cost_usd)]
    # SQLite holds integer picodollars: sum the millions and the rest apart
    # so the sum stays exact and cannot overflow 64 bits.
    # The raw integers: the column's own type would turn each sum into dollars.
    cost = type_coerce(_C.cost_usd, BigInteger)
    return [func.sum(cost // _PART_INT), func.sum(cost % _PART_INT)]


_PART_INT: Final = 1_000_000
_UTC: Final = datetime.timezone.utc
_QUANTUM: Final = Decimal(1).scaleb(-COST_SCALE)
_ZERO_COST: Final = Decimal(0).quantize(_QUANTUM)


def _cost_from_sums(values: Sequence[Any]) -> Decimal:
    if len(values) == 1:
        total = values[0]
        return _ZERO_COST if total is None else Decimal(total).quantize(_QUANTUM)
    millions, rest = (int(value or 0) for value in values)
    return Decimal(millions * _PART_INT + rest).scaleb(-COST_SCALE).quantize(_QUANTUM)


# --- grouped aggregates -----------------------------------------------------------


def _grouped_rows(
    scope: Scope, by: Sequence[str], aggregates: Sequence[ColumnElement[Any]]
) -> Sequence[Sequence[Any]]:
    """One row per group with attempts: its value of each `by` key, then the aggregates."""
    unit = _time_unit(by)
    if unit is not None:
        bucketed = _bucketed_rows(scope, by, unit, aggregates)
        if bucketed is not None:
            return bucketed
    groups = _groups(scope, by)
    statement = _select(*groups, *aggregates, by=by).where(*scope.where())
    if groups:
        statement = statement.group_by(*groups)
    return scope.fetch(statement)


# Grouped by a day or hour formatted from `started_at`, SQLite sorts every
# row (it has no hash aggregation) and PostgreSQL, expecting one group per
# attempt, sorts too. Here the buckets are listed first and each is read as
# a range of a time-ordered index: over 1,000,000 records, usage by model and
# day takes 0.4 s instead of 1.2 s on SQLite, 0.6 s instead of 1.6 s on PostgreSQL.
_STEPS: Final = {"day": datetime.timedelta(days=1), "hour": datetime.timedelta(hours=1)}
# An hourly report over years would list too many: the plain GROUP BY then.
_MAX_BUCKETS: Final = 10_000


def _time_unit(by: Sequence[str]) -> str | None:
    """The time key ("day" or "hour") of a grouping this speeds up, else None.

    One time key, with at most model (SQLite reads each model's buckets from
    the model index) or, on PostgreSQL, any keys but tags.
    """
    units = [key for key in by if key in _STEPS]
    if len(units) != 1 or any(_is_tag(key) for key in by):
        return None
    return units[0]


def _bucketed_rows(
    scope: Scope, by: Sequence[str], unit: str, aggregates: Sequence[ColumnElement[Any]]
) -> list[Sequence[Any]] | None:
    """`_grouped_rows` through listed time buckets; None when the grouping does not fit."""
    if scope.dialect == "sqlite" and not set(by) <= {unit, "model"}:
        return None
    if scope.dialect != "sqlite" and scope.conditions:
        # A filter leaves PostgreSQL few rows, which it then compares with
        # every bucket (model=... by hour over four days: 1.2 s, not 0.05 s).
        return None
    first = scope.fetch(select(func.min(_C.started_at)).where(*scope.where()))[0][0]
    if first is None:
        return []
    last = scope.fetch(select(func.max(_C.started_at)).where(*scope.where()))[0][0]
    start = first.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        start = start.replace(hour=0)
    step = _STEPS[unit]
    count = (last - start) // step + 1
    if count > _MAX_BUCKETS:
        return None
    # Each bucket cut to the period, which then need not be a condition of
    # its own: two lower bounds on started_at, SQLite would seek by the
    # period's and read from there to the bucket's end, for every bucket.
    buckets = []
    for index in range(count):
        low = start + index * step
        high = low + step
        buckets.append(
            _TimeBucket(
                label=_bucket_label(low, unit),
                low=low if scope.since is None else max(low, scope.since),
                high=high if scope.until is None else min(high, scope.until),
            )
        )
    if scope.dialect == "sqlite":
        return _sqlite_bucketed_rows(scope, by, unit, buckets, aggregates)
    return _joined_bucket_rows(scope, by, unit, buckets, aggregates)


@dataclass(frozen=True, slots=True)
class _TimeBucket:
    """One day or hour of a period: its label and the attempts' times it holds, [low, high)."""

    label: str
    low: datetime.datetime
    high: datetime.datetime


def _bucket_label(start: datetime.datetime, unit: str) -> str:
    """What `_bucket` makes of the attempts in the bucket starting at `start`."""
    return start.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m-%d %H:00")


def _sqlite_bucketed_rows(
    scope: Scope,
    by: Sequence[str],
    unit: str,
    buckets: Sequence[_TimeBucket],
    aggregates: Sequence[ColumnElement[Any]],
) -> list[Sequence[Any]]:
    """Each (bucket, model) aggregated by a correlated subquery over an index range.

    A subquery returns one value, so the aggregates come packed in a JSON
    array: exact for the integers `usage` sums. Buckets and models come as
    JSON arrays too (SQLite's VALUES takes no column names).
    """
    bounds = [[_sqlite_text(bucket.low), _sqlite_text(bucket.high)] for bucket in buckets]
    bucket = func.json_each(json.dumps(bounds)).table_valued("key", "value").alias("bucket")
    conditions = [
        *scope.conditions,
        _C.started_at >= func.json_extract(bucket.c.value, "$[0]"),
        _C.started_at < func.json_extract(bucket.c.value, "$[1]"),
    ]
    outer: FromClause = bucket
    keys = [bucket.c.key]
    if "model" in by:
        names = json.dumps(_sqlite_models(scope))
        model = func.json_each(names).table_valued("value").alias("model")
        conditions.append(_COLUMN_KEYS["model"]().is_(model.c.value))
        outer = outer.join(model, true())
        keys.append(model.c.value)
    packed = select(func.json_array(*aggregates)).select_from(_REQUESTS).where(*conditions)
    statement = select(*keys, packed.scalar_subquery()).select_from(outer)
    rows: list[Sequence[Any]] = []
    for row in scope.fetch(statement):
        values = json.loads(row[-1])
        if values[0]:
            group = {unit: buckets[row[0]].label, "model": row[1] if len(row) > 2 else None}
            rows.append((*(group[key] for key in by), *values))
    return rows


def _sqlite_text(moment: datetime.datetime) -> str:
    """A time as SQLite stores `started_at`: naive UTC text of fixed width.

    SQLAlchemy's format, "2025-01-15 12:30:45.123456", compared as text.
    """
    naive = moment.astimezone(_UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")


def _sqlite_models(scope: Scope) -> list[str | None]:
    """Every model in the table (None too), each found by one seek in the model index."""
    model = _COLUMN_KEYS["model"]()
    names: list[str | None] = [None]
    while True:
        after = [model > names[-1]] if len(names) > 1 else []
        found = scope.fetch(select(func.min(model)).where(*after))[0][0]
        if found is None:
            return names
        names.append(found)


def _joined_bucket_rows(
    scope: Scope,
    by: Sequence[str],
    unit: str,
    buckets: Sequence[_TimeBucket],
    aggregates: Sequence[ColumnElement[Any]],
) -> list[Sequence[Any]]:
    """A VALUES list of buckets joined on the time range, so PostgreSQL hashes the groups."""
    bucket = values(
        column("label", String()),
        column("low", UtcDateTime()),
        column("high", UtcDateTime()),
        name="bucket",
    ).data([(bucket.label, bucket.low, bucket.high) for bucket in buckets])
    keys = [
        bucket.c.label if key == unit else group_expression(scope.dialect, key).label(f"g{index}")
        for index, key in enumerate(by)
    ]
    in_bucket = and_(_C.started_at >= bucket.c.low, _C.started_at < bucket.c.high)
    statement = (
        select(*keys, *aggregates)
        .select_from(bucket.join(_REQUESTS, in_bucket))
        .where(*scope.conditions)
        .group_by(*keys)
    )
    return list(scope.fetch(statement))


# --- usage and costs --------------------------------------------------------------

_USAGE_SUMS: Final = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def usage(scope: Scope, by: Sequence[str]) -> UsageReport:
    """Requests, token split and exact cost per group, ordered by group."""
    unpriced = and_(_C.cost_usd.is_(None), _C.status_code < 400)
    aggregates = (
        func.count(),
        _count_if(_is_error()),
        *(_total(_C[name]) for name in _USAGE_SUMS),
        _count_if(unpriced),
        *_cost_sum_columns(scope.dialect),
    )
    width = len(by)
    rows = []
    for row in _grouped_rows(scope, by, aggregates):
        values = row[width:]
        if not by and values[0] == 0:
            break  # nothing in scope: no row, the total is zero
        rows.append(
            UsageRow(
                group=_group_of(by, row),
                requests=int(values[0]),
                errors=int(values[1]),
                input_tokens=int(values[2]),
                cached_input_tokens=int(values[3]),
                output_tokens=int(values[4]),
                reasoning_tokens=int(values[5]),
                total_tokens=int(values[6]),
                unpriced_requests=int(values[7]),
                cost_usd=_cost_from_sums(values[8:]),
            )
        )
    # Sorted here, not by the database: NULLs and collation differ between them.
    rows.sort(key=lambda row: _sort_key(row.group))
    return UsageReport(by=tuple(by), rows=rows, total=_sum_usage(rows))


def _sum_usage(rows: Sequence[UsageRow]) -> UsageRow:
    return UsageRow(
        group={},
        requests=sum(row.requests for row in rows),
        errors=sum(row.errors for row in rows),
        input_tokens=sum(row.input_tokens for row in rows),
        cached_input_tokens=sum(row.cached_input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        reasoning_tokens=sum(row.reasoning_tokens for row in rows),
        total_tokens=sum(row.total_tokens for row in rows),
        cost_usd=sum((row.cost_usd for row in rows), _ZERO_COST),
        unpriced_requests=sum(row.unpriced_requests for row in rows),
    )


def costs(scope: Scope, by: Sequence[str]) -> UsageReport:
    """`usage`, most expensive group first, with why successful attempts went unpriced."""
    report = usage(scope, by)
    rows = sorted(report.rows, key=lambda row: (-row.cost_usd, -row.requests, _sort_key(row.group)))
    statement = (
        _select(_C.cost_reason, func.count())
        .where(*scope.where(), text(UNPRICED_PREDICATE), _succeeded())
        .group_by(_C.cost_reason)
    )
    reasons = {
        str(reason or "not priced yet"): int(count) for reason, count in scope.fetch(statement)
    }
    ordered = dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))
    return UsageReport(by=report.by, rows=rows, total=report.total, unpriced_reasons=ordered)


def _sort_key(group: Mapping[str, GroupValue]) -> tuple[tuple[int, str], ...]:
    return tuple((value is None, str(value)) for value in group.values())


# --- errors ---------------------------------------------------------------------------


def errors(scope: Scope, by: Sequence[str], examples: int = 10) -> ErrorReport:
    """Failed attempts by status, error code and type (per group), and the newest examples."""
    groups = _groups(scope, by)
    where = scope.where()
    totals = scope.fetch(_select(func.count(), _count_if(_is_error())).where(*where))
    requests, failed = (int(value or 0) for value in totals[0])
    keys = (_C.status_code, _C.error_code, _C.error_type)
    statement = (
        _select(*groups, *keys, func.count().label("n"), by=by)
        .where(*where, _is_error())
        .group_by(*groups, *keys)
    )
    width = len(groups)
    rows = [
        ErrorCount(
            group=_group_of(by, row),
            status_code=row[width],
            error_code=row[width + 1],
            error_type=row[width + 2],
            count=int(row[width + 3]),
        )
        for row in scope.fetch(statement)
    ]
    rows.sort(
        key=lambda item: (
            _sort_key(item.group),
            -item.count,
            item.status_code if item.status_code is not None else -1,
            item.error_code or "",
            item.error_type or "",
        )
    )
    latest = (
        _select(
            _C.id,
            _C.started_at,
            _C.request_id,
            func.coalesce(_C.response_model, _C.request_model),
            _C.endpoint,
            _C.status_code,
            _C.error_code,
            _C.error_type,
            _C.error_message,
        )
        .where(*where, _is_error())
        .order_by(_C.started_at.desc(), _C.id.desc())
        .limit(examples)
    )
    example_rows = [
        ErrorExample(
            id=row[0],
            started_at=row[1],
            request_id=row[2],
            model=row[3],
            endpoint=row[4],
            status_code=row[5],
            error_code=row[6],
            error_type=row[7],
            error_message=row[8],
        )
        for row in (scope.fetch(latest) if examples > 0 else [])
    ]
    return ErrorReport(
        by=tuple(by), requests=requests, errors=failed, rows=rows, examples=example_rows
    )


# --- latency --------------------------------------------------------------------------


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
    groups = _groups(scope, by)
    statement = _select(*groups, _C.duration_ms, _C.processing_ms, _C.ttft_ms, by=by).where(
        *scope.where(), _succeeded()
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


# --- rate limits ------------------------------------------------------------------------


def ratelimits(scope: Scope, by: Sequence[str], bucket: str = "hour") -> RateLimitReport:
    """Lowest remaining requests/tokens against the limit per group; 429s per time bucket."""
    groups = _groups(scope, by)
    where = scope.where()
    has_headers = or_(
        _C.ratelimit_remaining_requests.is_not(None), _C.ratelimit_remaining_tokens.is_not(None)
    )
    limited = _C.status_code == 429
    statement = _select(
        *groups,
        _count_if(has_headers),
        func.max(_C.ratelimit_limit_requests),
        func.min(_C.ratelimit_remaining_requests),
        func.max(_C.ratelimit_limit_tokens),
        func.min(_C.ratelimit_remaining_tokens),
        _count_if(limited),
        func.max(case((limited, _C.retry_after_s))),
        func.max(case((has_headers, _C.started_at))),
        by=by,
    ).where(*where, or_(has_headers, limited))
    if groups:
        statement = statement.group_by(*groups)
    width = len(groups)
    found = [row for row in scope.fetch(statement) if row[width] or row[width + 5]]
    resets = _latest_resets(scope, by, has_headers, {tuple(row[:width]): row[-1] for row in found})
    rows = []
    for row in found:
        group_key = tuple(row[:width])
        reset = resets.get(group_key, (None, None))
        rows.append(
            RateLimitRow(
                group=_group_of(by, row),
                requests=int(row[width]),
                limit_requests=row[width + 1],
                min_remaining_requests=row[width + 2],
                requests_headroom=_ratio(row[width + 2], row[width + 1]),
                limit_tokens=row[width + 3],
                min_remaining_tokens=row[width + 4],
                tokens_headroom=_ratio(row[width + 4], row[width + 3]),
                reset_requests_s=reset[0],
                reset_tokens_s=reset[1],
                rate_limited=int(row[width + 5]),
                max_retry_after_s=row[width + 6],
            )
        )
    rows.sort(
        key=lambda item: (
            min(
                item.requests_headroom if item.requests_headroom is not None else 2.0,
                item.tokens_headroom if item.tokens_headroom is not None else 2.0,
            ),
            _sort_key(item.group),
        )
    )
    time_bucket = _bucket(scope.dialect, bucket).label("bucket")
    over_time = (
        _select(
            time_bucket,
            func.count(),
            func.max(_C.retry_after_s),
            func.sum(_C.retry_after_s),
            func.count(_C.retry_after_s),
        )
        .where(*where, limited)
        .group_by(time_bucket)
        .order_by(time_bucket)
    )
    buckets = [
        RateLimitBucket(
            bucket=row[0],
            rate_limited=int(row[1]),
            max_retry_after_s=row[2],
            mean_retry_after_s=None if not row[4] else row[3] / row[4],
        )
        for row in scope.fetch(over_time)
    ]
    return RateLimitReport(by=tuple(by), rows=rows, over_time=buckets)


def _ratio(remaining: int | None, limit: int | None) -> float | None:
    if remaining is None or not limit:
        return None
    return remaining / limit


def _latest_resets(
    scope: Scope,
    by: Sequence[str],
    has_headers: ColumnElement[bool],
    newest: Mapping[tuple[GroupValue, ...], datetime.datetime | None],
) -> dict[tuple[GroupValue, ...], tuple[float | None, float | None]]:
    """The reset times of each group's newest attempt with rate-limit headers.

    The newest time per group comes from the main aggregate; the attempts
    at those instants are then read by the time index (no window function,
    which would sort every row in the period).
    """
    instants = sorted({instant for instant in newest.values() if instant is not None})
    if not instants:
        return {}
    groups = _groups(scope, by)
    statement = (
        _select(
            *groups,
            _C.started_at,
            _C.ratelimit_reset_requests_s,
            _C.ratelimit_reset_tokens_s,
            by=by,
        )
        .where(*scope.where(), has_headers, _C.started_at.in_(instants))
        .order_by(_C.id)
    )
    width = len(groups)
    resets: dict[tuple[GroupValue, ...], tuple[float | None, float | None]] = {}
    for row in scope.fetch(statement):
        key = tuple(row[:width])
        if newest.get(key) == row[width]:
            resets[key] = (row[width + 1], row[width + 2])
    return resets


# --- retries ------------------------------------------------------------------------------


def retries(
    scope: Scope,
    by: Sequence[str],
    window_s: float = _DEFAULT_RETRY_WINDOW_S,
    examples: int = 10,
) -> RetryReport:
    """Logical calls that needed retries, their attempts and the time the retries cost.

    Attempts recorded with a `call_id` (the recorder links the attempts of
    one SDK call) are grouped by it. Older records have none; for them the
    openai SDK's `x-stainless-retry-count` (`retry_attempt`) decides: an
    attempt with `retry_attempt > 0` belongs to the newest call with the
    same method, endpoint, requested model and API key fingerprint whose
    previous attempt ended less than `window_s` seconds before it started
    (two identical calls retried at the same moment can be mixed up).
    """
    key_columns = (
        _C.method,
        _C.endpoint,
        func.coalesce(_C.request_model, ""),
        func.coalesce(_C.api_key_fingerprint, ""),
    )
    groups = _groups(scope, by)
    columns = (
        *key_columns,
        _epoch_microseconds(scope.dialect),
        _C.duration_ms,
        _C.retry_attempt,
        _C.status_code,
        _C.request_id,
        *groups,
    )
    # The SDK only retries after a failure, so a retried call is failed
    # attempts followed by a retry: both small sets, each behind a partial
    # index that holds these columns. Successful first attempts are never
    # read. Only retries need their call_id (a first attempt's call id is its
    # own id); retries are read last so their rows win.
    candidates: dict[str, Any] = {}
    failed = _select(*columns, null(), _C.id, by=by).where(
        *scope.where(), _is_error(), _C.retry_attempt.is_not(None)
    )
    retries_only = _select(*columns, _C.call_id, _C.id, by=by).where(
        *scope.where(), text(RETRIED_PREDICATE)
    )
    for statement in (failed, retries_only):
        for row in scope.fetch_raw(statement):
            candidates[row[-1]] = row
    # Time order, the id breaking ties.
    ordered = sorted(candidates.values(), key=itemgetter(4, -1))
    retried = [(call, call.extra_ms) for call in _assemble_calls(ordered, window_s, len(by))]
    per_group: dict[tuple[GroupValue, ...], list[tuple[_Call, float]]] = defaultdict(list)
    for call, extra_ms in retried:
        per_group[call.group].append((call, extra_ms))
    rows = [_retry_group(by, key, members) for key, members in per_group.items()]
    rows.sort(key=lambda row: (-row.calls, _sort_key(row.group)))
    slowest = heapq.nsmallest(
        examples, retried, key=lambda item: (-item[1], item[0].first_start_us)
    )
    total = _retry_group((), (), retried)
    return RetryReport(
        by=tuple(by),
        calls=total.calls,
        attempts=total.attempts,
        succeeded=total.succeeded,
        extra_ms=total.extra_ms,
        rows=rows,
        examples=[call.public() for call, _ in slowest],
    )


def _retry_group(
    by: Sequence[str], key: tuple[GroupValue, ...], members: Sequence[tuple[_Call, float]]
) -> RetryGroup:
    return RetryGroup(
        group=dict(zip(by, key, strict=True)),
        calls=len(members),
        attempts=sum(call.attempts for call, _ in members),
        succeeded=sum(1 for call, _ in members if call.succeeded),
        extra_ms=sum((extra_ms for _, extra_ms in members), 0.0),
    )


def _epoch_microseconds(dialect: str) -> ColumnElement[int]:
    """`started_at` as whole microseconds since the epoch, exactly, on both databases.

    `microseconds / 1e6` in Python is then the very float `timestamp()` of
    the datetime gives, for a tenth of its cost (96,000 retried and failed
    attempts: 0.1 s instead of 0.25 s).
    """
    if dialect == "sqlite":
        # Naive UTC text, "2025-01-15 12:30:45.123456". Without its fraction:
        # strftime rounds to milliseconds first, so .9996 would add a second.
        seconds = cast(func.strftime("%s", func.substr(_C.started_at, 1, 19)), BigInteger)
        fraction = cast(func.substr(_C.started_at, 21, 6), BigInteger)
        return seconds * 1_000_000 + fraction
    # Whole seconds and the microseconds apart: EXTRACT(EPOCH) of the full
    # value is a double before PostgreSQL 14, not exact.
    whole = cast(extract("epoch", func.date_trunc("second", _C.started_at)), BigInteger)
    micro = cast(extract("microseconds", _C.started_at), BigInteger) % 1_000_000
    return whole * 1_000_000 + micro


@dataclass(slots=True)
class _Call:
    key: tuple[str, str, str, str]
    group: tuple[GroupValue, ...]
    first_start_us: int
    first_id: str
    # Seconds since the epoch: the assembling loop compares floats, not datetimes.
    first_start_s: float
    last_start_s: float
    last_end_s: float
    attempts: int
    final_status: int | None
    request_ids: list[str | None]

    @classmethod
    def starting_with(cls, row: Any, width: int) -> _Call:
        start_s = row[4] / 1_000_000
        # Positional: a quarter faster than keywords, for tens of thousands of calls.
        return cls(
            row[:4],  # key
            row[9 : 9 + width],  # group
            row[4],  # first_start_us
            row[-1],  # first_id
            start_s,  # first_start_s
            start_s,  # last_start_s
            start_s + row[5] / 1000.0,  # last_end_s
            1,  # attempts
            row[7],  # final_status
            [row[8]],  # request_ids
        )

    def add(self, row: Any, start_s: float) -> None:
        self.attempts += 1
        self.last_start_s = start_s
        self.last_end_s = start_s + row[5] / 1000.0
        self.final_status = row[7]
        self.request_ids.append(row[8])

    @property
    def succeeded(self) -> bool:
        return self.final_status is not None and self.final_status < 400

    @property
    def extra_ms(self) -> float:
        return round((self.last_start_s - self.first_start_s) * 1000.0, 3)

    def public(self) -> RetriedCall:
        method, endpoint, model, fingerprint = self.key
        return RetriedCall(
            started_at=_EPOCH_UTC + datetime.timedelta(microseconds=self.first_start_us),
            method=method,
            endpoint=endpoint,
            model=model or None,
            api_key_fingerprint=fingerprint or None,
            attempts=self.attempts,
            final_status=self.final_status,
            extra_ms=self.extra_ms,
            request_ids=tuple(self.request_ids),
        )


_EPOCH_UTC: Final = datetime.datetime(1970, 1, 1, tzinfo=_UTC)


def _end_s(entry: Any) -> float:
    """When the newest attempt of a call, or a lone first attempt's row, ended."""
    if type(entry) is _Call:
        return entry.last_end_s
    end_s: float = entry[4] / 1_000_000 + entry[5] / 1000.0
    return end_s


def _assemble_calls(rows: Iterable[Any], window_s: float, width: int) -> list[_Call]:
    """The calls of more than one attempt, in the order of their first attempts.

    `rows` come in time order. Most first attempts are never retried, so one
    stays its bare row until a retry joins it and makes it a `_Call`: under
    its record id and call id in `by_call_id`, and as the newest call of its
    key (method, endpoint, model, key fingerprint) for records without a call id.
    """
    retried: list[_Call] = []
    newest: dict[tuple[Any, ...], Any] = {}
    by_call_id: dict[str, Any] = {}
    for row in rows:
        call_id = row[-2]
        if row[6] > 0:
            if call_id is not None:
                # Recorded with a call id: the recorder already linked the attempts.
                current = by_call_id.get(call_id)
            else:
                current = newest.get(row[:4])
                if current is not None and row[4] / 1_000_000 - _end_s(current) > window_s:
                    current = None
            if current is not None:
                if type(current) is not _Call:
                    current = _promote(current, width, newest, by_call_id)
                    retried.append(current)
                current.add(row, row[4] / 1_000_000)
                continue
        # A first attempt, or a retry whose first attempt is outside the period.
        by_call_id[row[-1]] = row
        if call_id is not None and call_id != row[-1]:
            by_call_id[call_id] = row
        newest[row[:4]] = row
    retried.sort(key=lambda call: (call.first_start_us, call.first_id))
    return retried


def _promote(
    row: Any, width: int, newest: dict[tuple[Any, ...], Any], by_call_id: dict[str, Any]
) -> _Call:
    """The call a first attempt's row starts, put in the row's places."""
    call = _Call.starting_with(row, width)
    by_call_id[row[-1]] = call
    if row[-2] is not None and row[-2] != row[-1]:
        by_call_id[row[-2]] = call
    if newest.get(call.key) is row:
        newest[call.key] = call
    return call
