"""One row per group of a report: a GROUP BY, or time buckets read as index ranges."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    column,
    func,
    null,
    select,
    true,
    values,
)
from sqlalchemy.sql.selectable import FromClause

from oaitrace._report_scope import (
    COLUMN_KEYS,
    REQUESTS,
    Scope,
    group_columns,
    group_expression,
    is_tag,
    select_requests,
    time_bucket,
)
from oaitrace.storage._models import UtcDateTime

__all__ = [
    "grouped_rows",
]

_C = REQUESTS.c
_UTC: Final = datetime.timezone.utc


def grouped_rows(
    scope: Scope,
    by: Sequence[str],
    aggregates: Sequence[ColumnElement[Any]],
    *,
    where: Sequence[ColumnElement[bool]] = (),
    time_index_covers: bool = True,
    additive: bool = False,
) -> Sequence[Sequence[Any]]:
    """One row per group with attempts: its value of each `by` key, then the aggregates.

    `where` narrows the attempts beyond the scope. The first aggregate must
    be `count()`: the bucketed paths leave out the groups where it is 0.
    `time_index_covers`: the index led by `started_at`
    holds every column the aggregates read, so PostgreSQL may join the time
    buckets to it; if not, it would scan the table and test every row
    against every bucket (rate limits by day and model: 4.5 s), so each
    bucket of each model is read from the model index instead.
    `additive`: every aggregate is a count or a sum, so the groups of the
    hours of the period add up to the groups of the period.
    """
    unit = _time_unit(by)
    if unit is not None:
        bucketed = _bucketed_rows(
            scope, by, unit, aggregates, where=where, time_index_covers=time_index_covers
        )
        if bucketed is not None:
            return bucketed
    elif additive and _sqlite_sorts_every_row(scope, by):
        hourly = _sqlite_hourly_sums(scope, by, aggregates, where=where)
        if hourly is not None:
            return hourly
    groups = group_columns(scope, by)
    statement = select_requests(*groups, *aggregates, by=by).where(*scope.where(), *where)
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
    if len(units) != 1 or any(is_tag(key) for key in by):
        return None
    return units[0]


def _bucketed_rows(
    scope: Scope,
    by: Sequence[str],
    unit: str,
    aggregates: Sequence[ColumnElement[Any]],
    *,
    where: Sequence[ColumnElement[bool]],
    time_index_covers: bool,
) -> list[Sequence[Any]] | None:
    """`grouped_rows` through listed time buckets; None when the grouping does not fit."""
    by_model_index = set(by) <= {unit, "model"}
    if scope.dialect == "sqlite" and not by_model_index:
        return None
    if (
        scope.dialect != "sqlite"
        and not time_index_covers
        and not (by_model_index and len(by) == 2)
    ):
        return None
    if scope.dialect != "sqlite" and scope.conditions:
        # A filter leaves PostgreSQL few rows, which it then compares with
        # every bucket (model=... by hour over four days: 1.2 s, not 0.05 s).
        return None
    buckets = _time_buckets(scope, unit)
    if buckets is None:
        return None
    if not buckets:
        return []
    if scope.dialect == "sqlite":
        return _sqlite_bucketed_rows(scope, by, unit, buckets, aggregates, where=where)
    if not time_index_covers:
        return _lateral_model_rows(scope, by, unit, buckets, aggregates, where=where)
    return _joined_bucket_rows(scope, by, unit, buckets, aggregates, where=where)


def _time_buckets(scope: Scope, unit: str) -> list[_TimeBucket] | None:
    """The days or hours from the first attempt in scope to the last; None if too many."""
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
    return buckets


@dataclass(frozen=True, slots=True)
class _TimeBucket:
    """One day or hour of a period: its label and the attempts' times it holds, [low, high)."""

    label: str
    low: datetime.datetime
    high: datetime.datetime


def _bucket_label(start: datetime.datetime, unit: str) -> str:
    """What `time_bucket` makes of the attempts in the bucket starting at `start`."""
    return start.strftime("%Y-%m-%d" if unit == "day" else "%Y-%m-%d %H:00")


