"""Versions of each hour's attempts and the reports' summaries of complete hours.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 00:00:00

`request_hours` (hour, version): the writer adds one to the version of every
hour it stores attempts in, in the same transaction, and `oaitrace prune`
of every hour it deletes from. `hour_summaries` (hour, kind, version,
payload): what a report computed from one complete hour's attempts, valid
while the hour's version is unchanged (`latency` keeps each model and
endpoint's sorted durations there instead of reading and sorting a
million values again). Every hour that already holds attempts gets
version 1; no summary exists yet, reports make them when first asked.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The hour as each database stores `started_at`: SQLite's fixed-width naive
# UTC text, PostgreSQL's timestamptz.
_BACKFILL = {
    "sqlite": (
        "INSERT INTO request_hours (hour, version) "
        "SELECT DISTINCT substr(started_at, 1, 13) || ':00:00.000000', 1 FROM requests"
    ),
    "postgresql": (
        "INSERT INTO request_hours (hour, version) "
        "SELECT DISTINCT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', 1 "
        "FROM requests"
    ),
}


def upgrade() -> None:
    """Create request_hours (with every stored hour at version 1) and hour_summaries."""
    op.create_table(
        "request_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name="pk_request_hours"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hour_summaries",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "kind", name="pk_hour_summaries"),
    )
    backfill = _BACKFILL.get(op.get_context().dialect.name)
    if backfill is not None:
        op.execute(backfill)


def downgrade() -> None:
    """Drop both tables; nothing else refers to them."""
    op.drop_table("hour_summaries")
    op.drop_table("request_hours")
