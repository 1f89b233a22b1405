"""`latency` through hour and day summaries: each model and endpoint's sorted values.

Grouped by model, endpoint, day or hour (or by other keys, which get
summaries of their own) and not filtered, a month's latency
is the summaries of its complete days (and of the hours around them) merged,
plus the few attempts read from `requests`; see `oaitrace._hour_summaries`
for when a summary holds. The values are the very doubles stored, so the
percentiles are those of reading every attempt.
"""

from __future__ import annotations

import datetime
import json
import struct
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Connection

from oaitrace._hour_summaries import (
    DAY,
    HOUR,
    HourRead,
    day_kind,
    fetch_driver_rows,
    read_hours,
    start_from_label,
    store_summaries,
)
from oaitrace._latency_samples import Samples, Values, collect
from oaitrace._report_scope import (
    COLUMN_KEYS,
    REQUESTS,
    Scope,
    group_expression,
    is_tag,
    select_requests,
    succeeded,
    time_bucket,
)
from oaitrace._report_types import GroupValue

__all__ = ["SUMMARY_KIND", "kind_for", "pack", "samples_through_hours"]

# The format is part of the kind: another oaitrace's summaries are ignored.
SUMMARY_KIND: Final = "latency/1"
# What the summaries of SUMMARY_KIND keep apart; other groupings get a kind
# of their own, made on first use ("latency/1/project").
_UNITS: Final = ("model", "endpoint")
_TIME_KEYS: Final = frozenset({"day", "hour"})
_LENGTH: Final = struct.Struct("<I")
_LITTLE_ENDIAN: Final = sys.byteorder == "little"
_C = REQUESTS.c

# (start of the hour or day, the unit's key values...)
_Unit = tuple[Any, ...]
# The unit's key values: model and endpoint, say.
_Group = tuple[GroupValue, ...]


def kind_for(by: Sequence[str]) -> str | None:
    """The kind of summary a grouping can be answered from; None if it cannot."""
    keys = [key for key in by if key not in _TIME_KEYS]
    if set(keys) <= set(_UNITS):
        return SUMMARY_KIND
    if all(key in COLUMN_KEYS or is_tag(key) for key in keys) and not any(
        "," in key for key in keys
    ):
        return f"{SUMMARY_KIND}/{','.join(sorted(keys))}"
    return None


def samples_through_hours(
    scope: Scope, by: Sequence[str], kind: str
) -> tuple[dict[tuple[GroupValue, ...], Samples], Samples | None]:
    """Each group's samples: complete days' and hours' from summaries, the rest read.

    The hours and days read from `requests` are summarised on the way. For
    a report by hour, also all samples together, from the day summaries:
    the hours' 700 runs merge slower than the days' 30 (otherwise the
    groups together are all).
    """
    base = kind == SUMMARY_KIND
    unit_keys = list(_UNITS) if base else kind[len(SUMMARY_KIND) + 1 :].split(",")
    per_hour = "hour" in by
    # Other keys (a tag per user, say) can have many values with a few
    # attempts an hour each: summaries of days only, read per day, unless
    # the report is per hour (then hours only: their total merges hours).
    days_only = not base and not per_hour
    bucket = "day" if days_only else "hour"
    columns = (
        time_bucket(scope.dialect, bucket),
        *(group_expression(scope.dialect, key) for key in unit_keys),
        _C.duration_ms,
        _C.processing_ms,
        _C.ttft_ms,
    )
    tags = [key for key in unit_keys if is_tag(key)]

    def read_attempts(connection: Connection, in_period: ColumnElement[bool]) -> list[Any]:
        statement = select_requests(*columns, by=tags).where(succeeded(), in_period)
        return fetch_driver_rows(connection, statement)

    read = read_hours(
        scope,
        kind,
        read_attempts,
        days=base or days_only,
        hours=not days_only,
        hours_inside_days=per_hour,
    )
    hours: dict[_Unit, Samples] = {}
    read_values: dict[_Unit, Values] = {}
    for (label, *read_unit), values in collect(read.rows, 1 + len(unit_keys)).items():
        key = (start_from_label(str(label)), *read_unit)
        read_values[key] = values.sort()
        hours[key] = values.samples()
    if days_only:
        groups = _grouped_by_days(
            scope, kind, by=by, unit_keys=unit_keys, read=read, read_values=read_values
        )
        return groups, None
    for hour, payload in read.hours.items():
        for unit, samples in _unpack(payload):
            hours[(hour, *unit)] = samples
    days: dict[_Unit, Samples] = {}
    for day, payload in read.days.items():
        for unit, samples in _unpack(payload):
            days[(day, *unit)] = samples
    days.update(_store_new(scope, kind, read, read_values, hours))

    summarised_days = {*read.days, *read.days_to_summarise}
    outside_days = {
        unit: samples for unit, samples in hours.items() if _day_of(unit[0]) not in summarised_days
    }
    units = hours if per_hour else {**outside_days, **days}
    groups = _grouped(units, by, unit_keys, per_hour=per_hour)
    if not per_hour:
        return groups, None
    return groups, Samples.of([*outside_days.values(), *days.values()])


