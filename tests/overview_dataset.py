"""A small hand-built dataset for the overview reports and the HTML report.

Two days, three hours with traffic, three models, two endpoints, a stream,
rate-limit headers, a 429, a 500, a request with no response and two tag
names: every chart of the HTML report has something to show.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from oaitrace._exchange import Record
from oaitrace.storage import Store
from tests.factories import make_record

__all__ = ["DAY1", "DAY2", "DAY3", "RECORDS", "store_records"]

UTC = datetime.timezone.utc
DAY1 = datetime.datetime(2025, 3, 10, tzinfo=UTC)
DAY2 = DAY1 + datetime.timedelta(days=1)
DAY3 = DAY1 + datetime.timedelta(days=2)


def _at(day: datetime.datetime, hour: int, minute: int = 0) -> datetime.datetime:
    return day + datetime.timedelta(hours=hour, minutes=minute)


def _record(name: str, started_at: datetime.datetime, **fields: Any) -> Record:
    """A successful chat record named `name` (its x-request-id is req_<name>)."""
    values: dict[str, Any] = {"request_id": f"req_{name}", **fields}
    return make_record(started_at=started_at, **values)


def _failed(name: str, started_at: datetime.datetime, **fields: Any) -> Record:
    values: dict[str, Any] = {
        "input_tokens": None,
        "output_tokens": None,
        "total_tokens": None,
        "cached_input_tokens": None,
        "reasoning_tokens": None,
        "cost_usd": None,
        "cost_reason": "error_response",
        "finish_reasons": None,
        **fields,
    }
    return _record(name, started_at, **values)


RECORDS: tuple[Record, ...] = (
    _record(
        "mini-1",
        _at(DAY1, 9, 5),
        input_tokens=1000,
        cached_input_tokens=200,
        output_tokens=100,
        total_tokens=1100,
        cost_usd=Decimal("0.000210000000"),
        duration_ms=300.0,
        processing_ms=250.0,
        tags={"user": "alice", "feature": "search"},
        ratelimit_remaining_requests=9000,
        ratelimit_remaining_tokens=150_000,
    ),
    _record(
        "mini-2",
        _at(DAY1, 9, 40),
        stream=True,
        ttft_ms=120.0,
        input_tokens=500,
        cached_input_tokens=0,
        output_tokens=300,
        reasoning_tokens=0,
        total_tokens=800,
        cost_usd=Decimal("0.000255000001"),
        duration_ms=900.0,
        processing_ms=None,
        tags={"user": "bob", "feature": "search"},
        ratelimit_remaining_requests=8000,
        ratelimit_remaining_tokens=120_000,
    ),
    _record(
        "4o-1",
        _at(DAY1, 9, 50),
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        input_tokens=2000,
        cached_input_tokens=1000,
        output_tokens=400,
        reasoning_tokens=0,
        total_tokens=2400,
        cost_usd=Decimal("0.007250000000"),
        duration_ms=1500.0,
        processing_ms=1400.0,
        tags={"user": "alice", "feature": "answer"},
        ratelimit_limit_requests=500,
        ratelimit_remaining_requests=10,
        ratelimit_limit_tokens=30_000,
        ratelimit_remaining_tokens=2_000,
    ),
    _failed(
        "4o-429",
        _at(DAY1, 9, 51),
        request_model="gpt-4o",
        response_model=None,
        status_code=429,
        error_code="rate_limit_exceeded",
        error_type="requests",
        error_message="Rate limit reached for gpt-4o",
        retry_after_s=2.0,
        duration_ms=40.0,
        processing_ms=None,
        tags={"user": "alice", "feature": "answer"},
        ratelimit_limit_requests=500,
        ratelimit_remaining_requests=0,
        ratelimit_limit_tokens=30_000,
        ratelimit_remaining_tokens=500,
    ),
    _record(
        "o4-1",
        _at(DAY1, 14, 10),
        request_model="o4-mini",
        response_model="o4-mini-2025-04-16",
        endpoint="/v1/responses",
        path="/v1/responses",
        url="https://api.openai.com/v1/responses",
        input_tokens=800,
        cached_input_tokens=0,
        output_tokens=1200,
        reasoning_tokens=900,
        total_tokens=2000,
        cost_usd=Decimal("0.006160000000"),
        duration_ms=4200.0,
        processing_ms=4100.0,
        tags={"user": "carol", "feature": "plan"},
        ratelimit_remaining_requests=7000,
        ratelimit_remaining_tokens=100_000,
    ),
    _failed(
        "mini-500",
        _at(DAY2, 8, 30),
        status_code=500,
        error_code="server_error",
        error_type="server_error",
        error_message="The server had an error while processing your request.",
        duration_ms=700.0,
        processing_ms=650.0,
        tags={"user": "bob"},
        ratelimit_remaining_requests=None,
        ratelimit_remaining_tokens=None,
    ),
    _failed(
        "mini-timeout",
        _at(DAY2, 8, 45),
        status_code=None,
        complete=False,
        request_id=None,
        error_type="ReadTimeout",
        error_message="timed out",
        cost_reason="no_response",
        duration_ms=10_000.0,
        processing_ms=None,
        tags={},
        ratelimit_limit_requests=None,
        ratelimit_remaining_requests=None,
        ratelimit_reset_requests_s=None,
        ratelimit_limit_tokens=None,
        ratelimit_remaining_tokens=None,
        ratelimit_reset_tokens_s=None,
    ),
    _record(
        "mini-3",
        _at(DAY2, 8, 50),
        stream=True,
        ttft_ms=80.0,
        input_tokens=300,
        cached_input_tokens=100,
        output_tokens=50,
        reasoning_tokens=0,
        total_tokens=350,
        cost_usd=Decimal("0.000067500000"),
        duration_ms=450.0,
        processing_ms=None,
        tags={"user": "alice", "feature": "search"},
        ratelimit_remaining_requests=9500,
        ratelimit_remaining_tokens=180_000,
    ),
)


def store_records(database_url: str) -> None:
    """Write RECORDS into a new database at `database_url`."""
    with Store(database_url) as store:
        store.insert(list(RECORDS))