def _sqlite_bucketed_rows(
    scope: Scope,
    by: Sequence[str],
    unit: str,
    buckets: Sequence[_TimeBucket],
    aggregates: Sequence[ColumnElement[Any]],
    *,
    where: Sequence[ColumnElement[bool]],
) -> list[Sequence[Any]]:
    """Each (bucket, model) aggregated by a correlated subquery over an index range.

    A subquery returns one value, so the aggregates come packed in a JSON
    array (`_json_exact`). Buckets and models come as JSON arrays too
    (SQLite's VALUES takes no column names).
    """
    bounds = [[_sqlite_text(bucket.low), _sqlite_text(bucket.high)] for bucket in buckets]
    bucket = func.json_each(json.dumps(bounds)).table_valued("key", "value").alias("bucket")
    conditions = [
        *scope.conditions,
        *where,
        _C.started_at >= func.json_extract(bucket.c.value, "$[0]"),
        _C.started_at < func.json_extract(bucket.c.value, "$[1]"),
    ]
    outer: FromClause = bucket
    keys = [bucket.c.key]
    if "model" in by:
        names = json.dumps(_models(scope))
        model = func.json_each(names).table_valued("value").alias("model")
        conditions.append(COLUMN_KEYS["model"]().is_(model.c.value))
        outer = outer.join(model, true())
        keys.append(model.c.value)
    packed = (
        select(func.json_array(*(_json_exact(aggregate) for aggregate in aggregates)))
        .select_from(REQUESTS)
        .where(*conditions)
    )
    statement = select(*keys, packed.scalar_subquery()).select_from(outer)
    readers = [_json_reader(scope, aggregate) for aggregate in aggregates]
    rows: list[Sequence[Any]] = []
    for row in scope.fetch(statement):
        values = [read(value) for read, value in zip(readers, json.loads(row[-1]), strict=True)]
        if values[0]:
            group = {unit: buckets[row[0]].label, "model": row[1] if len(row) > 2 else None}
            rows.append((*(group[key] for key in by), *values))
    return rows


def _json_exact(aggregate: ColumnElement[Any]) -> ColumnElement[Any]:
    """An aggregate as a JSON array holds it exactly.

    SQLite writes a double into JSON with 15 significant digits, which does
    not always give the same double back; as 17-digit text it does.
    Integers and text need nothing.
    """
    if isinstance(aggregate.type, Float):
        # printf makes NULL "0.0". SQLite computes the aggregate once.
        return case((aggregate.is_(None), null()), else_=func.printf("%!.17g", aggregate))
    return aggregate


def _json_reader(scope: Scope, aggregate: ColumnElement[Any]) -> Callable[[Any], Any]:
    """What turns an aggregate's JSON value back into what its column type reads.

    Doubles come as text from `_json_exact`, timestamps as SQLite's text.
    """
    if isinstance(aggregate.type, Float):
        return lambda value: None if value is None else float(value)
    dialect = scope.engine.dialect
    processor = aggregate.type.dialect_impl(dialect).result_processor(dialect, None)
    if processor is None:
        return lambda value: value
    return processor


def _sqlite_text(moment: datetime.datetime) -> str:
    """A time as SQLite stores `started_at`: naive UTC text of fixed width.

    SQLAlchemy's format, "2025-01-15 12:30:45.123456", compared as text.
    """
    naive = moment.astimezone(_UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")


def _models(scope: Scope) -> list[str | None]:
    """Every model in the table (None too), each found by one seek in the model index."""
    model = COLUMN_KEYS["model"]()
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
    *,
    where: Sequence[ColumnElement[bool]],
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
        .select_from(bucket.join(REQUESTS, in_bucket))
        .where(*scope.conditions, *where)
        .group_by(*keys)
    )
    return list(scope.fetch(statement))


# Beyond this many (bucket, model) ranges the plain GROUP BY is faster:
# hourly by model over a month (5,560 ranges) took 2.3 s this way, 1.7 s plain.
_MAX_LATERAL_RANGES: Final = 1_000


