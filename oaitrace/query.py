"""Read what oaitrace recorded: one request, a filtered list, and the full detail.

Example:
    >>> from oaitrace.query import Query
    >>> with Query("oaitrace.db") as q:  # doctest: +SKIP
    ...     for record in q.requests(model="gpt-4o-mini", error=True, limit=10):
    ...         print(record.started_at, record.status_code, record.error_message)
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, inspect, null, or_, select
from sqlalchemy.exc import SQLAlchemyError

from oaitrace._overview_reports import TagName, TimelineReport, TimelineRow
from oaitrace._report_scope import fetch_rows
from oaitrace._report_types import (
    ErrorCount,
    ErrorExample,
    ErrorReport,
    LatencyReport,
    LatencyRow,
    Percentiles,
    RateLimitBucket,
    RateLimitReport,
    RateLimitRow,
    RetriedCall,
    RetryGroup,
    RetryReport,
    UsageReport,
    UsageRow,
)
from oaitrace.exceptions import QueryError
from oaitrace.storage._engine import create_engine, resolve_database_url
from oaitrace.storage._models import BodyRow, RequestRow, RequestTagRow

__all__ = [
    "ErrorCount",
    "ErrorExample",
    "ErrorReport",
    "LatencyReport",
    "LatencyRow",
    "Percentiles",
    "Query",
    "RateLimitBucket",
    "RateLimitReport",
    "RateLimitRow",
    "RequestDetail",
    "RequestRecord",
    "RetriedCall",
    "RetryGroup",
    "RetryReport",
    "TagName",
    "TimelineReport",
    "TimelineRow",
    "UsageReport",
    "UsageRow",
]

# `by` arguments: "model,day", ["model", "day"] or None (no grouping).
By = str | Sequence[str] | None


@dataclasses.dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP attempt to the API, as recorded. A retry is a separate record.

    A value the exchange did not carry is None, never a made-up default: a
    response without usage has `input_tokens=None`, not 0.

    Attributes:
        id: oaitrace's own id, 32 hex digits, ordered by time.
        started_at: when the request was sent, an aware UTC datetime.
        method: HTTP method, such as "POST".
        url: the full URL, with secrets removed.
        host: the server, such as "api.openai.com".
        path: the URL path, such as "/v1/files/file-abc".
        endpoint: the path as a template, such as "/v1/files/{id}".
        operation: what was asked: "chat", "embeddings", "files.create" ...
        stream: True when the response was a server-sent event stream.
        status_code: the HTTP status; None when no response arrived.
        complete: True when the response was read to its end.
        request_model: the model the request asked for.
        response_model: the model the response says answered (often dated).
        response_id: the id of the response object, such as "chatcmpl-...".
        request_id: the server's `x-request-id`, what OpenAI support asks for.
        processing_ms: server time from `openai-processing-ms`.
        openai_version: the `openai-version` header.
        organization: the `openai-organization` header.
        project: the `openai-project` header.
        ratelimit_limit_requests: requests allowed per window.
        ratelimit_remaining_requests: requests left in the window.
        ratelimit_reset_requests_s: seconds until the request limit resets.
        ratelimit_limit_tokens: tokens allowed per window.
        ratelimit_remaining_tokens: tokens left in the window.
        ratelimit_reset_tokens_s: seconds until the token limit resets.
        input_tokens: prompt/input tokens the API reported.
        output_tokens: completion/output tokens the API reported.
        total_tokens: total tokens the API reported.
        cached_input_tokens: input tokens served from the prompt cache.
        reasoning_tokens: output tokens spent on reasoning.
        duration_ms: from sending the request to the end of the response.
        ttfb_ms: time to the response headers.
        ttft_ms: time to the first content chunk of a stream.
        finish_reasons: why each choice ended, such as ("stop",).
        error_type: the API error type, or the exception that ended the attempt.
        error_code: the API error code, such as "rate_limit_exceeded".
        error_message: the API error message or the exception's message.
        retry_attempt: the SDK's retry count (0 for the first attempt).
        cost_usd: the price in US dollars; None when it is not known.
        tags: the tags set with `oaitrace.tags(...)` around the request.
        service_tier: the tier that served the request ("default", "flex" ...).
        cost_reason: why `cost_usd` is None ("unknown_model", "no_usage" ...).
    """

    id: str
    started_at: datetime.datetime
    method: str
    url: str
    host: str
    path: str
    endpoint: str
    operation: str
    stream: bool
    status_code: int | None
    complete: bool
    request_model: str | None
    response_model: str | None
    response_id: str | None
    request_id: str | None
    processing_ms: float | None
    openai_version: str | None
    organization: str | None
    project: str | None
    ratelimit_limit_requests: int | None
    ratelimit_remaining_requests: int | None
    ratelimit_reset_requests_s: float | None
    ratelimit_limit_tokens: int | None
    ratelimit_remaining_tokens: int | None
    ratelimit_reset_tokens_s: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    duration_ms: float
    ttfb_ms: float | None
    ttft_ms: float | None
    finish_reasons: tuple[str, ...] | None
    error_type: str | None
    error_code: str | None
    error_message: str | None
    retry_attempt: int | None
    cost_usd: Decimal | None
    tags: dict[str, str]
    service_tier: str | None = None
    cost_reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RequestDetail:
    """Everything stored about one attempt: the record plus headers, bodies and notes.

    Attributes:
        record: the queryable fields.
        request_headers: request headers, lower-case names, secrets redacted.
        response_headers: response headers, lower-case names.
        request_body: the request body as text; None when not captured or binary.
        response_body: the response body as text (decompressed); None likewise.
        usage_details: other usage numbers, flattened to dotted keys.
        retry_after_s: what `retry-after`/`retry-after-ms` asked for, in seconds.
        api_key_fingerprint: a short fingerprint of the API key, never the key.
        response_content_type: the response `content-type`.
        request_bytes: size of the request body; None when unknown.
        response_bytes: size of the response body as received.
        parse_error: why the body could not be parsed, if it could not.
        response_truncated: True when the body was longer than the capture cap.
        extra: anything else the recorder kept.
        price_source: where the price came from ("genai-prices 0.2.3" ...).
        price_model: the model id the price was matched to.
        price_provider: the provider id the price was matched to.
        call_id: the logical SDK call this attempt belongs to (the record id
            of its first attempt); retries of one call share it.
        provider: who served the request, named from its host ("openai",
            "azure.ai.openai", "groq", "openai_compatible" ...).
        object_ids: the API objects the request created or touched, by kind
            ({"file_id": "file-abc", "batch_id": ...}).
    """

    record: RequestRecord
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    request_body: str | None
    response_body: str | None
    usage_details: dict[str, int | float]
    retry_after_s: float | None
    api_key_fingerprint: str | None
    response_content_type: str | None
    request_bytes: int | None
    response_bytes: int
    parse_error: str | None
    response_truncated: bool
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    price_source: str | None = None
    price_model: str | None = None
    price_provider: str | None = None
    call_id: str | None = None
    provider: str | None = None
    object_ids: dict[str, str] = dataclasses.field(default_factory=dict)


