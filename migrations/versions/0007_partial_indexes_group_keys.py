"""The failed and retried partial indexes hold every --by column too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 00:00:00

`errors` and `retries` grouped by project, organization, operation, host
or service tier read those columns of every failed or retried attempt,
which their partial indexes lacked: a table lookup each (retries by
project over 1,000,000 records: 1.2 s on PostgreSQL, 1.0 s on SQLite,
against 0.7 s by model). Both indexes only hold the few attempts their
predicate selects, so the wider entries cost the writer next to nothing.
Plain DROP INDEX and CREATE INDEX on both databases, no batch mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILED = "status_code >= 400 OR status_code IS NULL"
_RETRIED = "retry_attempt > 0"
# The indexes' columns as 0005 left them.
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
_GROUP_COLUMNS = ["operation", "host", "project", "organization", "service_tier"]


def _create(name: str, columns: list[str], predicate: str) -> None:
    op.create_index(
        name,
        "requests",
        columns,
        sqlite_where=sa.text(predicate),
        postgresql_where=sa.text(predicate),
    )


def upgrade() -> None:
    """Append the other grouping columns to ix_requests_failed and ix_requests_retried."""
    op.drop_index("ix_requests_failed", table_name="requests")
    _create("ix_requests_failed", [*_ATTEMPT_COLUMNS, *_GROUP_COLUMNS], _FAILED)
    op.drop_index("ix_requests_retried", table_name="requests")
    _create("ix_requests_retried", [*_ATTEMPT_COLUMNS, "call_id", *_GROUP_COLUMNS], _RETRIED)


def downgrade() -> None:
    """The two indexes as 0005 left them."""
    op.drop_index("ix_requests_retried", table_name="requests")
    _create("ix_requests_retried", [*_ATTEMPT_COLUMNS, "call_id"], _RETRIED)
    op.drop_index("ix_requests_failed", table_name="requests")
    _create("ix_requests_failed", _ATTEMPT_COLUMNS, _FAILED)
