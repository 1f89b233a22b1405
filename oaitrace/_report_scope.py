"""What every report reads and how it groups: the period and filters, the --by keys.

SQLAlchemy Core with bound parameters only, written so SQLite and PostgreSQL
return the same numbers:

- day and hour buckets are text built by one dialect-specific helper
  (`time_bucket`), in UTC on both;
- `tag:<name>` groups by the `request_tags` row of that name, outer-joined
  (no such tag: the group is None).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    case,
    func,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.selectable import FromClause, NamedFromClause

from oaitrace._report_types import GroupValue
from oaitrace.exceptions import DatabaseError, QueryError
from oaitrace.storage._models import (
    FAILED_PREDICATE,
    RequestRow,
    RequestTagRow,
)

__all__ = [
    "COLUMN_KEYS",
    "GROUP_KEYS",
    "REQUESTS",
    "Scope",
    "count_if",
    "group_columns",
    "group_expression",
    "group_of",
    "group_sort_key",
    "is_error",
    "is_tag",
    "parse_by",
    "select_requests",
    "succeeded",
    "sum_or_zero",
    "time_bucket",
]

REQUESTS = RequestRow.__table__
_C = REQUESTS.c
_TAGS = RequestTagRow.__table__

# The --by keys besides day/hour and tag:<name>.
COLUMN_KEYS: Final[Mapping[str, Callable[[], ColumnElement[Any]]]] = {
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
GROUP_KEYS: Final = (*COLUMN_KEYS, "day", "hour", "tag:<name>")
# Keys with an index of their own, (column, started_at). Grouped by the bare
# column, SQLite walks that index to spare a sort and fetches every row from
# the table: usage by endpoint over 1,000,000 records took 2.4 s, 1.0 s as an
# expression (a covering scan and a sort).
_OWN_INDEX_KEYS: Final = frozenset({"response_model", "endpoint", "status"})


def select_requests(*columns: Any, by: Sequence[str] = ()) -> Any:
    """SELECT ... FROM requests, joined to the tags `by` groups on.

    The FROM is explicit because some conditions are SQL text.
    """
    source: FromClause = REQUESTS
    for key in by:
        if is_tag(key):
            tag = _tag_alias(key[4:])
            source = source.outerjoin(tag, and_(tag.c.request_pk == _C.id, tag.c.key == key[4:]))
    return select(*columns).select_from(source)


def is_tag(key: str) -> bool:
    return key.startswith("tag:") and len(key) > 4


@functools.lru_cache(maxsize=64)
def _tag_alias(name: str) -> NamedFromClause:
    """One alias of request_tags per tag name: the group column and the join must share it."""
    return _TAGS.alias()


def _valid_keys() -> str:
    return ", ".join(GROUP_KEYS)


def time_bucket(dialect: str, unit: str) -> ColumnElement[str]:
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
        return time_bucket(dialect, key)
    if is_tag(key):
        tag: ColumnElement[Any] = _tag_alias(key[4:]).c.value
        return tag
    factory = COLUMN_KEYS.get(key)
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
        if key in ("day", "hour") or key in COLUMN_KEYS or (key.startswith("tag:") and key[4:]):
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
    # The database has the hour summaries' tables (revision 0006 or later).
    summaries: bool = True

    @property
    def summarised(self) -> bool:
        """Whether reports may answer from hour summaries: the tables exist and nothing filters."""
        return self.summaries and not self.conditions

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
        return fetch_rows(self.engine, statement)

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


def fetch_rows(engine: Engine, statement: Any) -> list[Any]:
    """Run a SELECT and return its rows; DatabaseError with a hint on failure.

    Shared by the reports and `Query`'s own lookups.
    """
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement))
    except SQLAlchemyError as exc:
        url = engine.url.render_as_string(hide_password=True)
        msg = (
            f"cannot read {url}: {exc.__class__.__name__}: "
            f"{exc.args[0] if exc.args else exc}; "
            "if it is an oaitrace database, run `oaitrace db upgrade`"
        )
        raise DatabaseError(msg) from exc


def group_columns(scope: Scope, by: Sequence[str]) -> list[KeyedColumnElement[Any]]:
    return [group_expression(scope.dialect, key).label(f"g{index}") for index, key in enumerate(by)]


def group_of(by: Sequence[str], row: Any) -> dict[str, GroupValue]:
    return {key: row[index] for index, key in enumerate(by)}


def is_error() -> ColumnElement[bool]:
    # As literal SQL, the very text of the partial index, so planners use it;
    # in parentheses, or its OR would escape the other conditions of a WHERE.
    return text(f"({FAILED_PREDICATE})")  # type: ignore[return-value]


def succeeded() -> ColumnElement[bool]:
    """Attempts answered below 400, as a WHERE term that no index serves.

    SQLite keeps no statistics, so for `status_code < 400` it would read the
    nineteen attempts in twenty that succeeded through the status index, one
    table lookup each, instead of scanning a covering index (measured over
    1,000,000 records: latency 3.7 s, the unpriced reasons of costs 0.8 s).
    """
    return (_C.status_code + 0) < 400


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def sum_or_zero(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(column), 0)


def group_sort_key(group: Mapping[str, GroupValue]) -> tuple[tuple[int, str], ...]:
    return tuple((value is None, str(value)) for value in group.values())
