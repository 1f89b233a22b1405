"""The tables: `requests`, one narrow row per HTTP attempt, and `bodies` beside it.

Headers and bodies live in their own table so that reports, which scan many
`requests` rows, never read the large text. Column names are the attribute
names of `Record`, so converting one into a row is a plain attribute copy.

A change here needs a new Alembic revision in `migrations/versions/`; the
migration tests compare the migrated schema with these models.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

__all__ = [
    "COST_PRECISION",
    "COST_SCALE",
    "FAILED_PREDICATE",
    "MODEL_EXPRESSION",
    "RETRIED_PREDICATE",
    "UNPRICED_PREDICATE",
    "Base",
    "BodyRow",
    "ExactDecimal",
    "HourSummaryRow",
    "JsonType",
    "RequestHourRow",
    "RequestRow",
    "RequestTagRow",
    "UtcDateTime",
]

# Prices per token are fractions of a cent; twelve decimal places keep every
# per-token price genai-prices lists exact (oaitrace.pricing rounds to them).
# Eight integer digits is far beyond any single request.
COST_SCALE = 12
COST_PRECISION = 20

# Explicit names keep Alembic revisions stable across databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL so reports can index and query tags; a Python None is
# stored as SQL NULL (not the JSON text 'null') so "absent" stays NULL.
JsonType: TypeEngine[Any] = JSON(none_as_null=True).with_variant(
    JSONB(none_as_null=True), "postgresql"
)


class UtcDateTime(TypeDecorator[datetime.datetime]):
    """A timestamp that is always an aware UTC `datetime` in Python.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is
    stored as naive UTC text (fixed width, so it sorts correctly) and made
    aware again on the way out. A naive value going in is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        else:
            value = value.astimezone(datetime.timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal that comes back exactly as it went in, on SQLite too.

    PostgreSQL stores NUMERIC(20, 12). SQLite has no decimal type (a NUMERIC
    column holds 8-byte floats), so there the value is stored as an exact
    integer count of 1e-12 USD ("picodollars"): 0.00015 USD is 150000000.
    Integers also sum exactly and fast in reports (see `oaitrace._reports`).
    Values are rounded to `COST_SCALE` decimal places on the way in.
    """

    impl = Numeric(COST_PRECISION, COST_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(COST_PRECISION, COST_SCALE))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(_COST_QUANTUM)
        if dialect.name == "sqlite":
            return int(quantized.scaleb(COST_SCALE))
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite" and isinstance(value, int):
            return Decimal(value).scaleb(-COST_SCALE).quantize(_COST_QUANTUM)
        return Decimal(str(value)).quantize(_COST_QUANTUM)


_COST_QUANTUM = Decimal(1).scaleb(-COST_SCALE)


class Base(DeclarativeBase):
    """Declarative base holding the metadata Alembic migrates to."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Predicates of the partial indexes; reports use the same text so the
# planners recognise them.
FAILED_PREDICATE = "status_code >= 400 OR status_code IS NULL"
# What reports call "model": as requested, else as answered (Azure
# deployments send no model in the body).
MODEL_EXPRESSION = "coalesce(request_model, response_model)"
RETRIED_PREDICATE = "retry_attempt > 0"
UNPRICED_PREDICATE = "cost_usd IS NULL"
_FAILED = FAILED_PREDICATE
_RETRIED = RETRIED_PREDICATE
# What the errors and retries reports read of failed and retried attempts:
# their partial indexes hold it all, so those reports never read the table.
_ATTEMPT_COLUMNS = (
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
)
# Since 0007: every other --by column, so grouping reads no table row either.
_GROUP_COLUMNS = ("operation", "host", "project", "organization", "service_tier")


class RequestRow(Base):
    """One HTTP attempt: the `RequestRecord` columns plus small stored-alongside facts."""

    __tablename__ = "requests"

    # --- the RequestRecord contract, in its order ---
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime.datetime] = mapped_column(UtcDateTime())
    method: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(String)
    operation: Mapped[str] = mapped_column(String)
    stream: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer)
    complete: Mapped[bool] = mapped_column(Boolean)
    request_model: Mapped[str | None] = mapped_column(String)
    response_model: Mapped[str | None] = mapped_column(String)
    response_id: Mapped[str | None] = mapped_column(String)
    request_id: Mapped[str | None] = mapped_column(String)
    processing_ms: Mapped[float | None] = mapped_column(Float)
    openai_version: Mapped[str | None] = mapped_column(String)
    organization: Mapped[str | None] = mapped_column(String)
    project: Mapped[str | None] = mapped_column(String)
    ratelimit_limit_requests: Mapped[int | None] = mapped_column(BigInteger)
    ratelimit_remaining_requests: Mapped[int | None] = mapped_column(BigInteger)
    ratelimit_reset_requests_s: Mapped[float | None] = mapped_column(Float)
    ratelimit_limit_tokens: Mapped[int | None] = mapped_column(BigInteger)
    ratelimit_remaining_tokens: Mapped[int | None] = mapped_column(BigInteger)
    ratelimit_reset_tokens_s: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    total_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cached_input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    reasoning_tokens: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[float] = mapped_column(Float)
    ttfb_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    finish_reasons: Mapped[list[str] | None] = mapped_column(JsonType)
    error_type: Mapped[str | None] = mapped_column(String)
    error_code: Mapped[str | None] = mapped_column(String)
    error_message: Mapped[str | None] = mapped_column(Text)
    retry_attempt: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    tags: Mapped[dict[str, str]] = mapped_column(JsonType)
    # --- stored alongside ---
    usage_details: Mapped[dict[str, int | float]] = mapped_column(JsonType)
    retry_after_s: Mapped[float | None] = mapped_column(Float)
    api_key_fingerprint: Mapped[str | None] = mapped_column(String)
    response_content_type: Mapped[str | None] = mapped_column(String)
    request_bytes: Mapped[int | None] = mapped_column(BigInteger)
    response_bytes: Mapped[int] = mapped_column(BigInteger)
    parse_error: Mapped[str | None] = mapped_column(Text)
    response_truncated: Mapped[bool] = mapped_column(Boolean)
    # --- added in 0002: service tier and price provenance (oaitrace.pricing) ---
    service_tier: Mapped[str | None] = mapped_column(String)
    cost_reason: Mapped[str | None] = mapped_column(String)
    price_source: Mapped[str | None] = mapped_column(String)
    price_model: Mapped[str | None] = mapped_column(String)
    price_provider: Mapped[str | None] = mapped_column(String)
    # --- added in 0003: retries, providers and API objects ---
    call_id: Mapped[str | None] = mapped_column(String(32))
    provider: Mapped[str | None] = mapped_column(String)
    object_ids: Mapped[dict[str, str]] = mapped_column(JsonType, server_default=text("'{}'"))

    # Every index slows the writer down, so only what reports filter and
    # group on: time ranges, one request by id, and (thing, time) pairs.
    __table_args__ = (
        # Reports scan a time range and read only these columns: with them
        # in the index SQLite never touches the wide table rows. Records
        # arrive in time order, so inserts append to the end of it.
        Index(
            "ix_requests_report",
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
            # Last, since 0004: `tag:<name>` groupings join request_tags on
            # it, and from the index (SQLite indexes hold the rowid, not it).
            "id",
        ),
        # The same, led by the model as reports group it, so grouping by
        # model reads the index in order instead of sorting every row.
        Index(
            "ix_requests_model_report",
            text(MODEL_EXPRESSION),
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
        ),
        # Small partial indexes: failed attempts (errors, retries) and retries.
        Index(
            "ix_requests_failed",
            *_ATTEMPT_COLUMNS,
            *_GROUP_COLUMNS,
            sqlite_where=text(_FAILED),
            postgresql_where=text(_FAILED),
        ),
        # Attempts without a cost: why they are unpriced (costs), what to reprice.
        # Status and reason since 0005, so costs reads no table row for them.
        Index(
            "ix_requests_unpriced",
            "started_at",
            "status_code",
            "cost_reason",
            sqlite_where=text(UNPRICED_PREDICATE),
            postgresql_where=text(UNPRICED_PREDICATE),
        ),
        # With the call id since 0005: retries links retried attempts by it.
        Index(
            "ix_requests_retried",
            *_ATTEMPT_COLUMNS,
            "call_id",
            *_GROUP_COLUMNS,
            sqlite_where=text(_RETRIED),
            postgresql_where=text(_RETRIED),
        ),
        Index(None, "request_id"),
        Index(None, "response_id"),
        Index(None, "request_model", "started_at"),
        Index(None, "response_model", "started_at"),
        Index(None, "status_code", "started_at"),
        Index(None, "endpoint", "started_at"),
        Index(None, "call_id"),
    )