_REQUESTS = RequestRow.__table__
_BODIES = BodyRow.__table__
_RECORD_FIELDS = tuple(field.name for field in dataclasses.fields(RequestRecord))
_RECORD_COLUMNS = tuple(_REQUESTS.c[name] for name in _RECORD_FIELDS)
_DETAIL_REQUEST_FIELDS = (
    "usage_details",
    "retry_after_s",
    "api_key_fingerprint",
    "response_content_type",
    "request_bytes",
    "response_bytes",
    "parse_error",
    "response_truncated",
    "price_source",
    "price_model",
    "price_provider",
    "call_id",
    "provider",
    "object_ids",
)
_DETAIL_BODY_FIELDS = (
    "request_headers",
    "response_headers",
    "request_body",
    "response_body",
    "extra",
)
_FINISH_REASONS_INDEX = _RECORD_FIELDS.index("finish_reasons")
_TAGS_INDEX = _RECORD_FIELDS.index("tags")
# Newest first; the id breaks ties between attempts of the same microsecond.
_NEWEST_FIRST = (_REQUESTS.c.started_at.desc(), _REQUESTS.c.id.desc())
_OWN_ID_PREFIX = re.compile(r"[0-9a-f]{1,31}")


def _equals(name: str) -> Callable[[Any], ColumnElement[bool]]:
    column = _REQUESTS.c[name]
    return lambda value: column == value


