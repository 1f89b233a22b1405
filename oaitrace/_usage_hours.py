"""`usage` and `costs` through hour summaries: each complete hour's sums, added up.

A summary holds an hour's requests, errors, token sums, unpriced count and
exact cost per model and endpoint (kind "usage/1"), or per value of one tag
("usage/1/tag:<name>", made when a report first groups by that tag). Sums
of hours are the sums of the period, so no day summaries are needed: a
month is 720 small payloads added up in Python. See
`oaitrace._hour_summaries` for when a summary holds.
"""

from __future__ import annotations

import datetime
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection

from oaitrace._hour_summaries import HourRead, read_hours, store_summaries
from oaitrace._report_scope import Scope, group_expression, is_tag, select_requests, time_bucket
from oaitrace._report_types import GroupValue

__all__ = ["summary_kind", "sums_through_hours"]

# The format is part of the kind: another oaitrace's summaries are ignored.
_KIND: Final = "usage/1"
_TIME_KEYS: Final = frozenset({"day", "hour"})
_COLUMN_UNITS: Final = ("model", "endpoint")

# (hour, the unit's key values...)
_Unit = tuple[Any, ...]


def summary_kind(by: Sequence[str]) -> str | None:
    """The kind of summary a grouping can be answered from; None if it cannot."""
    keys = [key for key in by if key not in _TIME_KEYS]
    if set(keys) <= set(_COLUMN_UNITS):
        return _KIND
    if len(keys) == 1 and is_tag(keys[0]):
        return f"{_KIND}/{keys[0]}"
    return None


def sums_through_hours(
    scope: Scope,
    by: Sequence[str],
    kind: str,
    aggregates: Sequence[ColumnElement[Any]],
    decode: Callable[[Sequence[Any]], list[Any]],
) -> list[tuple[Any, ...]]:
    """One row per group: its `by` values, then the sums `decode` made of `aggregates`.

    `decode` turns a row of the aggregates into the numbers to add up
    (ints and an exact Decimal); the rows hold their sums over every hour.
    """
    unit_keys = list(_COLUMN_UNITS) if kind == _KIND else [kind[len(_KIND) + 1 :]]
    label = time_bucket(scope.dialect, "hour").label("hour")
    units = [
        group_expression(scope.dialect, key).label(f"u{index}")
        for index, key in enumerate(unit_keys)
    ]
    tags = [key for key in unit_keys if is_tag(key)]

    def read_sums(connection: Connection, in_period: ColumnElement[bool]) -> list[Any]:
        statement = (
            select_requests(label, *units, *aggregates, by=tags)
            .where(in_period)
            .group_by(label, *units)
        )
        return list(connection.execute(statement))

    read = read_hours(scope, kind, read_sums, days=False)
    width = len(units)
    read_sums_by_unit: dict[_Unit, list[Any]] = {
        (_hour_from_label(row[0]), *row[1 : 1 + width]): decode(row[1 + width :])
        for row in read.rows
    }
    _store_new(scope, kind, read, read_sums_by_unit)
    totals = _Totals(by, unit_keys)
    for (hour, *unit), values in read_sums_by_unit.items():
        totals.add(hour, unit, values)
    for hour, payload in read.hours.items():
        for entry in json.loads(payload):
            totals.add(hour, entry[:width], [*entry[width:-1], Decimal(entry[-1])])
    return [(*group, *values) for group, values in totals.groups.items()]


class _Totals:
    """Sums per `by` group of the sums of units (an hour's model and endpoint, or tag value)."""

    def __init__(self, by: Sequence[str], unit_keys: Sequence[str]) -> None:
        self.groups: dict[tuple[GroupValue, ...], list[Any]] = {}
        # Where each `by` key is in (day, hour, *unit values).
        places = {"day": 0, "hour": 1, **{key: 2 + i for i, key in enumerate(unit_keys)}}
        self._pick = operator.itemgetter(*(places[key] for key in by)) if by else None
        self._single = len(by) == 1
        self._labels: dict[datetime.datetime, tuple[str, str]] = {}

    def add(self, hour: datetime.datetime, unit: Sequence[Any], values: list[Any]) -> None:
        group: tuple[GroupValue, ...] = ()
        if self._pick is not None:
            labels = self._labels.get(hour)
            if labels is None:
                labels = self._labels[hour] = (
                    hour.strftime("%Y-%m-%d"),
                    hour.strftime("%Y-%m-%d %H:00"),
                )
            picked = self._pick((*labels, *unit))
            group = (picked,) if self._single else picked
        total = self.groups.get(group)
        self.groups[group] = values if total is None else list(map(operator.add, total, values))


def _store_new(scope: Scope, kind: str, read: HourRead, sums: Mapping[_Unit, list[Any]]) -> None:
    """Summarise the complete hours read: JSON rows of unit values, sums, cost as exact text."""
    by_hour: dict[datetime.datetime, list[list[Any]]] = {}
    for (hour, *unit), values in sums.items():
        if hour in read.hours_to_summarise:
            by_hour.setdefault(hour, []).append([*unit, *values[:-1], str(values[-1])])
    store_summaries(
        scope,
        kind,
        [
            (hour, version, json.dumps(by_hour.get(hour, []), separators=(",", ":")).encode())
            for hour, version in read.hours_to_summarise.items()
        ],
    )


def _hour_from_label(label: str) -> datetime.datetime:
    """The hour `time_bucket` labelled "YYYY-MM-DD HH:00"."""
    return datetime.datetime.strptime(label, "%Y-%m-%d %H:00").replace(tzinfo=datetime.UTC)