class BodyRow(Base):
    """Headers and bodies of one attempt, redacted; read only for `oaitrace show`."""

    __tablename__ = "bodies"

    request_pk: Mapped[str] = mapped_column(
        String(32), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    request_headers: Mapped[dict[str, str]] = mapped_column(JsonType)
    response_headers: Mapped[dict[str, str]] = mapped_column(JsonType)
    request_body: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JsonType)


class RequestTagRow(Base):
    """One tag of one attempt (added in 0004): what reports group and `find` filters on.

    The same tags as `requests.tags`, which stays the record's own copy; here
    a `tag:<name>` grouping is a join on an index instead of parsing the JSON
    of every row. WITHOUT ROWID on SQLite: the primary key is the table, so a
    tag costs one B-tree entry plus the (key, value) index.
    """

    __tablename__ = "request_tags"

    request_pk: Mapped[str] = mapped_column(
        String(32), ForeignKey("requests.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)

    # No index besides the primary key: reports and `find` look tags up by
    # (request_pk, key); a (key, value) index would cost the writer 12%.
    __table_args__ = ({"sqlite_with_rowid": False},)


class RequestHourRow(Base):
    """A version of the attempts of one UTC hour (added in 0006), for `HourSummaryRow`.

    Every transaction that stores or deletes attempts of an hour adds one to
    its version, in the same transaction; a summary made from the hour's
    attempts is valid while the version is the one it was made at. An hour
    without a row has no attempts (0006 gave every stored hour version 1).
    """

    __tablename__ = "request_hours"

    hour: Mapped[datetime.datetime] = mapped_column(UtcDateTime(), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = ({"sqlite_with_rowid": False},)


class HourSummaryRow(Base):
    """What a report computed from the attempts of one complete UTC hour (added in 0006).

    `kind` names the report ("latency": each model and endpoint's sorted
    durations), `version` the `RequestHourRow.version` the attempts were read
    at, `payload` the report's own encoding. Reports store and read these;
    the recorder never does, and a stale one is ignored and made again.
    """

    __tablename__ = "hour_summaries"

    hour: Mapped[datetime.datetime] = mapped_column(UtcDateTime(), primary_key=True)
    kind: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