def _model_filter(value: Any) -> ColumnElement[bool]:
    return or_(_REQUESTS.c.request_model == value, _REQUESTS.c.response_model == value)


def _error_filter(value: Any) -> ColumnElement[bool]:
    status = _REQUESTS.c.status_code
    if value:
        return or_(status >= 400, status.is_(None))
    # `+ 0` keeps SQLite, which has no statistics, from reading most of the
    # table through the status index (see `oaitrace._report_scope.succeeded`).
    return (status + 0) < 400


# Filter name -> (accepted Python type, a description for errors, the condition).
_FILTERS: Mapping[str, tuple[type, str, Callable[[Any], ColumnElement[bool]]]] = {
    "model": (str, "a model name", _model_filter),
    "status_code": (int, "an HTTP status code", _equals("status_code")),
    "operation": (str, "an operation such as 'chat'", _equals("operation")),
    "endpoint": (str, "an endpoint such as '/v1/chat/completions'", _equals("endpoint")),
    "host": (str, "a host name", _equals("host")),
    "request_id": (str, "an x-request-id", _equals("request_id")),
    "response_id": (str, "a response id", _equals("response_id")),
    "stream": (bool, "True or False", _equals("stream")),
    "complete": (bool, "True or False", _equals("complete")),
    "error": (bool, "True or False", _error_filter),
    "call_id": (str, "a call id (the record id of a call's first attempt)", _equals("call_id")),
    "provider": (str, "a provider such as 'openai'", _equals("provider")),
}


def _filter_condition(name: str, value: Any) -> ColumnElement[bool]:
    try:
        expected_type, description, condition = _FILTERS[name]
    except KeyError:
        accepted = ", ".join(sorted(_FILTERS))
        msg = f"unknown filter {name!r}; filter by any of: {accepted}"
        raise QueryError(msg) from None
    # bool is an int in Python; a status code of True is a mistake.
    if not isinstance(value, expected_type) or (expected_type is int and isinstance(value, bool)):
        msg = f"filter {name!r} takes {description}, not {value!r}"
        raise QueryError(msg)
    return condition(value)


def _as_utc(name: str, value: object) -> datetime.datetime:
    if not isinstance(value, datetime.datetime):
        msg = f"{name} must be a datetime, not {value!r}"
        raise QueryError(msg)
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        msg = f"limit must be a positive whole number, not {limit!r}"
        raise QueryError(msg)


def _tag_pairs(tag: str | Mapping[str, str] | None) -> list[tuple[str, str]]:
    if tag is None:
        return []
    if isinstance(tag, Mapping):
        return [(str(name), str(value)) for name, value in tag.items()]
    name, separator, value = tag.partition("=")
    if not separator or not name:
        msg = f"tag must be name=value, not {tag!r}"
        raise QueryError(msg)
    return [(name, value)]


def _record_from_row(row: Row[Any]) -> RequestRecord:
    values = list(row[: len(_RECORD_FIELDS)])
    finish_reasons = values[_FINISH_REASONS_INDEX]
    if finish_reasons is not None:
        values[_FINISH_REASONS_INDEX] = tuple(finish_reasons)
    # Rows written outside oaitrace may lack tags; the contract is a dict.
    values[_TAGS_INDEX] = dict(values[_TAGS_INDEX] or {})
    return RequestRecord(*values)


def _detail_from_row(row: Row[Any]) -> RequestDetail:
    mapping = row._mapping
    return RequestDetail(
        record=_record_from_row(row),
        request_headers=dict(mapping["request_headers"] or {}),
        response_headers=dict(mapping["response_headers"] or {}),
        request_body=mapping["request_body"],
        response_body=mapping["response_body"],
        usage_details=dict(mapping["usage_details"] or {}),
        retry_after_s=mapping["retry_after_s"],
        api_key_fingerprint=mapping["api_key_fingerprint"],
        response_content_type=mapping["response_content_type"],
        request_bytes=mapping["request_bytes"],
        response_bytes=mapping["response_bytes"],
        parse_error=mapping["parse_error"],
        response_truncated=mapping["response_truncated"],
        extra=dict(mapping["extra"] or {}),
        price_source=mapping["price_source"],
        price_model=mapping["price_model"],
        price_provider=mapping["price_provider"],
        call_id=mapping["call_id"],
        provider=mapping["provider"],
        object_ids=dict(mapping["object_ids"] or {}),
    )