def _lateral_model_rows(
    scope: Scope,
    by: Sequence[str],
    unit: str,
    buckets: Sequence[_TimeBucket],
    aggregates: Sequence[ColumnElement[Any]],
    *,
    where: Sequence[ColumnElement[bool]],
) -> list[Sequence[Any]] | None:
    """Each (bucket, model) aggregated over a range of the model index, on PostgreSQL.

    A VALUES list of every bucket of every model, each joined LATERAL to its
    range of ix_requests_model_report (by day and model over 1,000,000
    records: 0.55 s, the plain GROUP BY 0.9 s). Attempts without a model,
    which `=` cannot find, are grouped apart through the same index.
    """
    model = COLUMN_KEYS["model"]()
    names = [name for name in _models(scope) if name is not None]
    if len(buckets) * len(names) > _MAX_LATERAL_RANGES:
        return None
    bucket = values(
        column("label", String()),
        column("low", UtcDateTime()),
        column("high", UtcDateTime()),
        column("model", String()),
        name="bucket",
    ).data([(item.label, item.low, item.high, name) for item in buckets for name in names])
    totals = (
        select(*(aggregate.label(f"a{index}") for index, aggregate in enumerate(aggregates)))
        .where(*where, model == bucket.c.model, _C.started_at >= bucket.c.low)
        .where(_C.started_at < bucket.c.high)
        .lateral("totals")
    )
    statement = select(bucket.c.label, bucket.c.model, *totals.c).select_from(
        bucket.join(totals, true())
    )
    label = time_bucket(scope.dialect, unit)
    unnamed = (
        select(label, null(), *aggregates)
        .where(*scope.where(), *where, model.is_(None))
        .group_by(label)
    )
    rows: list[Sequence[Any]] = []
    for row in [*(scope.fetch(statement) if names else []), *scope.fetch(unnamed)]:
        if row[2]:
            group = {unit: row[0], "model": row[1]}
            rows.append((*(group[key] for key in by), *row[2:]))
    return rows


def _sqlite_sorts_every_row(scope: Scope, by: Sequence[str]) -> bool:
    """Whether SQLite would group the whole period by sorting it, which hours make cheaper.

    Not by model alone (the model index is in that order), not when a filter
    lets it read an index range, not by a tag: looking up each attempt's tag
    costs as much either way, and per hour it took longer (2.1 s, not 1.8 s).
    """
    return (
        scope.dialect == "sqlite"
        and bool(by)
        and tuple(by) != ("model",)
        and not scope.conditions
        and not any(is_tag(key) for key in by)
    )


def _sqlite_hourly_sums(
    scope: Scope,
    by: Sequence[str],
    aggregates: Sequence[ColumnElement[Any]],
    *,
    where: Sequence[ColumnElement[bool]],
) -> list[Sequence[Any]] | None:
    """Sums per group as SQLite makes them fastest: each hour grouped apart, then added up.

    SQLite groups by sorting, and a million rows overflow its sorter's
    memory into temporary files; an hour's rows do not. Usage by endpoint
    over 1,000,000 records: 0.78 s, one GROUP BY 1.1 s. One statement: each
    hour's groups come packed in a JSON array by a correlated subquery
    (`_json_exact`), None when the hours are too many to list.
    """
    buckets = _time_buckets(scope, "hour")
    if buckets is None:
        return None
    bounds = [[_sqlite_text(bucket.low), _sqlite_text(bucket.high)] for bucket in buckets]
    hour = func.json_each(json.dumps(bounds)).table_valued("value").alias("hour")
    groups = group_columns(scope, by)
    sums = [_json_exact(aggregate).label(f"a{index}") for index, aggregate in enumerate(aggregates)]
    hourly = (
        select_requests(*groups, *sums, by=by)
        .where(
            *scope.conditions,
            *where,
            _C.started_at >= func.json_extract(hour.c.value, "$[0]"),
            _C.started_at < func.json_extract(hour.c.value, "$[1]"),
        )
        .group_by(*groups)
        .correlate(hour)
        .subquery("hourly")
    )
    packed = select(func.json_group_array(func.json_array(*hourly.c))).scalar_subquery()
    readers = [_json_reader(scope, aggregate) for aggregate in aggregates]
    width = len(by)
    totals: dict[tuple[Any, ...], list[Any]] = {}
    for (packed_hour,) in scope.fetch(select(packed).select_from(hour)):
        for row in json.loads(packed_hour):
            values = [read(value) for read, value in zip(readers, row[width:], strict=True)]
            key = tuple(row[:width])
            total = totals.get(key)
            totals[key] = values if total is None else [*map(_add, total, values)]
    return [(*key, *values) for key, values in totals.items()]


def _add(left: Any, right: Any) -> Any:
    """Two sums of SQL: NULL (no value summed) only if both are."""
    if left is None:
        return right
    if right is None:
        return left
    return left + right
