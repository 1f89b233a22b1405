"""Costs: exact cost_usd, service tier, price provenance, indexes for reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:00:00

`cost_usd` becomes exact: NUMERIC(20, 12) on PostgreSQL; on SQLite (where a
NUMERIC column holds 8-byte floats) an integer count of 1e-12 USD. Values
stored before are converted. New columns: `service_tier` (as served),
`cost_reason` (why a cost is unknown), `price_source`, `price_model`,
`price_provider` (where a price came from). Rows recorded before this
revision keep a NULL cost until `oaitrace reprice` prices them.

Indexes: `ix_requests_report` (started_at first, then every column the
usage, cost and latency reports read) replaces `ix_requests_started_at`;
`ix_requests_model_report` is the same led by the model expression, so
grouping by model needs no sort; partial indexes find failed, unpriced
and retried attempts without a scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NEW_COLUMNS = ("service_tier", "cost_reason", "price_source", "price_model", "price_provider")


_FAILED = "status_code >= 400 OR status_code IS NULL"
_RETRIED = "retry_attempt > 0"
_REPORT_COLUMNS = [
    "started_at",
    "request_model",
    "response_model",
    "endpoint",
    "status_code",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "duration_ms",
    "processing_ms",
    "ttft_ms",
]

_MODEL_REPORT_COLUMNS = [
    "started_at",
    "request_model",
    "response_model",
    "status_code",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
    "ratelimit_limit_requests",
    "ratelimit_remaining_requests",
    "ratelimit_limit_tokens",
    "ratelimit_remaining_tokens",
    "retry_after_s",
]
_ATTEMPT_COLUMNS = [
    "started_at",
    "status_code",
    "error_code",
    "error_type",
    "request_model",
    "response_model",
    "endpoint",
    "method",
    "api_key_fingerprint",
    "retry_attempt",
    "duration_ms",
    "request_id",
    "id",
]


def upgrade() -> None:
    """Make cost_usd exact, add the provenance columns and the indexes the reports use."""
    if op.get_bind().dialect.name == "sqlite":
        # Not batch mode: copying `requests` would drop the old table, and its
        # ON DELETE CASCADE would empty `bodies` (foreign keys are on and
        # cannot be turned off inside the migration's transaction). ADD,
        # DROP and RENAME COLUMN (SQLite 3.35+) change the table in place.
        op.add_column("requests", sa.Column("cost_usd_exact", sa.BigInteger(), nullable=True))
        op.execute(
            "UPDATE requests SET cost_usd_exact = CAST(ROUND(cost_usd * 1e12) AS INTEGER)"
            " WHERE cost_usd IS NOT NULL"
        )
        op.execute("ALTER TABLE requests DROP COLUMN cost_usd")
        op.execute("ALTER TABLE requests RENAME COLUMN cost_usd_exact TO cost_usd")
    else:
        op.alter_column(
            "requests",
            "cost_usd",
            existing_type=sa.Numeric(18, 10),
            type_=sa.Numeric(20, 12),
            existing_nullable=True,
        )
    for name in _NEW_COLUMNS:
        op.add_column("requests", sa.Column(name, sa.String(), nullable=True))
    op.drop_index("ix_requests_started_at", table_name="requests")
    op.create_index("ix_requests_report", "requests", _REPORT_COLUMNS)
    op.create_index(
        "ix_requests_model_report",
        "requests",
        [sa.text("coalesce(request_model, response_model)"), *_MODEL_REPORT_COLUMNS],
    )
    op.create_index(
        "ix_requests_failed",
        "requests",
        _ATTEMPT_COLUMNS,
        sqlite_where=sa.text(_FAILED),
        postgresql_where=sa.text(_FAILED),
    )
    op.create_index(
        "ix_requests_unpriced",
        "requests",
        ["started_at"],
        sqlite_where=sa.text("cost_usd IS NULL"),
        postgresql_where=sa.text("cost_usd IS NULL"),
    )
    op.create_index(
        "ix_requests_retried",
        "requests",
        _ATTEMPT_COLUMNS,
        sqlite_where=sa.text(_RETRIED),
        postgresql_where=sa.text(_RETRIED),
    )


def downgrade() -> None:
    """Drop the provenance columns and indexes; costs go back to NUMERIC(18, 10)."""
    op.drop_index("ix_requests_retried", table_name="requests")
    op.drop_index("ix_requests_unpriced", table_name="requests")
    op.drop_index("ix_requests_failed", table_name="requests")
    op.drop_index("ix_requests_model_report", table_name="requests")
    op.drop_index("ix_requests_report", table_name="requests")
    op.create_index("ix_requests_started_at", "requests", ["started_at"])
    for name in reversed(_NEW_COLUMNS):
        op.drop_column("requests", name)
    if op.get_bind().dialect.name == "sqlite":
        op.add_column("requests", sa.Column("cost_usd_old", sa.Numeric(18, 10), nullable=True))
        op.execute("UPDATE requests SET cost_usd_old = cost_usd / 1e12")
        op.execute("ALTER TABLE requests DROP COLUMN cost_usd")
        op.execute("ALTER TABLE requests RENAME COLUMN cost_usd_old TO cost_usd")
    else:
        op.alter_column(
            "requests",
            "cost_usd",
            existing_type=sa.Numeric(20, 12),
            type_=sa.Numeric(18, 10),
            existing_nullable=True,
        )
