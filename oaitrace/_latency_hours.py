"""`latency` through hour and day summaries: each model and endpoint's sorted values.

Grouped by model, endpoint, day or hour and not filtered, a month's latency
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

from sqlalchemy import ColumnElement, Connection, select

from oaitrace._hour_summaries import (
    DAY,
    HOUR,
    HourRead,
    day_kind,
    fetch_driver_rows,
    read_hours,
    store_summaries,
)
from oaitrace._latency_samples import Samples, Values, collect
from oaitrace._report_scope import COLUMN_KEYS, REQUESTS, Scope, succeeded, time_bucket
from oaitrace._report_types import GroupValue

__all__ = ["SUMMARISED_KEYS", "SUMMARY_KIND", "pack", "samples_through_hours"]

# The groupings a summary can answer: it holds each model and endpoint apart.
SUMMARISED_KEYS: Final = frozenset({"model", "endpoint", "day", "hour"})
# The format is part of the kind: another oaitrace's summaries are ignored.
SUMMARY_KIND: Final = "latency/1"
_LENGTH: Final = struct.Struct("<I")
_LITTLE_ENDIAN: Final = sys.byteorder == "little"
_C = REQUESTS.c

# (start of the hour or day, model, endpoint)
_Unit = tuple[datetime.datetime, GroupValue, GroupValue]
_Group = tuple[GroupValue, GroupValue]


def samples_through_hours(
    scope: Scope, by: Sequence[str]
) -> tuple[dict[tuple[GroupValue, ...], Samples], Samples]:
    """Each group's samples, and all: complete days' and hours' from summaries, the rest read.

    The hours and days read from `requests` are summarised on the way. The
    total of a report by hour still comes from the day summaries: the hours'
    700 runs merge slower than the days' 30.
    """
    per_hour = "hour" in by
    columns = (
        time_bucket(scope.dialect, "hour"),
        COLUMN_KEYS["model"](),
        _C.endpoint,
        _C.duration_ms,
        _C.processing_ms,
        _C.ttft_ms,
    )

    def read_attempts(connection: Connection, in_period: ColumnElement[bool]) -> list[Any]:
        statement = select(*columns).select_from(REQUESTS).where(succeeded(), in_period)
        return fetch_driver_rows(connection, statement)

    read = read_hours(scope, SUMMARY_KIND, read_attempts, hours_inside_days=per_hour)
    hours: dict[_Unit, Samples] = {}
    read_values: dict[_Unit, Values] = {}
    for (label, model, endpoint), values in collect(read.rows, 3).items():
        unit = (_hour_from_label(str(label)), model, endpoint)
        read_values[unit] = values.sort()
        hours[unit] = values.samples()
    for hour, payload in read.hours.items():
        for (model, endpoint), samples in _unpack(payload):
            hours[(hour, model, endpoint)] = samples
    days: dict[_Unit, Samples] = {}
    for day, payload in read.days.items():
        for (model, endpoint), samples in _unpack(payload):
            days[(day, model, endpoint)] = samples
    days.update(_store_new(scope, read, read_values, hours))

    summarised_days = {*read.days, *read.days_to_summarise}
    outside_days = {
        unit: samples for unit, samples in hours.items() if _day_of(unit[0]) not in summarised_days
    }
    groups = _grouped(hours if per_hour else {**outside_days, **days}, by, per_hour=per_hour)
    return groups, Samples.of([*outside_days.values(), *days.values()])


def _grouped(
    units: Mapping[_Unit, Samples], by: Sequence[str], *, per_hour: bool
) -> dict[tuple[GroupValue, ...], Samples]:
    groups: dict[tuple[GroupValue, ...], Samples] = {}
    for (start, model, endpoint), samples in units.items():
        values: dict[str, GroupValue] = {
            "day": start.strftime("%Y-%m-%d"),
            "hour": start.strftime("%Y-%m-%d %H:00") if per_hour else None,
            "model": model,
            "endpoint": endpoint,
        }
        key = tuple(values[name] for name in by)
        group = groups.get(key)
        if group is None:
            groups[key] = group = Samples()
        group.add(samples)
    return groups


def _store_new(
    scope: Scope,
    read: HourRead,
    read_values: Mapping[_Unit, Values],
    hours: Mapping[_Unit, Samples],
) -> dict[_Unit, Samples]:
    """Summarise the complete hours read from `requests` and the complete days without one.

    Returns the new days' samples: one run each, where their hours were 24.
    """
    by_hour: dict[datetime.datetime, dict[_Group, Values]] = {}
    for (hour, model, endpoint), values in read_values.items():
        by_hour.setdefault(hour, {})[(model, endpoint)] = values
    new_hours = [
        (hour, version, pack(by_hour.get(hour, {})))
        for hour, version in read.hours_to_summarise.items()
    ]
    store_summaries(scope, SUMMARY_KIND, new_hours)
    by_day: dict[datetime.datetime, dict[_Group, Samples]] = {}
    for (hour, model, endpoint), samples in hours.items():
        day = _day_of(hour)
        if day in read.days_to_summarise:
            by_day.setdefault(day, {}).setdefault((model, endpoint), Samples()).add(samples)
    merged = {
        day: {group: samples.merged() for group, samples in groups.items()}
        for day, groups in by_day.items()
    }
    new_days = [
        (day, version, pack(merged.get(day, {}))) for day, version in read.days_to_summarise.items()
    ]
    store_summaries(scope, day_kind(SUMMARY_KIND), new_days)
    return {
        (day, model, endpoint): values.samples()
        for day, groups in merged.items()
        for (model, endpoint), values in groups.items()
    }


def _hour_from_label(label: str) -> datetime.datetime:
    """The hour `time_bucket` labelled "YYYY-MM-DD HH:00"."""
    return datetime.datetime.strptime(label, "%Y-%m-%d %H:00").replace(tzinfo=datetime.UTC)


def _day_of(hour: datetime.datetime) -> datetime.datetime:
    return hour.replace(hour=0)


def pack(groups: Mapping[_Group, Values]) -> bytes:
    """Sorted values: JSON [model, endpoint, counts] per group, then the doubles.

    The doubles little-endian whatever the machine, so a summary reads the
    same everywhere.
    """
    header = []
    doubles = array("d")
    for (model, endpoint), values in groups.items():
        counts = [len(values.duration), len(values.processing), len(values.ttft)]
        header.append([model, endpoint, *counts])
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
    for model, endpoint, durations, processed, ttfts in header:
        runs: list[list[Sequence[float]]] = []
        for size in (durations, processed, processed, ttfts):
            runs.append([doubles[position : position + size]])
            position += size
        yield (model, endpoint), Samples(*runs)


assert DAY == 24 * HOUR  # noqa: S101 - `_day_of` counts on UTC days of 24 hours
