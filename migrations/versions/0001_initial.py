"""Initial schema: requests and bodies.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Revisions are append-only: never edit one that has been released; add a new
one. Types are spelled out here rather than imported from the models, so
later model changes cannot silently rewrite history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )


def upgrade() -> None:
    """Create `requests` (one narrow row per HTTP attempt) and `bodies`."""
    op.create_table(
        "requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.String(), nullable=False),
        sa.Column("operation", sa.String(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("request_model", sa.String(), nullable=True),
        sa.Column("response_model", sa.String(), nullable=True),
        sa.Column("response_id", sa.String(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("processing_ms", sa.Float(), nullable=True),
        sa.Column("openai_version", sa.String(), nullable=True),
        sa.Column("organization", sa.String(), nullable=True),
        sa.Column("project", sa.String(), nullable=True),
        sa.Column("ratelimit_limit_requests", sa.BigInteger(), nullable=True),
        sa.Column("ratelimit_remaining_requests", sa.BigInteger(), nullable=True),
        sa.Column("ratelimit_reset_requests_s", sa.Float(), nullable=True),
        sa.Column("ratelimit_limit_tokens", sa.BigInteger(), nullable=True),
        sa.Column("ratelimit_remaining_tokens", sa.BigInteger(), nullable=True),
        sa.Column("ratelimit_reset_tokens_s", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("total_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cached_input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("ttfb_ms", sa.Float(), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("finish_reasons", _json(), nullable=True),
        sa.Column("error_type", sa.String(), nullable=True),
        sa.Column("error_code", sa.String(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("retry_attempt", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Numeric(18, 10), nullable=True),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("usage_details", _json(), nullable=False),
        sa.Column("retry_after_s", sa.Float(), nullable=True),
        sa.Column("api_key_fingerprint", sa.String(), nullable=True),
        sa.Column("response_content_type", sa.String(), nullable=True),
        sa.Column("request_bytes", sa.BigInteger(), nullable=True),
        sa.Column("response_bytes", sa.BigInteger(), nullable=False),
        sa.Column("parse_error", sa.Text(), nullable=True),
        sa.Column("response_truncated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
    )
    op.create_index("ix_requests_started_at", "requests", ["started_at"])
    op.create_index("ix_requests_request_id", "requests", ["request_id"])
    op.create_index("ix_requests_response_id", "requests", ["response_id"])
    op.create_index(
        "ix_requests_request_model_started_at", "requests", ["request_model", "started_at"]
    )
    op.create_index(
        "ix_requests_response_model_started_at", "requests", ["response_model", "started_at"]
    )
    op.create_index("ix_requests_status_code_started_at", "requests", ["status_code", "started_at"])
    op.create_index("ix_requests_endpoint_started_at", "requests", ["endpoint", "started_at"])

    op.create_table(
        "bodies",
        sa.Column("request_pk", sa.String(32), nullable=False),
        sa.Column("request_headers", _json(), nullable=False),
        sa.Column("response_headers", _json(), nullable=False),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("extra", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_pk"],
            ["requests.id"],
            name="fk_bodies_request_pk_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_pk", name="pk_bodies"),
    )


def downgrade() -> None:
    """Drop everything oaitrace stored."""
    op.drop_table("bodies")
    op.drop_table("requests")
