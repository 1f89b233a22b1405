"""The typed rows the reports of `oaitrace.query` return: frozen dataclasses, nothing else.

A row's `group` maps each `by` key ("model", "day", "tag:user" ...) to its
value in that group; a value the records did not carry is None.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from decimal import Decimal

__all__ = [
    "ErrorCount",
    "ErrorExample",
    "ErrorReport",
    "LatencyReport",
    "LatencyRow",
    "Percentiles",
    "RateLimitBucket",
    "RateLimitReport",
    "RateLimitRow",
    "RetriedCall",
    "RetryGroup",
    "RetryReport",
    "UsageReport",
    "UsageRow",
]

GroupValue = str | int | None


@dataclasses.dataclass(frozen=True, slots=True)
class UsageRow:
    """Requests, tokens and cost of one group (or of everything, as a report's `total`).

    Attributes:
        group: the `by` keys and their values.
        requests: HTTP attempts, retries included.
        errors: attempts with status 400 or above, or no response.
        input_tokens: input tokens reported (cached ones included).
        cached_input_tokens: input tokens served from the prompt cache.
        output_tokens: output tokens reported (reasoning ones included).
        reasoning_tokens: output tokens spent on reasoning.
        total_tokens: total tokens reported.
        cost_usd: the sum of known costs, exact.
        unpriced_requests: successful attempts whose cost is unknown
            (see `cost_reason`); errors are never billed and not counted here.
    """

    group: Mapping[str, GroupValue]
    requests: int
    errors: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int
    cost_usd: Decimal
    unpriced_requests: int


@dataclasses.dataclass(frozen=True, slots=True)
class UsageReport:
    """`Query.usage` and `Query.costs`: one row per group and the total over all of them.

    Attributes:
        by: the grouping keys, in order.
        rows: one row per group; by group for `usage`, most expensive first for `costs`.
        total: the sum over every row (its `group` is empty).
        unpriced_reasons: for `costs`, why successful attempts have no cost
            ("unknown_model" -> 12 ...); empty for `usage`.
    """

    by: tuple[str, ...]
    rows: list[UsageRow]
    total: UsageRow
    unpriced_reasons: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorCount:
    """How many failed attempts had one status, error code and type (in one group/bucket)."""

    group: Mapping[str, GroupValue]
    status_code: int | None
    error_code: str | None
    error_type: str | None
    count: int


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorExample:
    """One recent failed attempt, with the ids OpenAI support asks for."""

    id: str
    started_at: datetime.datetime
    request_id: str | None
    model: str | None
    endpoint: str
    status_code: int | None
    error_code: str | None
    error_type: str | None
    error_message: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorReport:
    """`Query.errors`: counts by status, code and type; the latest examples.

    Attributes:
        by: the grouping keys (such as ("day",) for errors over time).
        requests: attempts in the period.
        errors: failed attempts (status 400 or above, or no response).
        rows: counts, largest first.
        examples: the newest failed attempts, newest first.
    """

    by: tuple[str, ...]
    requests: int
    errors: int
    rows: list[ErrorCount]
    examples: list[ErrorExample]


@dataclasses.dataclass(frozen=True, slots=True)
class Percentiles:
    """Nearest-rank percentiles of one measure, in milliseconds; None without values."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class LatencyRow:
    """Latency of the successful attempts of one group.

    Attributes:
        duration: from sending the request to the end of the response.
        processing: the server's own time, `openai-processing-ms`.
        network: duration minus processing: network, queueing and streaming
            time outside the server's count (attempts with both values).
        ttft: time to the first content chunk, streams only.
    """

    group: Mapping[str, GroupValue]
    requests: int
    duration: Percentiles
    processing: Percentiles
    network: Percentiles
    ttft: Percentiles


@dataclasses.dataclass(frozen=True, slots=True)
class LatencyReport:
    """`Query.latency`: percentiles per group and over everything."""

    by: tuple[str, ...]
    rows: list[LatencyRow]
    total: LatencyRow


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimitRow:
    """How close one group came to its rate limits.

    Attributes:
        requests: attempts that reported rate-limit headers.
        limit_requests / limit_tokens: the largest limit reported.
        min_remaining_requests / min_remaining_tokens: the lowest remaining.
        requests_headroom / tokens_headroom: lowest remaining / limit, from 0
            (ran out) to 1 (untouched); None without headers.
        reset_requests_s / reset_tokens_s: the latest reported reset times.
        rate_limited: attempts answered 429.
        max_retry_after_s: the longest retry-after the server asked for.
    """

    group: Mapping[str, GroupValue]
    requests: int
    limit_requests: int | None
    min_remaining_requests: int | None
    requests_headroom: float | None
    limit_tokens: int | None
    min_remaining_tokens: int | None
    tokens_headroom: float | None
    reset_requests_s: float | None
    reset_tokens_s: float | None
    rate_limited: int
    max_retry_after_s: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimitBucket:
    """429 answers in one time bucket, and the retry-after they asked for."""

    bucket: str
    rate_limited: int
    max_retry_after_s: float | None
    mean_retry_after_s: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class RateLimitReport:
    """`Query.ratelimits`: headroom per group; 429s over time."""

    by: tuple[str, ...]
    rows: list[RateLimitRow]
    over_time: list[RateLimitBucket]


@dataclasses.dataclass(frozen=True, slots=True)
class RetriedCall:
    """One logical call that needed more than one attempt.

    Attributes:
        started_at: when its first attempt was sent.
        method / endpoint / model / api_key_fingerprint: what was called.
        attempts: attempts made (2 or more).
        final_status: the status of the last attempt (None: no response).
        extra_ms: time spent before the last attempt started (failed
            attempts and the waits between them).
        request_ids: the x-request-id of each attempt, in order.
    """

    started_at: datetime.datetime
    method: str
    endpoint: str
    model: str | None
    api_key_fingerprint: str | None
    attempts: int
    final_status: int | None
    extra_ms: float
    request_ids: tuple[str | None, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RetryGroup:
    """Retried calls of one group (such as one model)."""

    group: Mapping[str, GroupValue]
    calls: int
    attempts: int
    succeeded: int
    extra_ms: float


@dataclasses.dataclass(frozen=True, slots=True)
class RetryReport:
    """`Query.retries`: calls that were retried, how many attempts, how much time it cost.

    Attributes:
        calls: retried calls.
        attempts: attempts those calls made in all.
        succeeded: retried calls whose last attempt succeeded.
        extra_ms: time spent on retries in all.
        rows: by group (`by` keys), most retried first; the same fields as the totals.
        examples: the slowest retried calls, most extra time first.
    """

    by: tuple[str, ...]
    calls: int
    attempts: int
    succeeded: int
    extra_ms: float
    rows: list[RetryGroup]
    examples: list[RetriedCall]
