"""The reports of `oaitrace.query` over a small hand-built dataset with known answers.

Every test runs on SQLite and, when a PostgreSQL server can be started, on
PostgreSQL with the same expected values: the reports must agree exactly.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from oaitrace._exchange import Record
from oaitrace._reports import nearest_rank
from oaitrace.exceptions import QueryError
from oaitrace.query import (
    ErrorCount,
    Percentiles,
    Query,
    RateLimitBucket,
    RateLimitRow,
    RetryGroup,
    UsageRow,
)
from oaitrace.storage import Store
from tests.factories import make_record

UTC = datetime.timezone.utc
DAY1 = datetime.datetime(2025, 1, 15, tzinfo=UTC)
DAY2 = datetime.datetime(2025, 1, 16, tzinfo=UTC)

_NONE_FIELDS = dict.fromkeys(
    (
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "processing_ms",
        "ratelimit_limit_requests",
        "ratelimit_remaining_requests",
        "ratelimit_reset_requests_s",
        "ratelimit_limit_tokens",
        "ratelimit_remaining_tokens",
        "ratelimit_reset_tokens_s",
        "cost_usd",
        "ttft_ms",
    )
)


def rec(name: str, started_at: datetime.datetime, **fields: Any) -> Record:
    """A record whose optional numbers are None unless given; `name` becomes its x-request-id."""
    values: dict[str, Any] = {**_NONE_FIELDS, "request_id": f"req_{name}", **fields}
    values["started_at"] = started_at
    return make_record(**values)


A = rec(
    "a",
    DAY1 + datetime.timedelta(hours=10),
    request_model="gpt-4o-mini",
    input_tokens=100,
    cached_input_tokens=40,
    output_tokens=20,
    reasoning_tokens=0,
    total_tokens=120,
    cost_usd=Decimal("0.000100000000"),
    duration_ms=100.0,
    processing_ms=80.0,
    tags={"user": "alice"},
    api_key_fingerprint="k1",
    ratelimit_limit_requests=100,
    ratelimit_remaining_requests=90,
    ratelimit_reset_requests_s=1.0,
    ratelimit_limit_tokens=1000,
    ratelimit_remaining_tokens=500,
    ratelimit_reset_tokens_s=2.0,
)
B = rec(
    "b",
    DAY1 + datetime.timedelta(hours=11),
    request_model="gpt-4o-mini",
    stream=True,
    input_tokens=200,
    cached_input_tokens=0,
    output_tokens=50,
    reasoning_tokens=10,
    total_tokens=250,
    cost_usd=Decimal("0.000200000001"),
    duration_ms=200.0,
    processing_ms=150.0,
    ttft_ms=50.0,
    tags={"user": "bob"},
    api_key_fingerprint="k2",
    ratelimit_limit_requests=100,
    ratelimit_remaining_requests=10,
    ratelimit_reset_requests_s=3.0,
    ratelimit_limit_tokens=1000,
    ratelimit_remaining_tokens=900,
    ratelimit_reset_tokens_s=4.0,
)
C = rec(
    "c",
    DAY1 + datetime.timedelta(hours=12),
    request_model="gpt-4o",
    status_code=429,
    error_code="rate_limit_exceeded",
    error_type="requests",
    error_message="Rate limit reached",
    retry_attempt=0,
    retry_after_s=2.0,
    duration_ms=10.0,
    cost_reason="error_response",
    tags={"user": "alice"},
    api_key_fingerprint="k1",
    ratelimit_limit_requests=50,
    ratelimit_remaining_requests=0,
    ratelimit_limit_tokens=1000,
    ratelimit_remaining_tokens=100,
)
D = rec(
    "d",
    DAY1 + datetime.timedelta(hours=12, seconds=3),
    request_model="gpt-4o",
    retry_attempt=1,
    input_tokens=1000,
    cached_input_tokens=0,
    output_tokens=100,
    reasoning_tokens=0,
    total_tokens=1100,
    cost_usd=Decimal("0.005000000000"),
    duration_ms=300.0,
    processing_ms=250.0,
    tags={"user": "alice"},
    api_key_fingerprint="k1",
    ratelimit_limit_requests=50,
    ratelimit_remaining_requests=5,
    ratelimit_reset_requests_s=5.0,
    ratelimit_limit_tokens=1000,
    ratelimit_remaining_tokens=800,
    ratelimit_reset_tokens_s=6.0,
)
E = rec(
    "e",
    DAY2 + datetime.timedelta(hours=9),
    request_model="gpt-4o-mini",
    status_code=500,
    error_code="server_error",
    error_type="server_error",
    duration_ms=1000.0,
    processing_ms=990.0,
    cost_reason="error_response",
    tags={"user": "bob"},
)
F = rec(
    "f",
    DAY2 + datetime.timedelta(hours=10),
    request_model="llama-3.1-70b",
    response_model="llama-3.1-70b",
    host="localhost:8000",
    input_tokens=10,
    output_tokens=5,
    total_tokens=15,
    duration_ms=400.0,
    cost_reason="unknown_model",
    tags={"user": "carol"},
)
G = rec(
    "g",
    DAY2 + datetime.timedelta(hours=11),
    request_model="gpt-4o-mini",
    status_code=None,
    complete=False,
    error_type="ReadTimeout",
    error_message="timed out",
    duration_ms=5000.0,
    cost_reason="no_response",
    tags={},
)
RECORDS = (A, B, C, D, E, F, G)


@pytest.fixture
def query(database_url: str) -> Iterator[Query]:
    with Store(database_url) as store:
        store.insert(list(RECORDS))
    with Query(database_url) as opened:
        yield opened


def ids(records: list[Any]) -> list[str | None]:
    return [record.request_id for record in records]


class TestUsage:
    def test_by_model(self, query: Query) -> None:
        """Requests, errors, token split, exact cost and unpriced count per model, with a total."""
        expected = (
            [
                UsageRow({"model": "gpt-4o"}, 2, 1, 1000, 0, 100, 0, 1100, Decimal("0.005"), 0),
                UsageRow(
                    {"model": "gpt-4o-mini"},
                    4,
                    2,
                    300,
                    40,
                    70,
                    10,
                    370,
                    Decimal("0.0003000000010"),
                    0,
                ),
                UsageRow({"model": "llama-3.1-70b"}, 1, 0, 10, 0, 5, 0, 15, Decimal(0), 1),
            ],
            UsageRow({}, 7, 3, 1310, 40, 175, 10, 1485, Decimal("0.005300000001"), 1),
        )

        report = query.usage(by="model")

        assert expected == (report.rows, report.total)

    def test_by_day_and_tag(self, query: Query) -> None:
        """Day buckets are UTC dates; tag:<name> groups by a tag, None where it is missing."""
        expected = [
            ({"day": "2025-01-15", "tag:user": "alice"}, 3, Decimal("0.0051")),
            ({"day": "2025-01-15", "tag:user": "bob"}, 1, Decimal("0.000200000001")),
            ({"day": "2025-01-16", "tag:user": "bob"}, 1, Decimal(0)),
            ({"day": "2025-01-16", "tag:user": "carol"}, 1, Decimal(0)),
            ({"day": "2025-01-16", "tag:user": None}, 1, Decimal(0)),
        ]

        report = query.usage(by=["day", "tag:user"])

        assert expected == [(row.group, row.requests, row.cost_usd) for row in report.rows]

    def test_since_and_until(self, query: Query) -> None:
        """since is inclusive and until exclusive."""
        expected = (3, 4)

        actual = (
            query.usage(by=None, since=DAY2).total.requests,
            query.usage(by=None, until=DAY2).total.requests,
        )

        assert expected == actual

    def test_hour_bucket(self, query: Query) -> None:
        """Hour buckets read "YYYY-MM-DD HH:00" in UTC."""
        expected = ["2025-01-15 10:00", "2025-01-15 11:00", "2025-01-15 12:00"]

        report = query.usage(by="hour", until=DAY2)

        assert expected == [row.group["hour"] for row in report.rows]

    def test_by_model_and_day(self, query: Query, database_url: str) -> None:
        """Model and day groups: only those with attempts; an attempt without a model is None."""
        no_model = rec(
            "n", DAY2 + datetime.timedelta(hours=1), request_model=None, response_model=None
        )
        with Store(database_url) as store:
            store.insert([no_model])
        expected = [
            ({"model": "gpt-4o", "day": "2025-01-15"}, 2, Decimal("0.005000000000")),
            ({"model": "gpt-4o-mini", "day": "2025-01-15"}, 2, Decimal("0.000300000001")),
            ({"model": "gpt-4o-mini", "day": "2025-01-16"}, 2, Decimal(0)),
            ({"model": "llama-3.1-70b", "day": "2025-01-16"}, 1, Decimal(0)),
            ({"model": None, "day": "2025-01-16"}, 1, Decimal(0)),
        ]

        report = query.usage(by="model,day")

        assert expected == [(row.group, row.requests, row.cost_usd) for row in report.rows]

    def test_period_cut_inside_days(self, query: Query) -> None:
        """Day groups of a period that starts and ends inside a day hold only its attempts."""
        expected = [
            ({"model": "gpt-4o", "day": "2025-01-15"}, 2),
            ({"model": "gpt-4o-mini", "day": "2025-01-15"}, 1),
            ({"model": "gpt-4o-mini", "day": "2025-01-16"}, 1),
        ]

        report = query.usage(
            by="model,day",
            since=DAY1 + datetime.timedelta(hours=10, minutes=30),
            until=DAY2 + datetime.timedelta(hours=10),
        )

        assert expected == [(row.group, row.requests) for row in report.rows]

    def test_bucket_edges(self, database_url: str) -> None:
        """An attempt at midnight is in the new day, one a microsecond before in the old."""
        before = rec("x", DAY2 - datetime.timedelta(microseconds=1), request_model="m")
        at = rec("y", DAY2, request_model="m")
        with Store(database_url) as store:
            store.insert([before, at])
        expected = [("2025-01-15", "m", 1), ("2025-01-16", "m", 1)]

        with Query(database_url) as query:
            report = query.usage(by="day,model")

        assert expected == [
            (row.group["day"], row.group["model"], row.requests) for row in report.rows
        ]

    def test_hours_over_years(self, database_url: str) -> None:
        """Hourly groups over years (too many hours to list) come out the same."""
        early = rec("x", DAY1, request_model="m")
        late = rec("y", DAY1 + datetime.timedelta(days=800, minutes=30), request_model="m")
        with Store(database_url) as store:
            store.insert([early, late])
        expected = ["2025-01-15 00:00", "2027-03-26 00:00"]

        with Query(database_url) as query:
            report = query.usage(by="hour,model")

        assert expected == [row.group["hour"] for row in report.rows]

    def test_by_endpoint_adds_up_hours(self, database_url: str) -> None:
        """By endpoint (SQLite sums each hour apart), over hours and over years, the same sums."""
        first = rec("x", DAY1, endpoint="/a", input_tokens=1, cost_usd=Decimal("0.1"))
        unpriced = rec("y", DAY1 + datetime.timedelta(hours=1, minutes=59), endpoint="/a")
        later = rec("z", DAY1 + datetime.timedelta(hours=5), endpoint="/b", input_tokens=4)
        years_later = rec("w", DAY1 + datetime.timedelta(days=800), endpoint="/b")
        with Store(database_url) as store:
            store.insert([first, unpriced, later, years_later])
        within_a_day = [("/a", 2, 1, Decimal("0.1")), ("/b", 1, 4, Decimal(0))]
        over_years = [("/a", 2, 1, Decimal("0.1")), ("/b", 2, 4, Decimal(0))]

        with Query(database_url) as query:
            reports = [query.usage(by="endpoint", until=DAY2), query.usage(by="endpoint")]

        assert [within_a_day, over_years] == [
            [(r.group["endpoint"], r.requests, r.input_tokens, r.cost_usd) for r in report.rows]
            for report in reports
        ]

    def test_empty_period(self, query: Query) -> None:
        """A period without records gives no rows and a zero total."""
        report = query.usage(by=None, since=DAY2 + datetime.timedelta(days=30))

        assert ([], 0, Decimal(0)) == (report.rows, report.total.requests, report.total.cost_usd)

    def test_unknown_grouping(self, query: Query) -> None:
        """An unknown `by` key is a QueryError that lists the valid keys."""
        with pytest.raises(QueryError, match=r"group by any of: model, .*tag:<name>"):
            query.usage(by="model,colour")


class TestCosts:
    def test_most_expensive_first_with_reasons(self, query: Query) -> None:
        """Groups by cost, largest first; why successful requests have no price."""
        expected = (
            ["gpt-4o", "gpt-4o-mini", "llama-3.1-70b"],
            {"unknown_model": 1},
            Decimal("0.005300000001"),
        )

        report = query.costs(by="model")

        actual = (
            [row.group["model"] for row in report.rows],
            dict(report.unpriced_reasons),
            report.total.cost_usd,
        )
        assert expected == actual


class TestErrors:
    def test_counts_and_examples(self, query: Query) -> None:
        """Failed attempts (status >= 400 or none) by status/code/type; newest examples first."""
        expected = (
            7,
            3,
            [
                ErrorCount({}, None, None, "ReadTimeout", 1),
                ErrorCount({}, 429, "rate_limit_exceeded", "requests", 1),
                ErrorCount({}, 500, "server_error", "server_error", 1),
            ],
            ["req_g", "req_e", "req_c"],
        )

        report = query.errors()

        actual = (
            report.requests,
            report.errors,
            report.rows,
            [example.request_id for example in report.examples],
        )
        assert expected == actual

    def test_over_time(self, query: Query) -> None:
        """Grouping by day counts errors per day."""
        expected = [("2025-01-15", 429), ("2025-01-16", None), ("2025-01-16", 500)]

        report = query.errors(by="day", examples=0)

        assert expected == [(row.group["day"], row.status_code) for row in report.rows]


class TestLatency:
    def test_percentiles_per_model(self, query: Query) -> None:
        """Nearest-rank p50/p95/p99 of successful attempts; network = duration - processing."""
        report = query.latency(by="model")

        mini = next(row for row in report.rows if row.group["model"] == "gpt-4o-mini")
        expected = (
            2,
            Percentiles(2, 100.0, 200.0, 200.0),
            Percentiles(2, 80.0, 150.0, 150.0),
            Percentiles(2, 20.0, 50.0, 50.0),
            Percentiles(1, 50.0, 50.0, 50.0),
        )
        assert expected == (mini.requests, mini.duration, mini.processing, mini.network, mini.ttft)

    def test_total_and_missing_processing(self, query: Query) -> None:
        """The total covers every successful attempt; without processing-ms it is None."""
        report = query.latency(by="model")

        llama = next(row for row in report.rows if row.group["model"] == "llama-3.1-70b")
        expected = (Percentiles(4, 200.0, 400.0, 400.0), Percentiles(0, None, None, None))
        assert expected == (report.total.duration, llama.processing)

    def test_total_is_of_all_values_together(self, database_url: str) -> None:
        """The total's percentiles are those of every group's values pooled: ties, negatives too."""
        rng = random.Random(5)  # noqa: S311 - test data, not secrets
        records = []
        for index in range(120):
            processing = rng.choice((None, 10.0, 50.0, rng.uniform(0, 900)))
            records.append(
                rec(
                    f"r{index}",
                    DAY1 + datetime.timedelta(seconds=index),
                    request_model=rng.choice(("a", "b", "c", "d")),
                    duration_ms=rng.choice((40.0, 100.0, rng.uniform(1, 1000))),
                    processing_ms=processing,
                    ttft_ms=rng.choice((None, 25.0, rng.uniform(1, 500))),
                )
            )
        with Store(database_url) as store:
            store.insert(records)

        def pooled(values: list[float]) -> Percentiles:
            values.sort()
            p50, p95, p99 = (nearest_rank(values, fraction) for fraction in (0.5, 0.95, 0.99))
            return Percentiles(len(values), p50, p95, p99)

        with_processing = [r for r in records if r.processing_ms is not None]
        expected = (
            pooled([r.duration_ms for r in records]),
            pooled([r.processing_ms for r in with_processing if r.processing_ms is not None]),
            # Negative where the server took longer than the exchange (clock skew).
            pooled([r.duration_ms - (r.processing_ms or 0.0) for r in with_processing]),
            pooled([r.ttft_ms for r in records if r.ttft_ms is not None]),
        )
        with Query(database_url) as query:
            total = query.latency(by="model").total

        assert expected == (total.duration, total.processing, total.network, total.ttft)

    def test_nearest_rank(self) -> None:
        """Nearest rank picks an observed value: ceil(p * n)-th smallest."""
        values = [float(value) for value in range(1, 101)]

        expected = (50.0, 95.0, 99.0, 1.0, None)

        actual = (
            nearest_rank(values, 0.5),
            nearest_rank(values, 0.95),
            nearest_rank(values, 0.99),
            nearest_rank([1.0], 0.99),
            nearest_rank([], 0.5),
        )
        assert expected == actual


class TestRateLimits:
    def test_headroom_per_model(self, query: Query) -> None:
        """Lowest remaining against the limit, latest resets, 429s; closest to the limit first."""
        expected = [
            RateLimitRow({"model": "gpt-4o"}, 2, 50, 0, 0.0, 1000, 100, 0.1, 5.0, 6.0, 1, 2.0),
            RateLimitRow(
                {"model": "gpt-4o-mini"}, 2, 100, 10, 0.1, 1000, 500, 0.5, 3.0, 4.0, 0, None
            ),
        ]

        report = query.ratelimits(by="model")

        assert expected == report.rows

    def test_429_over_time(self, query: Query) -> None:
        """429 answers per hour with the retry-after they asked for."""
        expected = [RateLimitBucket("2025-01-15 12:00", 1, 2.0, 2.0)]

        assert expected == query.ratelimits(by="model").over_time

    def test_by_day_and_model(self, database_url: str) -> None:
        """By day and model (SQLite reads each day apart): the same rows, doubles exact."""
        retry_after = 0.1 + 0.2  # 0.30000000000000004: 15 significant digits do not hold it
        limited = rec(
            "x",
            DAY1 + datetime.timedelta(hours=1),
            request_model="m",
            status_code=429,
            retry_after_s=retry_after,
        )
        newest = rec(
            "y",
            DAY1 + datetime.timedelta(hours=2),
            request_model="m",
            ratelimit_limit_requests=10,
            ratelimit_remaining_requests=3,
            ratelimit_reset_requests_s=1.5,
        )
        other_day = rec("z", DAY2, request_model="m", ratelimit_remaining_tokens=7)
        no_model = rec(
            "w", DAY2, request_model=None, response_model=None, ratelimit_remaining_tokens=9
        )
        with Store(database_url) as store:
            store.insert([limited, newest, other_day, no_model])
        tokens_only = RateLimitRow(
            {"day": "2025-01-16", "model": "m"},
            1,
            None,
            None,
            None,
            None,
            7,
            None,
            None,
            None,
            0,
            None,
        )
        expected = [
            RateLimitRow(
                {"day": "2025-01-15", "model": "m"},
                1,
                10,
                3,
                0.3,
                None,
                None,
                None,
                1.5,
                None,
                1,
                retry_after,
            ),
            tokens_only,
            dataclasses.replace(
                tokens_only, group={"day": "2025-01-16", "model": None}, min_remaining_tokens=9
            ),
        ]

        with Query(database_url) as query:
            report = query.ratelimits(by="day,model", bucket="day")

        assert expected == report.rows


class TestRetries:
    def test_retried_call(self, query: Query) -> None:
        """A 429 and its retry 3 s later are one call of two attempts that succeeded."""
        report = query.retries(by="model")

        expected = (
            1,
            2,
            1,
            3000.0,
            [RetryGroup({"model": "gpt-4o"}, 1, 2, 1, 3000.0)],
            ("req_c", "req_d"),
        )
        actual = (
            report.calls,
            report.attempts,
            report.succeeded,
            report.extra_ms,
            report.rows,
            report.examples[0].request_ids,
        )
        assert expected == actual

    def test_retry_outside_window(self, database_url: str) -> None:
        """A retry long after the failed attempt is not joined to it."""
        first = rec("x", DAY1, request_model="m", status_code=500, retry_attempt=0)
        late = rec("y", DAY1 + datetime.timedelta(hours=2), request_model="m", retry_attempt=1)
        with Store(database_url) as store:
            store.insert([first, late])
        with Query(database_url) as query:
            report = query.retries()

        assert (0, []) == (report.calls, report.examples)

    def test_call_id_links_attempts_beyond_the_window(self, database_url: str) -> None:
        """Attempts recorded with a call_id are one call whatever the time between them."""
        first = rec("x", DAY1, request_model="m", status_code=500, retry_attempt=0)
        first = dataclasses.replace(first, call_id=first.id)
        late = rec(
            "y",
            DAY1 + datetime.timedelta(hours=2),
            request_model="m",
            retry_attempt=1,
            call_id=first.id,
        )
        with Store(database_url) as store:
            store.insert([first, late])
        with Query(database_url) as query:
            report = query.retries()

        expected = (1, 2, ("req_x", "req_y"), 7_200_000.0)
        actual = (
            report.calls,
            report.attempts,
            report.examples[0].request_ids,
            report.examples[0].extra_ms,
        )
        assert expected == actual

    def test_first_attempt_in_the_last_half_millisecond_of_a_second(
        self, database_url: str
    ) -> None:
        """Start times keep every microsecond: .9996 s is not rounded up to the next second."""
        started = DAY1 + datetime.timedelta(seconds=5, microseconds=999_600)
        first = rec("x", started, request_model="m", status_code=500, retry_attempt=0)
        retry = rec(
            "y",
            started + datetime.timedelta(microseconds=500_400),
            request_model="m",
            retry_attempt=1,
        )
        with Store(database_url) as store:
            store.insert([first, retry])
        with Query(database_url) as query:
            report = query.retries()

        expected = (1, 500.4, started)
        actual = (report.calls, report.extra_ms, report.examples[0].started_at)
        assert expected == actual


class TestSlowestAndFind:
    def test_slowest(self, query: Query) -> None:
        """The slowest attempts, slowest first."""
        assert ["req_g", "req_e"] == ids(query.slowest(limit=2))

    def test_find_by_tag_status_and_time(self, query: Query) -> None:
        """find() filters by tag, status, request id and time range, newest first."""
        expected = (["req_f"], ["req_c"], ["req_d"], ["req_g", "req_f", "req_e"])

        actual = (
            ids(query.find(tag="user=carol")),
            ids(query.find(status_code=429)),
            ids(query.find(request_id="req_d")),
            ids(query.find(since=DAY2)),
        )
        assert expected == actual

    def test_find_bad_tag(self, query: Query) -> None:
        """A tag filter must be name=value."""
        with pytest.raises(QueryError, match="name=value"):
            query.find(tag="carol")
