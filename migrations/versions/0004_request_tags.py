"""Tags in their own table: request_tags (request_pk, key, value).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:00:00

Reports grouped by `tag:<name>` and `find(tag=...)` look tags up by this
table's primary key (request_pk, key) instead of parsing the JSON `tags`
of every row; `id` joins the covering index `ix_requests_report`, so the
join reads no table rows. `requests.tags` stays as it is (the record's own
copy); the rows recorded before this revision are copied from it. Plain
CREATE TABLE and INSERT ... SELECT on both databases: no batch mode, which
on SQLite would copy `requests` and empty `bodies` through its ON DELETE
CASCADE.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Only JSON objects hold tags, and only their string values are tags (the
# recorder writes nothing else); a JSON null is no tag, as in the reports.
_BACKFILL = {
    "sqlite": (
        "INSERT INTO request_tags (request_pk, key, value) "
        "SELECT requests.id, tag.key, tag.value "
        "FROM requests, json_each(requests.tags) AS tag "
        "WHERE json_valid(requests.tags) AND json_type(requests.tags) = 'object' "
        "AND tag.type = 'text'"
    ),
    "postgresql": (
        "INSERT INTO request_tags (request_pk, key, value) "
        "SELECT requests.id, tag.key, tag.value #>> '{}' "
        "FROM requests CROSS JOIN LATERAL jsonb_each("
        "CASE WHEN jsonb_typeof(requests.tags) = 'object' THEN requests.tags END"
        ") AS tag "
        "WHERE jsonb_typeof(tag.value) = 'string'"
    ),
}


# ix_requests_report as 0002 made it; 0004 appends `id`.
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


def upgrade() -> None:
    """Create request_tags, copy the tags already stored, add `id` to ix_requests_report."""
    op.create_table(
        "request_tags",
        sa.Column("request_pk", sa.String(32), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_pk"],
            ["requests.id"],
            name="fk_request_tags_request_pk_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_pk", "key", name="pk_request_tags"),
        sqlite_with_rowid=False,
    )
    dialect = op.get_context().dialect.name
    backfill = _BACKFILL.get(dialect)
    if backfill is not None:
        op.execute(backfill)
    op.drop_index("ix_requests_report", table_name="requests")
    op.create_index("ix_requests_report", "requests", [*_REPORT_COLUMNS, "id"])


def downgrade() -> None:
    """Drop the table (`requests.tags` still holds every tag) and restore the index."""
    op.drop_index("ix_requests_report", table_name="requests")
    op.create_index("ix_requests_report", "requests", _REPORT_COLUMNS)
    op.drop_table("request_tags")
