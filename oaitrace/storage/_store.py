"""The writer's side of storage: batches of Records into requests, bodies and request_tags."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Mapping, Sequence
from itertools import chain
from types import TracebackType
from typing import Any, Final

from sqlalchemy import Connection, Dialect, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from oaitrace._exchange import Record
from oaitrace.exceptions import DatabaseError
from oaitrace.storage._engine import create_engine, resolve_database_url
from oaitrace.storage._hours import bump_hours
from oaitrace.storage._migrate import ensure_schema
from oaitrace.storage._models import BodyRow, RequestRow, RequestTagRow

__all__ = ["Store", "record_to_rows"]

_REQUESTS: Table = RequestRow.__table__  # type: ignore[assignment]
_BODIES: Table = BodyRow.__table__  # type: ignore[assignment]
_TAGS: Table = RequestTagRow.__table__  # type: ignore[assignment]

# Record attributes copied unchanged into `requests` (column names match).
# Mappings and the finish_reasons tuple are converted in `record_to_rows`.
_PLAIN_REQUEST_COLUMNS = tuple(
    name
    for name in _REQUESTS.columns.keys()  # noqa: SIM118 - a ColumnCollection, not a dict
    if name not in ("finish_reasons", "tags", "usage_details", "object_ids")
)

# One C-level call fetches them all: much faster than getattr in a loop, and
# this runs for every record the writer stores.
_plain_request_values = operator.attrgetter(*_PLAIN_REQUEST_COLUMNS)


def record_to_rows(record: Record) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `requests` row and the `bodies` row for one Record.

    Mappings become plain dicts (the JSON serializer takes nothing else) and
    `finish_reasons` a list, so the values are what the database returns.
    """
    request_row = dict(zip(_PLAIN_REQUEST_COLUMNS, _plain_request_values(record), strict=True))
    finish_reasons = record.finish_reasons
    request_row["finish_reasons"] = None if finish_reasons is None else list(finish_reasons)
    request_row["tags"] = _plain_dict(record.tags)
    request_row["usage_details"] = _plain_dict(record.usage_details)
    request_row["object_ids"] = _plain_dict(record.object_ids)
    body_row = {
        "request_pk": record.id,
        "request_headers": _plain_dict(record.request_headers),
        "response_headers": _plain_dict(record.response_headers),
        "request_body": record.request_body,
        "response_body": record.response_body,
        "extra": _plain_dict(record.extra),
    }
    return request_row, body_row


def _plain_dict(mapping: Mapping[str, Any]) -> dict[str, Any]:
    # The parser's mappings are dicts already: a copy would cost time and,
    # for the garbage collector, six more containers per record in a batch.
    # The rows only read them (bind processors replace row values).
    return mapping if type(mapping) is dict else dict(mapping)


def _insert_ignoring_duplicates(dialect_name: str, table: Table) -> Insert:
    # Re-inserting a batch (a retry after a lost commit, a spool replay) must
    # neither fail nor duplicate: the record id decides.
    if dialect_name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect_name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    msg = f"oaitrace cannot store to {dialect_name}; use SQLite or PostgreSQL"
    raise DatabaseError(msg)


