"""Retries, providers and API objects: call_id, provider, object_ids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00

`call_id` groups the attempts of one logical SDK call (oaitrace._calls);
`provider` names who served a request from its host; `object_ids` holds the
API objects it created or touched ({"file_id": ..., "batch_id": ...}).
Rows recorded before this revision keep NULL call ids and providers and an
empty `object_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add the three columns and the index retries are looked up by."""
    op.add_column("requests", sa.Column("call_id", sa.String(32), nullable=True))
    op.add_column("requests", sa.Column("provider", sa.String(), nullable=True))
    # Not NULL for new rows, but old rows have nothing to say: '{}' for them.
    op.add_column(
        "requests",
        sa.Column("object_ids", _JSON, nullable=False, server_default=sa.text("'{}'")),
    )
    op.create_index("ix_requests_call_id", "requests", ["call_id"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_requests_call_id", table_name="requests")
    for name in ("object_ids", "provider", "call_id"):
        op.drop_column("requests", name)