def _grouped_by_days(
    scope: Scope,
    kind: str,
    *,
    by: Sequence[str],
    unit_keys: Sequence[str],
    read: HourRead,
    read_values: Mapping[_Unit, Values],
) -> dict[tuple[GroupValue, ...], Samples]:
    """The groups of a kind summarised per day: valid days' summaries, the rest read per day.

    Complete days read from `requests` are summarised on the way.
    """
    new_days: dict[datetime.datetime, dict[_Group, Values]] = {}
    for (day, *read_unit), values in read_values.items():
        if day in read.days_to_summarise:
            new_days.setdefault(day, {})[tuple(read_unit)] = values
    store_summaries(
        scope,
        day_kind(kind),
        [
            (day, version, pack(new_days.get(day, {})))
            for day, version in read.days_to_summarise.items()
        ],
    )
    units: dict[_Unit, Samples] = {key: values.samples() for key, values in read_values.items()}
    for day, payload in read.days.items():
        for unit, samples in _unpack(payload):
            units[(day, *unit)] = samples
    return _grouped(units, by, unit_keys, per_hour=False)


def _grouped(
    units: Mapping[_Unit, Samples], by: Sequence[str], unit_keys: Sequence[str], *, per_hour: bool
) -> dict[tuple[GroupValue, ...], Samples]:
    groups: dict[tuple[GroupValue, ...], Samples] = {}
    for (start, *unit), samples in units.items():
        values: dict[str, GroupValue] = dict(zip(unit_keys, unit, strict=True))
        values["day"] = start.strftime("%Y-%m-%d")
        values["hour"] = start.strftime("%Y-%m-%d %H:00") if per_hour else None
        key = tuple(values[name] for name in by)
        group = groups.get(key)
        if group is None:
            groups[key] = group = Samples()
        group.add(samples)
    return groups


def _store_new(
    scope: Scope,
    kind: str,
    read: HourRead,
    read_values: Mapping[_Unit, Values],
    hours: Mapping[_Unit, Samples],
) -> dict[_Unit, Samples]:
    """Summarise the complete hours read from `requests` and the complete days without one.

    Returns the new days' samples: one run each, where their hours were 24.
    """
    by_hour: dict[datetime.datetime, dict[_Group, Values]] = {}
    for (hour, *unit), values in read_values.items():
        by_hour.setdefault(hour, {})[tuple(unit)] = values
    new_hours = [
        (hour, version, pack(by_hour.get(hour, {})))
        for hour, version in read.hours_to_summarise.items()
    ]
    store_summaries(scope, kind, new_hours)
    by_day: dict[datetime.datetime, dict[_Group, Samples]] = {}
    for (hour, *unit), samples in hours.items():
        day = _day_of(hour)
        if day in read.days_to_summarise:
            by_day.setdefault(day, {}).setdefault(tuple(unit), Samples()).add(samples)
    merged = {
        day: {group: samples.merged() for group, samples in groups.items()}
        for day, groups in by_day.items()
    }
    new_days = [
        (day, version, pack(merged.get(day, {}))) for day, version in read.days_to_summarise.items()
    ]
    store_summaries(scope, day_kind(kind), new_days)
    return {
        (day, *group): values.samples()
        for day, groups in merged.items()
        for group, values in groups.items()
    }


def _day_of(hour: datetime.datetime) -> datetime.datetime:
    return hour.replace(hour=0)


def pack(groups: Mapping[_Group, Values]) -> bytes:
    """Sorted values: JSON [unit values..., counts] per group, then the doubles.

    The doubles little-endian whatever the machine, so a summary reads the
    same everywhere.
    """
    header = []
    doubles = array("d")
    for unit, values in groups.items():
        counts = [len(values.duration), len(values.processing), len(values.ttft)]
        header.append([*unit, *counts])
        for measure in (values.duration, values.processing, values.network, values.ttft):
            doubles.extend(measure)
    if not _LITTLE_ENDIAN:
        doubles.byteswap()
    head = json.dumps(header, separators=(",", ":")).encode()
    return _LENGTH.pack(len(head)) + head + doubles.tobytes()


def _unpack(payload: bytes) -> Iterator[tuple[_Group, Samples]]:
    """Each group's sorted values of a summary, as arrays (searched, not copied, when merging)."""
    (length,) = _LENGTH.unpack_from(payload)
    start = _LENGTH.size
    header = json.loads(payload[start : start + length])
    doubles = array("d")
    doubles.frombytes(payload[start + length :])
    if not _LITTLE_ENDIAN:
        doubles.byteswap()
    position = 0
    for entry in header:
        *unit, durations, processed, ttfts = entry
        runs: list[list[Sequence[float]]] = []
        for size in (durations, processed, processed, ttfts):
            runs.append([doubles[position : position + size]])
            position += size
        yield tuple(unit), Samples(*runs)


assert DAY == 24 * HOUR  # noqa: S101 - `_day_of` counts on UTC days of 24 hours