class Query:
    """Read access to an oaitrace database. Never creates one nor changes what was recorded.

    The one thing it writes, where it may: `latency` keeps summaries of the
    complete hours and days it read (table `hour_summaries`), so the next
    report over them reads those instead of every attempt; a summary is
    used only while its hour's attempts are unchanged.

    `database_url` is resolved like the recorder's: None means
    `$OAITRACE_DATABASE_URL`, then `sqlite:///oaitrace.db`; a plain path
    means a SQLite file.

    Example:
        >>> with Query("/tmp/traces.db") as q:  # doctest: +SKIP
        ...     q.get("req_0123456789abcdef")
    """

    def __init__(self, database_url: str | None = None) -> None:
        self._engine = create_engine(resolve_database_url(database_url), create=False, reports=True)
        self._has_summary_tables: bool | None = None

    def requests(
        self,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 100,
        **filters: Any,
    ) -> list[RequestRecord]:
        """Recorded attempts, newest first, at most `limit` of them.

        `since` is inclusive and `until` exclusive; naive datetimes are UTC.
        Filters: `model` (request or response model), `status_code`,
        `operation`, `endpoint`, `host`, `request_id`, `response_id`,
        `stream`, `complete`, and `error` (True: status 400 or above, or no
        response at all).

        Example:
            >>> q.requests(operation="chat", stream=True, limit=20)  # doctest: +SKIP
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"limit must be a positive whole number, not {limit!r}"
            raise QueryError(msg)
        conditions = [_filter_condition(name, value) for name, value in filters.items()]
        if since is not None:
            conditions.append(_REQUESTS.c.started_at >= _as_utc("since", since))
        if until is not None:
            conditions.append(_REQUESTS.c.started_at < _as_utc("until", until))
        statement = (
            select(*_RECORD_COLUMNS).where(*conditions).order_by(*_NEWEST_FIRST).limit(limit)
        )
        return [_record_from_row(row) for row in self._fetch(statement)]

    def get(self, request_id: str) -> RequestRecord | None:
        """One attempt by its `x-request-id`, its oaitrace id, or an unambiguous id prefix.

        Raises `QueryError` when a prefix matches more than one attempt.
        """
        row = self._find(select(*_RECORD_COLUMNS), request_id)
        return None if row is None else _record_from_row(row)

    def detail(self, request_id: str) -> RequestDetail | None:
        """Everything stored about one attempt (headers, bodies ...), found like `get`."""
        columns = (
            *_RECORD_COLUMNS,
            *(_REQUESTS.c[name] for name in _DETAIL_REQUEST_FIELDS),
            *(_BODIES.c[name] for name in _DETAIL_BODY_FIELDS),
        )
        statement = select(*columns).select_from(
            _REQUESTS.outerjoin(_BODIES, _BODIES.c.request_pk == _REQUESTS.c.id)
        )
        row = self._find(statement, request_id)
        return None if row is None else _detail_from_row(row)

    def details(
        self,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 100,
        *,
        bodies: bool = True,
        **filters: Any,
    ) -> list[RequestDetail]:
        """Like `requests`, but each attempt in full, as `detail` gives it, in one query.

        `bodies=False` leaves the request and response bodies out (None):
        what exports that need headers and `extra` but not content want.

        Example:
            >>> q.details(since=yesterday, limit=10_000, bodies=False)  # doctest: +SKIP
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            msg = f"limit must be a positive whole number, not {limit!r}"
            raise QueryError(msg)
        conditions = [_filter_condition(name, value) for name, value in filters.items()]
        if since is not None:
            conditions.append(_REQUESTS.c.started_at >= _as_utc("since", since))
        if until is not None:
            conditions.append(_REQUESTS.c.started_at < _as_utc("until", until))
        body_columns = (
            _BODIES.c[name] if bodies or not name.endswith("_body") else null().label(name)
            for name in _DETAIL_BODY_FIELDS
        )
        statement = (
            select(
                *_RECORD_COLUMNS,
                *(_REQUESTS.c[name] for name in _DETAIL_REQUEST_FIELDS),
                *body_columns,
            )
            .select_from(_REQUESTS.outerjoin(_BODIES, _BODIES.c.request_pk == _REQUESTS.c.id))
            .where(*conditions)
            .order_by(*_NEWEST_FIRST)
            .limit(limit)
        )
        return [_detail_from_row(row) for row in self._fetch(statement)]

    # --- reports ---------------------------------------------------------------
    # Each takes `since` (inclusive), `until` (exclusive), the filters of
    # `requests()`, and `by`: grouping keys among model, response_model,
    # day, hour, endpoint, operation, host, status, project, organization,
    # api_key (the key's fingerprint), service_tier and tag:<name>.

    def usage(
        self,
        by: By = ("model",),
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        **filters: Any,
    ) -> UsageReport:
        """Requests, input/cached/output/reasoning tokens and exact cost per group, with totals.

        Example:
            >>> report = q.usage(by="model,day", since=week_ago)  # doctest: +SKIP
            >>> report.total.cost_usd, report.total.unpriced_requests  # doctest: +SKIP
            (Decimal('12.345678000000'), 3)
        """
        from oaitrace import _reports  # noqa: PLC0415 - reports load on first use

        return _reports.usage(self._scope(since, until, filters), _reports.parse_by(by))

    def costs(
        self,
        by: By = ("model",),
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        **filters: Any,
    ) -> UsageReport:
        """`usage` ordered by cost, most expensive first, with why some attempts are unpriced."""
        from oaitrace import _reports  # noqa: PLC0415

        return _reports.costs(self._scope(since, until, filters), _reports.parse_by(by))

    def errors(
        self,
        by: By = None,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        examples: int = 10,
        **filters: Any,
    ) -> ErrorReport:
        """Failed attempts by status, error code and type (by="day": over time), with examples."""
        from oaitrace import _reports  # noqa: PLC0415

        scope = self._scope(since, until, filters)
        return _reports.errors(scope, _reports.parse_by(by), examples=examples)

    def latency(
        self,
        by: By = ("model", "endpoint"),
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        **filters: Any,
    ) -> LatencyReport:
        """p50/p95/p99 of duration, `openai-processing-ms`, the network share and stream TTFT."""
        from oaitrace import _reports  # noqa: PLC0415

        return _reports.latency(self._scope(since, until, filters), _reports.parse_by(by))

    def ratelimits(
        self,
        by: By = ("model",),
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        bucket: str = "hour",
        **filters: Any,
    ) -> RateLimitReport:
        """Lowest remaining requests/tokens against the limit, latest resets, 429s over time."""
        from oaitrace import _reports  # noqa: PLC0415

        if bucket not in ("day", "hour"):
            msg = f"bucket must be 'day' or 'hour', not {bucket!r}"
            raise QueryError(msg)
        scope = self._scope(since, until, filters)
        return _reports.ratelimits(scope, _reports.parse_by(by), bucket=bucket)

    def retries(
        self,
        by: By = ("model",),
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        examples: int = 10,
        **filters: Any,
    ) -> RetryReport:
        """Logical calls that needed retries, their attempts and the extra time they took."""
        from oaitrace import _reports  # noqa: PLC0415

        scope = self._scope(since, until, filters)
        return _reports.retries(scope, _reports.parse_by(by), examples=examples)

    def slowest(
        self,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 20,
        **filters: Any,
    ) -> list[RequestRecord]:
        """The slowest attempts by total duration, slowest first."""
        _check_limit(limit)
        slowest_first = (_REQUESTS.c.duration_ms.desc(), _REQUESTS.c.id)
        # The ids first, from a covering index (a top-N sort of narrow rows),
        # then only those records in full: 2 to 3 times faster than sorting
        # whole rows.
        slowest_ids = (
            select(_REQUESTS.c.id)
            .where(*self._scope(since, until, filters).where())
            .order_by(*slowest_first)
            .limit(limit)
        )
        statement = (
            select(*_RECORD_COLUMNS).where(_REQUESTS.c.id.in_(slowest_ids)).order_by(*slowest_first)
        )
        return [_record_from_row(row) for row in self._fetch(statement)]

    def timeline(
        self,
        bucket: str = "hour",
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        **filters: Any,
    ) -> TimelineReport:
        """Requests, errors, error rate and 429s per UTC `bucket` ("day" or "hour"), oldest first.

        Example:
            >>> for row in q.timeline("hour", since=yesterday).rows:  # doctest: +SKIP
            ...     print(row.bucket, row.requests, f"{row.error_rate:.1%}")
        """
        from oaitrace import _overview_reports  # noqa: PLC0415

        if bucket not in _overview_reports.BUCKETS:
            msg = f"bucket must be 'day' or 'hour', not {bucket!r}"
            raise QueryError(msg)
        return _overview_reports.timeline(self._scope(since, until, filters), bucket)

    def tag_names(
        self,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        **filters: Any,
    ) -> list[TagName]:
        """The tag names in use (for `by="tag:<name>"`) with how many attempts carry each."""
        from oaitrace import _overview_reports  # noqa: PLC0415

        return _overview_reports.tag_names(self._scope(since, until, filters))

    def find(
        self,
        since: datetime.datetime | None = None,
        until: datetime.datetime | None = None,
        limit: int = 100,
        tag: str | Mapping[str, str] | None = None,
        **filters: Any,
    ) -> list[RequestRecord]:
        """Attempts by x-request-id, response id, tag, model, status, time range; newest first.

        `tag`: "name=value" or a mapping of tags that must all match.

        Example:
            >>> q.find(tag="user=u-42", status_code=429)  # doctest: +SKIP
        """
        _check_limit(limit)
        conditions = self._scope(since, until, filters).where()
        tags = RequestTagRow.__table__.c
        for name, value in _tag_pairs(tag):
            # A primary-key lookup in request_tags, not the JSON of every row.
            tagged = select(tags.request_pk).where(
                tags.request_pk == _REQUESTS.c.id, tags.key == name, tags.value == value
            )
            conditions.append(tagged.exists())
        statement = (
            select(*_RECORD_COLUMNS).where(*conditions).order_by(*_NEWEST_FIRST).limit(limit)
        )
        return [_record_from_row(row) for row in self._fetch(statement)]

    def _scope(
        self,
        since: datetime.datetime | None,
        until: datetime.datetime | None,
        filters: Mapping[str, Any],
    ) -> Any:
        from oaitrace._report_scope import Scope  # noqa: PLC0415

        return Scope(
            engine=self._engine,
            since=None if since is None else _as_utc("since", since),
            until=None if until is None else _as_utc("until", until),
            conditions=tuple(_filter_condition(name, value) for name, value in filters.items()),
            summaries=self._summary_tables(),
        )

    def _summary_tables(self) -> bool:
        """Whether the database has the hour summaries' tables (0006), asked once.

        A database not yet upgraded (its application still runs an older
        oaitrace) is read as before, without summaries.
        """
        if self._has_summary_tables is None:
            try:
                inspector = inspect(self._engine)
                self._has_summary_tables = all(
                    inspector.has_table(name) for name in ("request_hours", "hour_summaries")
                )
            except SQLAlchemyError:
                return False  # the report's own query says what is wrong
        return self._has_summary_tables

    def close(self) -> None:
        """Close the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Query:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _find(self, statement: Select[Any], key: str) -> Row[Any] | None:
        key = key.strip()
        if not key:
            return None
        columns = _REQUESTS.c
        # Several attempts can share an x-request-id only if a server reuses
        # them (mock servers do); the newest is the one people mean.
        exact = statement.where(or_(columns.request_id == key, columns.id == key))
        rows = self._fetch(exact.order_by(columns.started_at.desc()).limit(1))
        if rows:
            return rows[0]
        prefix = key.lower()
        if not _OWN_ID_PREFIX.fullmatch(prefix):
            return None
        # Ids are lower-case hex, so every id starting with the prefix sorts
        # between it and the prefix followed by "g": a primary-key range scan.
        by_prefix = statement.where(columns.id >= prefix, columns.id < prefix + "g")
        rows = self._fetch(by_prefix.order_by(columns.id).limit(2))
        if len(rows) > 1:
            msg = f"{key!r} is the start of more than one request id; give more characters"
            raise QueryError(msg)
        return rows[0] if rows else None

    def _fetch(self, statement: Select[Any]) -> list[Row[Any]]:
        return fetch_rows(self._engine, statement)