class _PreparedInsert:
    """A Core `INSERT ... ON CONFLICT DO NOTHING`, compiled once, run as a driver executemany.

    `Connection.execute(insert, rows)` spends about a fifth of the writer's
    time per row in SQLAlchemy's generic parameter handling (measured: about
    18,000 records/s against 22,000 this way). Here the statement is compiled
    once and each column's own SQLAlchemy bind processor (JSON, UTC
    timestamps, Decimal, booleans) is applied in one tight loop, so values
    are converted exactly as SQLAlchemy would; a test compares the two.
    """

    def __init__(self, table: Table, dialect: Dialect) -> None:
        statement = _insert_ignoring_duplicates(dialect.name, table)
        keys = list(table.columns.keys())
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = compiled.string
        # sqlite3 binds a tuple much faster than it looks up names in a dict;
        # psycopg's pyformat placeholders take the dicts as they are.
        self._row_values = (
            operator.itemgetter(*compiled.positiontup)
            if compiled.positional and compiled.positiontup
            else None
        )
        self._multi_row = _MultiRowInsert(self.sql, len(keys)) if dialect.name == "sqlite" else None
        processors = []
        for column in table.columns:
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((column.key, processor))
        self._processors = tuple(processors)

    def execute(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """Convert `rows` in place and insert them."""
        processors = self._processors
        for row in rows:
            for key, process in processors:
                value = row[key]
                # JSON columns are none_as_null: None is SQL NULL for every type.
                if value is not None:
                    row[key] = process(value)
        row_values = self._row_values
        if row_values is None:
            connection.exec_driver_sql(self.sql, rows)
            return
        values = [row_values(row) for row in rows]
        if self._multi_row is not None:
            self._multi_row.execute(connection, values)
        else:
            connection.exec_driver_sql(self.sql, values)


class _MultiRowInsert:
    """SQLite's INSERT of many rows as one statement: `VALUES (?, ...), (?, ...), ...`.

    sqlite3's executemany gives up the GIL around every row it steps, and a
    thread that gives the GIL up while the application's thread keeps it
    busy waits up to the switch interval (5 ms) to get it back: measured, a
    500-row batch then took seconds while the application ran, and records
    piled up in the queue. A batch goes in as a few statements instead:
    chunks of the most rows one statement may bind (SQLite's parameter
    limit), then of powers of two, so that only a dozen distinct statements
    per table are ever built and prepared, whatever the batch sizes.
    """

    # SQLITE_MAX_VARIABLE_NUMBER: 32766 since SQLite 3.32, 999 before.
    _MAX_PARAMETERS: Final = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999

    def __init__(self, sql: str, columns: int) -> None:
        head, _, rest = sql.partition(" VALUES ")
        group_end = rest.index(")") + 1
        self._head = head
        self._group = rest[:group_end]
        self._tail = rest[group_end:]
        most = max(1, self._MAX_PARAMETERS // columns)
        # Largest first: most, then every power of two below it.
        self._sizes = (most, *(1 << bit for bit in range(most.bit_length() - 1, -1, -1)))
        self._statements: dict[int, str] = {}

    def execute(self, connection: Connection, rows: list[tuple[Any, ...]]) -> None:
        start = 0
        while start < len(rows):
            left = len(rows) - start
            size = next(size for size in self._sizes if size <= left)
            chunk = rows[start : start + size]
            connection.exec_driver_sql(self._statement(size), tuple(chain.from_iterable(chunk)))
            start += size

    def _statement(self, rows: int) -> str:
        statement = self._statements.get(rows)
        if statement is None:
            values = ", ".join([self._group] * rows)
            statement = self._statements[rows] = f"{self._head} VALUES {values}{self._tail}"
        return statement


class Store:
    """Writes Records to the database; used by the recorder's writer thread.

    The schema is migrated to the newest revision before the first insert
    (or when `ensure_schema()` is called). Not for concurrent use from many
    threads at once: the recorder has one writer.

    Example:
        >>> store = Store("/tmp/traces.db")  # doctest: +SKIP
        >>> store.insert(records)  # doctest: +SKIP
        >>> store.close()  # doctest: +SKIP
    """

    def __init__(self, database_url: str | None = None) -> None:
        self._engine = create_engine(resolve_database_url(database_url))
        # Built once: the statements are the same for every batch.
        self._insert_requests = _PreparedInsert(_REQUESTS, self._engine.dialect)
        self._insert_bodies = _PreparedInsert(_BODIES, self._engine.dialect)
        self._insert_tags = _PreparedInsert(_TAGS, self._engine.dialect)
        self._schema_ready = False

    @property
    def url(self) -> str:
        """The database URL, password hidden: safe to log."""
        return self._safe_url()

    def ensure_schema(self) -> None:
        """Create or upgrade the tables; cheap when they are current. Safe across processes."""
        ensure_schema(self._engine)
        self._schema_ready = True

    def insert(self, records: Sequence[Record]) -> None:
        """Store a batch in one transaction; records already stored (same id) are skipped.

        Raises `DatabaseError` when the database cannot be written; nothing of
        the batch is stored then.
        """
        if not records:
            return
        if not self._schema_ready:
            self.ensure_schema()
        request_rows = []
        body_rows = []
        tag_rows: list[dict[str, Any]] = []
        for record in records:
            request_row, body_row = record_to_rows(record)
            request_rows.append(request_row)
            body_rows.append(body_row)
            if record.tags:
                record_id = record.id
                tag_rows.extend(
                    {"request_pk": record_id, "key": key, "value": value}
                    for key, value in record.tags.items()
                )
        try:
            with self._engine.begin() as connection:
                self._insert_requests.execute(connection, request_rows)
                self._insert_bodies.execute(connection, body_rows)
                if tag_rows:
                    self._insert_tags.execute(connection, tag_rows)
                # Also for records already stored (a retried batch): a summary
                # made stale for nothing is only made again.
                bump_hours(connection, (record.started_at for record in records))
        except SQLAlchemyError as exc:
            msg = f"cannot store {len(records)} records in {self._safe_url()}: {exc}"
            raise DatabaseError(msg) from exc

    def close(self) -> None:
        """Close every pooled connection. The Store can be used again afterwards."""
        self._engine.dispose()

    def abandon_after_fork(self) -> None:
        """Forget the connections inherited from the parent process without closing them.

        Closing them in a forked child would end the parent's sessions (a
        PostgreSQL socket is shared); SQLAlchemy's advice is to drop them.
        """
        self._engine.dispose(close=False)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._safe_url()!r})"

    def _safe_url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)
