"""Summaries of complete hours that a report stores and reuses instead of reading them again.

A report over a month reads a million attempts; almost all of them lie in
hours that ended long ago and will not change. For such an hour the report
keeps what it computed (`hour_summaries`, its own encoding) with the
version of the hour's attempts it read (`request_hours`, which every
transaction that stores or deletes attempts of the hour raises: see
`oaitrace.storage._hours`). The next report takes every summary whose
version is still the hour's and reads from `requests` only the rest: the
edges of the period, the hours not ended yet, and the hours whose summary
is missing or stale, which it then summarises in turn.

Complete days are summarised too ("day:" + kind), valid while the sum of
their hours' versions is unchanged: a month is then thirty summaries per
group to merge, not 720. An hour without a version has no attempts: it is
neither read nor summarised.

Read in one snapshot (versions, summaries and attempts together), so a
summary always describes exactly the attempts of the version it names. A
report that cannot write (a read-only file, a lock held too long) still
answers from `requests` and stores nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import structlog
from sqlalchemy import ColumnElement, Connection, Table, and_, false, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from oaitrace._log import logger
from oaitrace._report_scope import REQUESTS, Scope
from oaitrace.exceptions import DatabaseError
from oaitrace.storage._engine import SQLITE_BUSY_TIMEOUT_MS
from oaitrace.storage._hours import REQUEST_HOURS, hour_of
from oaitrace.storage._models import HourSummaryRow

__all__ = [
    "DAY",
    "EVENT_SUMMARIES_NOT_STORED",
    "HOUR",
    "SUMMARISE_AFTER",
    "HourRead",
    "day_kind",
    "fetch_driver_rows",
    "read_hours",
    "start_from_label",
    "store_summaries",
    "summarised_kinds",
]

SUMMARIES: Final[Table] = HourSummaryRow.__table__  # type: ignore[assignment]
HOUR: Final = datetime.timedelta(hours=1)
DAY: Final = datetime.timedelta(days=1)
# An hour is summarised once it ended this long ago: attempts are stored
# when they end, so a long stream that started in the hour arrives later
# (it would only make the summary stale, never wrong).
SUMMARISE_AFTER: Final = datetime.timedelta(minutes=15)
# How long writing summaries may wait for a lock the recorder holds.
_WRITE_WAIT_MS: Final = 200

EVENT_SUMMARIES_NOT_STORED: Final = "oaitrace.summaries_not_stored"

# [low, high) of started_at; None is open.
_Range = tuple[datetime.datetime | None, datetime.datetime | None]

_C = REQUESTS.c
_UTC: Final = datetime.timezone.utc


@dataclass(frozen=True, slots=True)
class HourRead:
    """One snapshot's answer: the valid summaries, and the attempts read for the rest.

    `rows` are those of `columns` for every attempt of the period outside
    the summaries (and, with `hours_inside_days`, of the hours without a
    valid summary inside valid days too). `hours_to_summarise` maps each
    complete hour read from `requests` to its version, `days_to_summarise`
    each complete day without a valid summary to the sum of its hours'.
    """

    hours: dict[datetime.datetime, bytes]
    days: dict[datetime.datetime, bytes]
    rows: list[Any]
    hours_to_summarise: dict[datetime.datetime, int]
    days_to_summarise: dict[datetime.datetime, int]


def day_kind(kind: str) -> str:
    """The kind of the day summaries of `kind` (a prefix, so kinds of hours never start so)."""
    return f"day:{kind}"


def read_hours(
    scope: Scope,
    kind: str,
    read: Callable[[Connection, ColumnElement[bool]], list[Any]],
    *,
    days: bool = True,
    hours: bool = True,
    hours_inside_days: bool = False,
    now: datetime.datetime | None = None,
) -> HourRead:
    """The valid `kind` summaries of the period's complete hours (and days), and the rest read.

    `read(connection, in_period)` reads what the report needs of the
    attempts `in_period` selects (the period outside the summaries) and
    returns its rows; it runs in the same snapshot. The scope's filters are
    not applied (a summary holds every attempt of its hour): only call this
    for a scope without filters.
    `days`: complete days are summarised too (worth it when merging an
    hour's values costs more than adding its numbers up).
    `hours`: complete hours are summarised; without, only complete days
    are, and everything outside them is read (groupings of many values,
    such as a tag per user, where an hour holds a few attempts per value).
    `hours_inside_days`: the hours' summaries are wanted also where a valid
    day summary covers them (a report per hour).
    """
    end = _summarisable_end(scope.until, now or datetime.datetime.now(_UTC))
    begin = None if scope.since is None else _ceil_hour(scope.since)
    try:
        with _read_snapshot(scope) as connection:
            versions = _versions(connection, begin, end)
            first = begin if begin is not None else min(versions, default=end)
            day_versions = _day_versions(versions, first, end) if days else {}
            valid_days = _valid_payloads(connection, day_kind(kind), begin, end, day_versions)
            in_days = {hour for day in valid_days for hour in _hours_of(day)}
            if hours:
                wanted = set(versions) if hours_inside_days else set(versions) - in_days
                valid_hours = _valid_payloads(connection, kind, begin, end, versions, wanted=wanted)
                hours_to_summarise = {
                    hour: versions[hour] for hour in sorted(wanted) if hour not in valid_hours
                }
                to_read: Iterable[datetime.datetime] = hours_to_summarise
            else:
                valid_hours, hours_to_summarise = {}, {}
                to_read = [hour for hour in _hours_between(first, end) if hour not in in_days]
            ranges = _ranges_to_read(scope, first, end, to_read)
            rows = read(connection, or_(false(), *(_in_range(r) for r in ranges)))
    except SQLAlchemyError as exc:
        url = scope.engine.url.render_as_string(hide_password=True)
        msg = (
            f"cannot read {url}: {exc.__class__.__name__}: {exc}; "
            "if it is an oaitrace database, run `oaitrace db upgrade`"
        )
        raise DatabaseError(msg) from exc
    return HourRead(
        hours=valid_hours,
        days=valid_days,
        rows=rows,
        hours_to_summarise=hours_to_summarise,
        days_to_summarise={
            day: version
            for day, version in day_versions.items()
            if version and day not in valid_days
        },
    )


def summarised_kinds(scope: Scope, prefix: str, since: datetime.datetime) -> list[str]:
    """The kinds starting with `prefix` stored for some hour from `since` on (tag groupings)."""
    columns = SUMMARIES.c
    statement = (
        select(columns.kind)
        .where(columns.hour >= since, columns.kind.startswith(prefix, autoescape=True))
        .distinct()
    )
    with scope.engine.connect() as connection:
        return sorted(connection.execute(statement).scalars())


def start_from_label(label: str) -> datetime.datetime:
    """The hour or day `time_bucket` labelled "YYYY-MM-DD HH:00" or "YYYY-MM-DD"."""
    layout = "%Y-%m-%d %H:00" if len(label) > len("YYYY-MM-DD") else "%Y-%m-%d"
    return datetime.datetime.strptime(label, layout).replace(tzinfo=datetime.UTC)


def fetch_driver_rows(connection: Connection, statement: Any) -> list[Any]:
    """The driver's values, as `Scope.fetch_raw` reads them.

    A million rows through SQLAlchemy's result processing take three times as long.
    """
    cursor = connection.execute(statement).cursor
    return list(cursor.fetchall()) if cursor is not None else []


def _day_versions(
    versions: Mapping[datetime.datetime, int], first: datetime.datetime, end: datetime.datetime
) -> dict[datetime.datetime, int]:
    """Each complete day from `first` to `end` and the sum of its hours' versions.

    Versions only grow, so the sum changes whenever an hour of the day does.
    """
    day = first.replace(hour=0)
    if day < first:
        day += DAY
    sums = {}
    while day + DAY <= end:
        sums[day] = sum(versions.get(hour, 0) for hour in _hours_of(day))
        day += DAY
    return sums


def _hours_between(first: datetime.datetime, end: datetime.datetime) -> list[datetime.datetime]:
    count = max(0, (end - first) // HOUR)
    return [first + index * HOUR for index in range(count)]


def _hours_of(day: datetime.datetime) -> list[datetime.datetime]:
    return [day + index * HOUR for index in range(24)]


def _ranges_to_read(
    scope: Scope,
    first: datetime.datetime,
    end: datetime.datetime,
    hours: Iterable[datetime.datetime],
) -> list[_Range]:
    """The period's time outside complete hours, and the given complete hours, as ranges.

    Every other complete hour is summarised or has no attempts.
    """
    if end <= first:  # no complete hour in the period
        return [(scope.since, scope.until)]
    ranges: list[_Range] = []
    if scope.since is None or scope.since < first:
        ranges.append((scope.since, first))
    for hour in hours:
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    if scope.until is None or end < scope.until:
        if ranges and ranges[-1][1] == end:
            ranges[-1] = (ranges[-1][0], scope.until)
        else:
            ranges.append((end, scope.until))
    return ranges


def store_summaries(
    scope: Scope, kind: str, summaries: Sequence[tuple[datetime.datetime, int, bytes]]
) -> bool:
    """Store (hour, version, payload) summaries; False, and a debug log, if the database refuses.

    A summary never replaces one of a newer version (two reports racing).
    """
    if not summaries:
        return True
    rows = [
        {"hour": hour, "kind": kind, "version": version, "payload": payload}
        for hour, version, payload in summaries
    ]
    try:
        with scope.engine.connect() as connection, _waiting_briefly(connection):
            if scope.dialect == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{_WRITE_WAIT_MS}ms'")
            connection.execute(_upsert(scope.dialect), rows)
            connection.commit()
    except SQLAlchemyError as exc:
        # Not a loss: the report answered; the next one reads these hours again.
        # Printed only where the application configured structlog (the CLI's
        # JSON output is the report alone).
        if structlog.is_configured():
            logger.debug(
                EVENT_SUMMARIES_NOT_STORED,
                kind=kind,
                hours=len(rows),
                error=f"{exc.__class__.__name__}: {exc}",
            )
        return False
    return True


def _summarisable_end(until: datetime.datetime | None, now: datetime.datetime) -> datetime.datetime:
    """The end of the last hour that may be summarised: ended, and long enough ago."""
    latest = now - SUMMARISE_AFTER
    if until is not None:
        latest = min(latest, until)
    return hour_of(latest)


def _ceil_hour(moment: datetime.datetime) -> datetime.datetime:
    hour = hour_of(moment)
    return hour if hour == moment else hour + HOUR


class _ReadSnapshot:
    """A connection in one read transaction: REPEATABLE READ on PostgreSQL.

    SQLite in WAL mode reads one snapshot per transaction already.
    """

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._connection: Connection | None = None

    def __enter__(self) -> Connection:
        connection = self._scope.engine.connect()
        if self._scope.dialect == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        connection.begin()
        self._connection = connection
        return connection

    def __exit__(self, *_exc: object) -> None:
        if self._connection is not None:
            self._connection.rollback()
            self._connection.close()


def _read_snapshot(scope: Scope) -> _ReadSnapshot:
    return _ReadSnapshot(scope)


def _versions(
    connection: Connection, begin: datetime.datetime | None, end: datetime.datetime
) -> dict[datetime.datetime, int]:
    hours = REQUEST_HOURS.c
    statement = select(hours.hour, hours.version).where(hours.hour < end)
    if begin is not None:
        statement = statement.where(hours.hour >= begin)
    return {hour: int(version) for hour, version in connection.execute(statement)}


def _valid_payloads(
    connection: Connection,
    kind: str,
    begin: datetime.datetime | None,
    end: datetime.datetime,
    versions: Mapping[datetime.datetime, int],
    *,
    wanted: Iterable[datetime.datetime] | None = None,
) -> dict[datetime.datetime, bytes]:
    """The payloads of the stored summaries made at the version their hour (or day) has now.

    Versions first, then only the wanted valid payloads: most hour
    summaries of a month lie inside valid day summaries and are not read.
    """
    columns = SUMMARIES.c
    statement = select(columns.hour, columns.version).where(
        columns.kind == kind, columns.hour < end
    )
    if begin is not None:
        statement = statement.where(columns.hour >= begin)
    keep = None if wanted is None else set(wanted)
    valid = sorted(
        start
        for start, version in connection.execute(statement)
        if versions.get(start) == version and (keep is None or start in keep)
    )
    payloads: dict[datetime.datetime, bytes] = {}
    for index in range(0, len(valid), _STARTS_PER_QUERY):
        chosen = select(columns.hour, columns.payload).where(
            columns.kind == kind, columns.hour.in_(valid[index : index + _STARTS_PER_QUERY])
        )
        payloads.update((start, bytes(payload)) for start, payload in connection.execute(chosen))
    return payloads


# Bound parameters per IN list: well below SQLite's oldest limit (999).
_STARTS_PER_QUERY: Final = 500


def _in_range(bounds: _Range) -> ColumnElement[bool]:
    low, high = bounds
    terms = []
    if low is not None:
        terms.append(_C.started_at >= low)
    if high is not None:
        terms.append(_C.started_at < high)
    return and_(*terms) if terms else ~false()


@contextmanager
def _waiting_briefly(connection: Connection) -> Iterator[None]:
    """On SQLite, wait for the write lock a moment only: a report must not stall behind a writer.

    The pooled connection gets its usual patience back afterwards, outside
    any transaction (a failed write has left one open).
    """
    dbapi_connection = connection.connection.dbapi_connection
    if connection.dialect.name != "sqlite" or dbapi_connection is None:
        yield
        return
    # Straight to sqlite3, which runs a PRAGMA at once: through SQLAlchemy it
    # would open the transaction first.
    dbapi_connection.execute(f"PRAGMA busy_timeout={_WRITE_WAIT_MS}")
    try:
        yield
    finally:
        connection.rollback()
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _upsert(dialect: str) -> Any:
    insert: Callable[[Table], Any] = sqlite.insert if dialect == "sqlite" else postgresql.insert
    statement = insert(SUMMARIES)
    return statement.on_conflict_do_update(
        index_elements=[SUMMARIES.c.hour, SUMMARIES.c.kind],
        set_={"version": statement.excluded.version, "payload": statement.excluded.payload},
        where=SUMMARIES.c.version <= statement.excluded.version,
    )
