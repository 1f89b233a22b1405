"""Changing stored records: `prune` old ones, `reprice` costs after a price update.

Both work in batches, each its own short transaction, so a recorder writing
to the same database is only ever held up for one batch.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Final

from sqlalchemy import Engine, Table, bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from oaitrace.exceptions import DatabaseError
from oaitrace.pricing import Pricer
from oaitrace.storage._engine import create_engine, resolve_database_url
from oaitrace.storage._hours import bump_hours, hour_of
from oaitrace.storage._migrate import ensure_schema
from oaitrace.storage._models import BodyRow, HourSummaryRow, RequestRow

__all__ = ["prune", "reprice"]

DEFAULT_BATCH_SIZE: Final = 5_000
_REQUESTS: Table = RequestRow.__table__  # type: ignore[assignment]
_BODIES: Table = BodyRow.__table__  # type: ignore[assignment]
_SUMMARIES: Table = HourSummaryRow.__table__  # type: ignore[assignment]
_C = _REQUESTS.c

Progress = Callable[[int, int], None]


def _engine(database_url: str | None) -> Engine:
    engine = create_engine(resolve_database_url(database_url), create=False)
    ensure_schema(engine)
    return engine


def _failed(engine: Engine, exc: SQLAlchemyError, doing: str) -> DatabaseError:
    url = engine.url.render_as_string(hide_password=True)
    return DatabaseError(f"cannot {doing} in {url}: {exc.__class__.__name__}: {exc}")


def count_older(database_url: str | None, before: datetime.datetime) -> int:
    """How many attempts started before `before`."""
    engine = create_engine(resolve_database_url(database_url), create=False)
    try:
        with engine.connect() as connection:
            statement = select(func.count()).where(_C.started_at < before)
            return int(connection.execute(statement).scalar_one())
    except SQLAlchemyError as exc:
        raise _failed(engine, exc, "count records") from exc
    finally:
        engine.dispose()


def prune(
    database_url: str | None,
    before: datetime.datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Delete the attempts (and their headers and bodies) that started before `before`.

    Returns how many were deleted. Bodies go with their request (the
    foreign key cascades on both databases).
    """
    engine = _engine(database_url)
    total = count_older(database_url, before) if progress else 0
    deleted = 0
    try:
        while True:
            with engine.begin() as connection:
                oldest = (
                    select(_C.id, _C.started_at)
                    .where(_C.started_at < before)
                    .order_by(_C.started_at)
                    .limit(batch_size)
                )
                rows = connection.execute(oldest).all()
                if not rows:
                    break
                chosen = [row[0] for row in rows]
                # Explicitly too: a database created by hand may lack the cascade.
                connection.execute(delete(_BODIES).where(_BODIES.c.request_pk.in_(chosen)))
                connection.execute(delete(_REQUESTS).where(_C.id.in_(chosen)))
                # The summaries of these hours no longer hold.
                bump_hours(connection, (row[1] for row in rows))
            deleted += len(chosen)
            if progress:
                progress(deleted, total)
        with engine.begin() as connection:
            # What reports summarised of the hours now empty; their versions
            # stay (a late attempt there must still make any summary stale).
            connection.execute(delete(_SUMMARIES).where(_SUMMARIES.c.hour < hour_of(before)))
    except SQLAlchemyError as exc:
        raise _failed(engine, exc, "delete records") from exc
    finally:
        engine.dispose()
    return deleted


_REPRICE_COLUMNS: Final = (
    _C.id,
    _C.started_at,
    _C.host,
    _C.operation,
    _C.status_code,
    _C.request_model,
    _C.response_model,
    _C.service_tier,
    _C.input_tokens,
    _C.output_tokens,
    _C.cached_input_tokens,
    _C.reasoning_tokens,
    _C.usage_details,
)


def reprice(
    database_url: str | None,
    *,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    price_file: str | os.PathLike[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Recompute the stored cost of every attempt in the period with today's prices.

    Returns (attempts repriced, attempts whose cost changed). Speech
    requests are priced from their stored request body (characters).
    """
    pricer = Pricer(price_file)
    engine = _engine(database_url)
    conditions = []
    if since is not None:
        conditions.append(_C.started_at >= since)
    if until is not None:
        conditions.append(_C.started_at < until)
    statement_update = (
        update(_REQUESTS)
        .where(_C.id == bindparam("row_id"))
        .values(
            cost_usd=bindparam("cost_usd"),
            cost_reason=bindparam("cost_reason"),
            price_source=bindparam("price_source"),
            price_model=bindparam("price_model"),
            price_provider=bindparam("price_provider"),
        )
    )
    seen = changed = 0
    after = ""
    try:
        with engine.connect() as connection:
            total = int(connection.execute(select(func.count()).where(*conditions)).scalar_one())
        while True:
            with engine.begin() as connection:
                # Keyset pagination over the primary key: every batch is cheap.
                rows = connection.execute(
                    select(*_REPRICE_COLUMNS, _C.cost_usd, _BODIES.c.request_body, _BODIES.c.extra)
                    .select_from(_REQUESTS.outerjoin(_BODIES, _BODIES.c.request_pk == _C.id))
                    .where(*conditions, _C.id > after)
                    .order_by(_C.id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    break
                updates = []
                for row in rows:
                    cost = pricer.price(row)
                    if cost.usd != row.cost_usd:
                        changed += 1
                    updates.append(
                        {
                            "row_id": row.id,
                            "cost_usd": cost.usd,
                            "cost_reason": cost.reason,
                            "price_source": cost.source,
                            "price_model": cost.model,
                            "price_provider": cost.provider,
                        }
                    )
                connection.execute(statement_update, updates)
            seen += len(rows)
            after = rows[-1].id
            if progress:
                progress(seen, total)
    except SQLAlchemyError as exc:
        raise _failed(engine, exc, "update costs") from exc
    finally:
        engine.dispose()
    return seen, changed
