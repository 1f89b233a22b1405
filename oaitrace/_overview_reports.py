"""The reports behind `Query.timeline` and `Query.tag_names`: activity over time, tags in use.

Written like the reports of `oaitrace._reports` (SQLAlchemy Core, bound
parameters, the same time buckets and scope) so SQLite and PostgreSQL
return the same numbers.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import ColumnElement, case, func, select, text, true

from oaitrace.storage._models import FAILED_PREDICATE, RequestRow, RequestTagRow

if TYPE_CHECKING:
    # The report machinery loads on first use, as `Query`'s other reports do.
    from oaitrace._report_scope import Scope

__all__ = ["TagName", "TimelineReport", "TimelineRow", "tag_names", "timeline"]

_REQUESTS = RequestRow.__table__
_C = _REQUESTS.c
_TAGS = RequestTagRow.__table__
BUCKETS: Final = ("day", "hour")


@dataclasses.dataclass(frozen=True, slots=True)
class TimelineRow:
    """What happened in one time bucket.

    Attributes:
        bucket: the UTC day ("2025-01-15") or hour ("2025-01-15 12:00").
        requests: HTTP attempts started in the bucket, retries included.
        errors: attempts with status 400 or above, or no response.
        error_rate: errors / requests, from 0 to 1.
        rate_limited: attempts answered 429.
    """

    bucket: str
    requests: int
    errors: int
    error_rate: float
    rate_limited: int


@dataclasses.dataclass(frozen=True, slots=True)
class TimelineReport:
    """`Query.timeline`: one row per day or hour that had requests, oldest first.

    Attributes:
        bucket: "day" or "hour".
        rows: the buckets with at least one request, in time order.
    """

    bucket: str
    rows: list[TimelineRow]


@dataclasses.dataclass(frozen=True, slots=True)
class TagName:
    """A tag name in use (such as "user") and how many attempts carry it."""

    name: str
    requests: int


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def timeline(scope: Scope, bucket: str) -> TimelineReport:
    """Requests, errors, error rate and 429s per UTC day or hour."""
    from oaitrace._report_scope import group_expression  # noqa: PLC0415

    time_bucket = group_expression(scope.dialect, bucket).label("bucket")
    # The text of the partial index of failed attempts, as the other reports use it.
    failed: Any = text(f"({FAILED_PREDICATE})")
    statement = (
        select(time_bucket, func.count(), _count_if(failed), _count_if(_C.status_code == 429))
        .select_from(_REQUESTS)
        .where(*scope.where())
        .group_by(time_bucket)
        .order_by(time_bucket)
    )
    rows = [
        TimelineRow(
            bucket=str(row[0]),
            requests=int(row[1]),
            errors=int(row[2]),
            error_rate=int(row[2]) / int(row[1]),
            rate_limited=int(row[3]),
        )
        for row in scope.fetch(statement)
    ]
    return TimelineReport(bucket=bucket, rows=rows)


def tag_names(scope: Scope) -> list[TagName]:
    """The tag names on the attempts in scope, the most used first."""
    if _covers_every_attempt(scope):
        # The request_tags rows alone, no join: over 1,000,000 records 0.55 s
        # instead of 1.1 s on SQLite, 0.2 s instead of 0.8 s on PostgreSQL.
        key = _TAGS.c.key
        statement = select(key, func.count()).group_by(key)
    else:
        # Joining request_tags to a period's attempts is no faster than
        # reading the JSON tags of each (PostgreSQL: slower).
        each = func.json_each if scope.dialect == "sqlite" else func.jsonb_each_text
        tags = each(_C.tags).table_valued("key", "value").alias("tag")
        key = tags.c.key
        # A function in FROM may read the row before it on both databases.
        statement = (
            select(key, func.count())
            .select_from(_REQUESTS.join(tags, true()))
            .where(*scope.where())
            .group_by(key)
        )
    found = [TagName(name=str(row[0]), requests=int(row[1])) for row in scope.fetch(statement)]
    found.sort(key=lambda item: (-item.requests, item.name))
    return found


def _covers_every_attempt(scope: Scope) -> bool:
    """True when the scope has no filters and its period holds every recorded attempt."""
    if scope.conditions:
        return False
    # Apart, so that each is one seek in the time index on SQLite too.
    first = scope.fetch(select(func.min(_C.started_at)))[0][0]
    last = scope.fetch(select(func.max(_C.started_at)))[0][0]
    if first is None or last is None:
        return True
    return (scope.since is None or scope.since <= first) and (
        scope.until is None or scope.until > last
    )
