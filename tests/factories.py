"""Test data builders shared by the test suite."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from oaitrace._exchange import Exchange, Record
from oaitrace._ids import new_record_id

__all__ = ["CollectingSink", "make_record"]

STARTED_AT = datetime.datetime(2025, 1, 15, 12, 30, 45, 123456, tzinfo=datetime.timezone.utc)


def make_record(**overrides: Any) -> Record:
    """A complete, valid `Record` of a non-streamed chat completion; override any field.

    Every call gets a fresh unique `id` unless one is given.

    Example:
        >>> make_record(status_code=429, cost_usd=None).status_code
        429
    """
    started_at = overrides.get("started_at", STARTED_AT)
    fields: dict[str, Any] = {
        "id": new_record_id(int(started_at.timestamp() * 1_000_000_000)),
        "started_at": started_at,
        "method": "POST",
        "url": "https://api.openai.com/v1/chat/completions",
        "host": "api.openai.com",
        "path": "/v1/chat/completions",
        "endpoint": "/v1/chat/completions",
        "operation": "chat",
        "stream": False,
        "status_code": 200,
        "complete": True,
        "request_model": "gpt-4o-mini",
        "response_model": "gpt-4o-mini-2024-07-18",
        "response_id": "chatcmpl-AbC123",
        "request_id": "req_0123456789abcdef0123456789abcdef",
        "processing_ms": 412.0,
        "openai_version": "2020-10-01",
        "organization": "org-test",
        "project": "proj_test",
        "ratelimit_limit_requests": 10_000,
        "ratelimit_remaining_requests": 9_999,
        "ratelimit_reset_requests_s": 0.006,
        "ratelimit_limit_tokens": 200_000,
        "ratelimit_remaining_tokens": 199_950,
        "ratelimit_reset_tokens_s": 0.015,
        "input_tokens": 12,
        "output_tokens": 7,
        "total_tokens": 19,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "duration_ms": 431.25,
        "ttfb_ms": 420.5,
        "ttft_ms": None,
        "finish_reasons": ("stop",),
        "error_type": None,
        "error_code": None,
        "error_message": None,
        "retry_attempt": 0,
        "cost_usd": Decimal("0.0000060000"),
        "tags": {"user": "u-42", "feature": "search"},
        "usage_details": {"prompt_tokens_details.audio_tokens": 0},
        "retry_after_s": None,
        "api_key_fingerprint": "sk-...a1b2",
        "response_content_type": "application/json",
        "request_bytes": 88,
        "response_bytes": 640,
        "parse_error": None,
        "request_headers": {"content-type": "application/json", "authorization": "[REDACTED]"},
        "response_headers": {"content-type": "application/json", "x-request-id": "req_0123"},
        "request_body": '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}',
        "response_body": '{"id":"chatcmpl-AbC123","object":"chat.completion"}',
        "response_truncated": False,
        "extra": {},
        "service_tier": None,
        "cost_reason": None,
        "price_source": None,
        "price_model": None,
        "price_provider": None,
        "call_id": None,
    }
    unknown = set(overrides) - set(fields)
    if unknown:
        msg = f"Record has no fields {sorted(unknown)}"
        raise TypeError(msg)
    fields.update(overrides)
    return Record(**fields)


@dataclass
class CollectingSink:
    """Stands in for a Recorder: keeps what the transport emits."""

    capture_limit: int = 1 << 20
    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def emit(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)

    def report_internal_error(self, error: BaseException) -> None:
        self.errors.append(error)
