"""Partial indexes that hold all their report reads: call_id of retries, why unpriced.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 00:00:00

The retries report reads the `call_id` of every retried attempt, and the
costs report the status and `cost_reason` of every unpriced one; neither was
in its partial index, so each of those rows cost a table lookup (over
1,000,000 records: retries 0.1 s, the unpriced reasons 0.2 s). Both indexes
only hold the few rows their predicate selects, so the wider entries cost
the writer next to nothing. Plain DROP INDEX and CREATE INDEX on both
databases, no batch mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RETRIED = "retry_attempt > 0"
_UNPRICED = "cost_usd IS NULL"
# ix_requests_retried as 0002 made it.
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


def _create(name: str, columns: list[str], predicate: str) -> None:
    op.create_index(
        name,
        "requests",
        columns,
        sqlite_where=sa.text(predicate),
        postgresql_where=sa.text(predicate),
    )


def upgrade() -> None:
    """Add `call_id` to ix_requests_retried, status and reason to ix_requests_unpriced."""
    op.drop_index("ix_requests_retried", table_name="requests")
    _create("ix_requests_retried", [*_ATTEMPT_COLUMNS, "call_id"], _RETRIED)
    op.drop_index("ix_requests_unpriced", table_name="requests")
    _create("ix_requests_unpriced", ["started_at", "status_code", "cost_reason"], _UNPRICED)


def downgrade() -> None:
    """The two indexes as 0002 made them."""
    op.drop_index("ix_requests_unpriced", table_name="requests")
    _create("ix_requests_unpriced", ["started_at"], _UNPRICED)
    op.drop_index("ix_requests_retried", table_name="requests")
    _create("ix_requests_retried", _ATTEMPT_COLUMNS, _RETRIED)
