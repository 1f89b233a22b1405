"""The versions of the hours' attempts: what makes a stored summary of an hour valid.

Whoever stores or deletes attempts adds one to the version of each of their
hours in the same transaction (`bump_hours`); a summary made from an hour's
attempts records the version it read them at (`oaitrace._hour_summaries`),
so a late attempt, a replayed spool or a prune makes it stale at once, on
SQLite and PostgreSQL alike, whichever process wrote.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from sqlalchemy import Connection, Executable, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from oaitrace.exceptions import DatabaseError
from oaitrace.storage._models import RequestHourRow

__all__ = ["REQUEST_HOURS", "bump_hours", "hour_of"]

REQUEST_HOURS: Table = RequestHourRow.__table__  # type: ignore[assignment]


def hour_of(moment: datetime.datetime) -> datetime.datetime:
    """The UTC hour an attempt started in (naive values are UTC, as storage takes them)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.replace(minute=0, second=0, microsecond=0, tzinfo=datetime.timezone.utc)


def bump_hours(connection: Connection, moments: Iterable[datetime.datetime]) -> None:
    """Add one to the version of the hour of each moment, inside the caller's transaction.

    In ascending order: two PostgreSQL writers that both touch two hours
    then lock their rows in the same order and never deadlock. A writer
    holds its hour's row lock only from this statement to its commit, so
    the caller runs it last.
    """
    hours = sorted({hour_of(moment) for moment in moments})
    if hours:
        connection.execute(_bump_statement(connection.dialect.name), [{"h": h} for h in hours])


def _bump_statement(dialect_name: str) -> Executable:
    columns = REQUEST_HOURS.c
    values = {"hour": bindparam("h"), "version": 1}
    increment = {"version": columns.version + 1}
    if dialect_name == "sqlite":
        return (
            sqlite.insert(REQUEST_HOURS)
            .values(values)
            .on_conflict_do_update(index_elements=[columns.hour], set_=increment)
        )
    if dialect_name == "postgresql":
        return (
            postgresql.insert(REQUEST_HOURS)
            .values(values)
            .on_conflict_do_update(index_elements=[columns.hour], set_=increment)
        )
    msg = f"oaitrace cannot store to {dialect_name}; use SQLite or PostgreSQL"
    raise DatabaseError(msg)
