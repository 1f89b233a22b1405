"""Reports of sums, minimums and maximums through hour summaries: each complete hour's, combined.

A summary holds one hour's aggregates per unit: per model and endpoint,
per model, or per values of other keys and tags (kind `<report>/<version>`
or `<report>/<version>/<keys>`, made when a report first groups by them).
Aggregates of hours combine into those of the period (a count adds up, a
minimum is the least of the hours' ...), so no day summaries are needed:
a month is 720 small payloads combined in Python. See
`oaitrace._hour_summaries` for when a summary holds.
"""

from __future__ import annotations

import datetime
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection

from oaitrace._hour_summaries import day_kind, read_hours, start_from_label, store_summaries
from oaitrace._report_scope import Scope, group_expression, is_tag, select_requests, time_bucket
from oaitrace._report_types import GroupValue

__all__ = [
    "HourAggregates",
    "add",
    "greatest",
    "least",
]

_TIME_KEYS: Final = frozenset({"day", "hour"})

# (hour, the unit's key values...)
_Unit = tuple[Any, ...]
Combine = Callable[[Any, Any], Any]


def add(left: Any, right: Any) -> Any:
    return left + right


def greatest(left: Any, right: Any) -> Any:
    """The larger; SQL's MAX ignores NULL, and so does this."""
    if left is None:
        return right
    if right is None:
        return left
    return max(left, right)


def least(left: Any, right: Any) -> Any:
    """The smaller; SQL's MIN ignores NULL, and so does this."""
    if left is None:
        return right
    if right is None:
        return left
    return min(left, right)


@dataclass(frozen=True)
class HourAggregates:
    """What one report keeps per hour and unit, and how hours combine.

    `kind`: the report and its format ("usage/1"); `units`: the keys a
    summary keeps apart (model and endpoint, or model); `tags`, `alone`:
    whether tags, which other keys, may take their place (a summary of
    their own: "usage/1/project", "usage/1/model,tag:user"); `where`: which
    attempts count; `decode`: a
    row of `aggregates` as the values to combine, one `combine` each;
    `to_json` / `from_json`: those values in a payload (exact decimals,
    timestamps as text).
    """

    kind: str
    units: tuple[str, ...]
    tags: bool
    alone: frozenset[str]
    aggregates: tuple[ColumnElement[Any], ...]
    where: tuple[ColumnElement[bool], ...]
    decode: Callable[[Sequence[Any]], list[Any]]
    combine: tuple[Combine, ...]
    to_json: Callable[[list[Any]], list[Any]]
    from_json: Callable[[list[Any]], list[Any]]

    def kind_for(self, by: Sequence[str]) -> str | None:
        """The kind of summary a grouping can be answered from; None if it cannot."""
        keys = [key for key in by if key not in _TIME_KEYS]
        if set(keys) <= set(self.units):
            return self.kind
        own = all(key in self.alone or (self.tags and is_tag(key)) for key in keys)
        if own and not any("," in key for key in keys):
            # One kind per set of keys, whatever their order in `by`.
            return f"{self.kind}/{','.join(sorted(keys))}"
        return None

    def rows(self, scope: Scope, by: Sequence[str], kind: str) -> list[tuple[Any, ...]]:
        """One row per group: its `by` values, then its values combined over every hour.

        Other keys than the units (a tag per user, say) can have many values
        with a few attempts an hour each: those are summarised per day, and
        per hour only for reports per hour.
        """
        # Per day, unless the report is per hour (then per hour, as the units are).
        days_only = kind != self.kind and "hour" not in by
        unit_keys = list(self.units) if kind == self.kind else kind[len(self.kind) + 1 :].split(",")
        label = time_bucket(scope.dialect, "day" if days_only else "hour").label("start")
        units = [
            group_expression(scope.dialect, key).label(f"u{index}")
            for index, key in enumerate(unit_keys)
        ]
        tags = [key for key in unit_keys if is_tag(key)]

        def read_hour_rows(connection: Connection, in_period: ColumnElement[bool]) -> list[Any]:
            statement = (
                select_requests(label, *units, *self.aggregates, by=tags)
                .where(in_period, *self.where)
                .group_by(label, *units)
            )
            return list(connection.execute(statement))

        read = read_hours(scope, kind, read_hour_rows, days=days_only, hours=not days_only)
        width = len(units)
        read_values: dict[_Unit, list[Any]] = {
            (start_from_label(row[0]), *row[1 : 1 + width]): self.decode(row[1 + width :])
            for row in read.rows
        }
        if days_only:
            self._store_new(scope, day_kind(kind), read.days_to_summarise, read_values)
        else:
            self._store_new(scope, kind, read.hours_to_summarise, read_values)
        totals = _Totals(by, unit_keys, self.combine)
        for (start, *unit), values in read_values.items():
            totals.add(start, unit, values)
        for start, payload in (read.days if days_only else read.hours).items():
            for entry in json.loads(payload):
                totals.add(start, entry[:width], self.from_json(entry[width:]))
        return [(*group, *values) for group, values in totals.groups.items()]

    def _store_new(
        self,
        scope: Scope,
        kind: str,
        to_summarise: Mapping[datetime.datetime, int],
        values: Mapping[_Unit, list[Any]],
    ) -> None:
        """Summarise the complete hours (or days) read: JSON rows of unit values and aggregates."""
        by_start: dict[datetime.datetime, list[list[Any]]] = {}
        for (start, *unit), found in values.items():
            if start in to_summarise:
                by_start.setdefault(start, []).append([*unit, *self.to_json(found)])
        store_summaries(
            scope,
            kind,
            [
                (
                    start,
                    version,
                    json.dumps(by_start.get(start, []), separators=(",", ":")).encode(),
                )
                for start, version in to_summarise.items()
            ],
        )


class _Totals:
    """The values of units (an hour's model and endpoint, say) combined per `by` group."""

    def __init__(
        self, by: Sequence[str], unit_keys: Sequence[str], combine: Sequence[Combine]
    ) -> None:
        self.groups: dict[tuple[GroupValue, ...], list[Any]] = {}
        # Where each `by` key is in (day, hour, *unit values).
        places = {"day": 0, "hour": 1, **{key: 2 + i for i, key in enumerate(unit_keys)}}
        self._pick = operator.itemgetter(*(places[key] for key in by)) if by else None
        self._single = len(by) == 1
        self._labels: dict[datetime.datetime, tuple[str, str]] = {}
        # Plain sums the fast way (C-level addition of each pair).
        self._combine: Sequence[Combine] | None = (
            None if all(op is add for op in combine) else tuple(combine)
        )

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
        if total is None:
            self.groups[group] = values
        elif self._combine is None:
            self.groups[group] = list(map(operator.add, total, values))
        else:
            self.groups[group] = [
                combine(left, right)
                for combine, left, right in zip(self._combine, total, values, strict=True)
            ]
