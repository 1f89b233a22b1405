"""Tests for oaitrace.query: reading back what the storage wrote."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from oaitrace._exchange import Record
from oaitrace.exceptions import DatabaseError, QueryError
from oaitrace.query import Query, RequestDetail, RequestRecord
from oaitrace.storage import Store
from tests.factories import make_record

UTC = datetime.timezone.utc
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))
T0 = datetime.datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)

CONTRACT_FIELDS = [
    "id",
    "started_at",
    "method",
    "url",
    "host",
    "path",
    "endpoint",
    "operation",
    "stream",
    "status_code",
    "complete",
    "request_model",
    "response_model",
    "response_id",
    "request_id",
    "processing_ms",
    "openai_version",
    "organization",
    "project",
    "ratelimit_limit_requests",
    "ratelimit_remaining_requests",
    "ratelimit_reset_requests_s",
    "ratelimit_limit_tokens",
    "ratelimit_remaining_tokens",
    "ratelimit_reset_tokens_s",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "duration_ms",
    "ttfb_ms",
    "ttft_ms",
    "finish_reasons",
    "error_type",
    "error_code",
    "error_message",
    "retry_attempt",
    "cost_usd",
    "tags",
    "service_tier",
    "cost_reason",
]


def expected_record(record: Record) -> RequestRecord:
    values: dict[str, Any] = {name: getattr(record, name) for name in CONTRACT_FIELDS}
    values["tags"] = dict(record.tags)
    return RequestRecord(**values)


def store_records(database: Path, *records: Record) -> None:
    store = Store(str(database))
    try:
        store.ensure_schema()
        store.insert(records)
    finally:
        store.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "traces.db"


@pytest.fixture
def query(database: Path) -> Iterator[Query]:
    store_records(database)
    with Query(str(database)) as opened:
        yield opened


class TestRequestRecord:
    def test_attributes_are_the_contract_in_order(self) -> None:
        """RequestRecord has exactly the documented attributes, in the documented order."""
        expected = CONTRACT_FIELDS

        actual = [field.name for field in dataclasses.fields(RequestRecord)]

        assert expected == actual

    def test_is_frozen(self) -> None:
        """A RequestRecord cannot be changed after it is made."""
        record = expected_record(make_record())

        with pytest.raises(dataclasses.FrozenInstanceError):
            record.status_code = 500  # type: ignore[misc]


class TestRoundTrip:
    def test_every_field_round_trips(self, database: Path) -> None:
        """Every attribute comes back exactly as stored, with the documented Python types."""
        record = make_record(
            started_at=datetime.datetime(2025, 7, 1, 1, 59, 59, 999999, tzinfo=PLUS_TWO),
            stream=True,
            ttft_ms=123.456,
            finish_reasons=("stop", "length"),
            cost_usd=Decimal("1.2345678901"),
            tags={"user": "u-42", "feature": "search", "unicode": "héllo ✓"},
            error_message="über",
        )
        store_records(database, record)

        with Query(str(database)) as query:
            actual = query.get(record.id)

        assert expected_record(record) == actual
        assert actual is not None
        assert datetime.datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC) == actual.started_at
        assert actual.started_at.tzinfo == UTC
        assert (Decimal, tuple, dict) == (
            type(actual.cost_usd),
            type(actual.finish_reasons),
            type(actual.tags),
        )

    def test_none_stays_none(self, database: Path) -> None:
        """A value the exchange did not carry comes back None, not 0 or empty."""
        nullable = [
            field.name
            for field in dataclasses.fields(Record)
            if "None" in str(field.type) and field.name in CONTRACT_FIELDS
        ]
        record = make_record(**dict.fromkeys(nullable))
        store_records(database, record)

        with Query(str(database)) as query:
            actual = query.get(record.id)

        assert actual is not None
        assert dict.fromkeys(nullable) == {name: getattr(actual, name) for name in nullable}

    def test_detail_round_trips_headers_and_bodies(self, database: Path) -> None:
        """detail() returns headers, bodies and the stored-alongside facts as written."""
        record = make_record(
            usage_details={"completion_tokens_details.audio_tokens": 3, "seconds": 1.5},
            retry_after_s=2.5,
            parse_error="malformed JSON at byte 3",
            response_truncated=True,
            response_body=None,
            extra={"note": ["a", 1]},
        )
        store_records(database, record)
        expected = RequestDetail(
            record=expected_record(record),
            request_headers=dict(record.request_headers),
            response_headers=dict(record.response_headers),
            request_body=record.request_body,
            response_body=None,
            usage_details={"completion_tokens_details.audio_tokens": 3, "seconds": 1.5},
            retry_after_s=2.5,
            api_key_fingerprint=record.api_key_fingerprint,
            response_content_type=record.response_content_type,
            request_bytes=record.request_bytes,
            response_bytes=record.response_bytes,
            parse_error="malformed JSON at byte 3",
            response_truncated=True,
            extra={"note": ["a", 1]},
        )

        with Query(str(database)) as query:
            actual = query.detail(record.request_id or "")

        assert expected == actual


class TestRequests:
    def test_newest_first_with_limit(self, database: Path) -> None:
        """requests() lists the newest attempts first and stops at the limit."""
        records = [make_record(started_at=T0 + datetime.timedelta(seconds=i)) for i in range(5)]
        store_records(database, *records)
        expected = [records[4].id, records[3].id, records[2].id]

        with Query(str(database)) as query:
            actual = [record.id for record in query.requests(limit=3)]

        assert expected == actual

    def test_since_inclusive_until_exclusive(self, database: Path) -> None:
        """since includes its instant, until excludes its instant."""
        records = [make_record(started_at=T0 + datetime.timedelta(minutes=i)) for i in range(5)]
        store_records(database, *records)
        expected = [records[3].id, records[2].id, records[1].id]

        with Query(str(database)) as query:
            found = query.requests(
                since=T0 + datetime.timedelta(minutes=1), until=T0 + datetime.timedelta(minutes=4)
            )
            actual = [record.id for record in found]

        assert expected == actual

    def test_naive_and_other_zone_datetimes(self, database: Path) -> None:
        """A naive since is taken as UTC; an aware one in another zone is converted."""
        records = [make_record(started_at=T0 + datetime.timedelta(hours=i)) for i in range(3)]
        store_records(database, *records)
        plus_one = datetime.timezone(datetime.timedelta(hours=1))
        expected = ([records[2].id, records[1].id], [records[2].id])

        with Query(str(database)) as query:
            naive = query.requests(since=datetime.datetime(2025, 3, 1, 10, 0, 0))
            zoned = query.requests(since=datetime.datetime(2025, 3, 1, 12, 0, 0, tzinfo=plus_one))
            actual = ([r.id for r in naive], [r.id for r in zoned])

        assert expected == actual

    @pytest.mark.parametrize(
        ("filters", "expected_names"),
        [
            ({"model": "gpt-4o"}, ["by-request-model", "by-response-model"]),
            ({"status_code": 429}, ["rate-limited"]),
            ({"operation": "embeddings"}, ["embedding"]),
            ({"endpoint": "/v1/embeddings"}, ["embedding"]),
            ({"host": "example.azure.com"}, ["azure"]),
            ({"request_id": "req_special"}, ["special"]),
            ({"response_id": "resp_special"}, ["special"]),
            ({"stream": True}, ["streamed"]),
            ({"complete": False}, ["no-response"]),
            ({"error": True}, ["no-response", "rate-limited"]),
            ({"error": True, "status_code": 429}, ["rate-limited"]),
        ],
    )
    def test_filters(
        self, database: Path, filters: dict[str, Any], expected_names: list[str]
    ) -> None:
        """Each filter selects exactly the attempts it names."""
        records = [
            make_record(tags={"name": "plain"}),
            make_record(tags={"name": "by-request-model"}, request_model="gpt-4o"),
            make_record(
                tags={"name": "by-response-model"}, request_model="x", response_model="gpt-4o"
            ),
            make_record(tags={"name": "rate-limited"}, status_code=429),
            make_record(
                tags={"name": "embedding"}, operation="embeddings", endpoint="/v1/embeddings"
            ),
            make_record(tags={"name": "azure"}, host="example.azure.com"),
            make_record(
                tags={"name": "special"}, request_id="req_special", response_id="resp_special"
            ),
            make_record(tags={"name": "streamed"}, stream=True),
            make_record(tags={"name": "no-response"}, status_code=None, complete=False),
        ]
        store_records(database, *records)

        with Query(str(database)) as query:
            actual = sorted(record.tags["name"] for record in query.requests(**filters))

        assert expected_names == actual

    def test_unknown_filter_names_the_accepted_ones(self, query: Query) -> None:
        """An unknown filter raises QueryError listing every accepted filter."""
        with pytest.raises(QueryError) as raised:
            query.requests(modle="gpt-4o")

        expected = (
            "unknown filter 'modle'; filter by any of: call_id, complete, endpoint, error, "
            "host, model, operation, provider, request_id, response_id, status_code, stream"
        )
        assert expected == str(raised.value)

    @pytest.mark.parametrize(
        "filters", [{"status_code": "429"}, {"stream": 1}, {"status_code": True}, {"model": 4}]
    )
    def test_wrong_filter_type(self, query: Query, filters: dict[str, Any]) -> None:
        """A filter value of the wrong type raises QueryError instead of matching nothing."""
        with pytest.raises(QueryError, match="takes"):
            query.requests(**filters)

    @pytest.mark.parametrize("limit", [0, -1, True, 2.5])
    def test_bad_limit(self, query: Query, limit: Any) -> None:
        """A limit that is not a positive integer raises QueryError."""
        with pytest.raises(QueryError, match="limit"):
            query.requests(limit=limit)

    def test_values_are_bound_not_interpolated(self, database: Path) -> None:
        """A filter value full of SQL is matched literally."""
        record = make_record(request_model="x' OR '1'='1")
        store_records(database, record, make_record())
        expected = [record.id]

        with Query(str(database)) as query:
            actual = [found.id for found in query.requests(model="x' OR '1'='1")]

        assert expected == actual


class TestGet:
    def test_by_request_id(self, database: Path) -> None:
        """get() finds an attempt by the server's x-request-id."""
        record = make_record(request_id="req_abc123")
        store_records(database, record, make_record(request_id="req_other"))

        with Query(str(database)) as query:
            actual = query.get("req_abc123")

        assert expected_record(record) == actual

    def test_by_own_id_and_prefix(self, database: Path) -> None:
        """get() finds an attempt by oaitrace's id, whole or an unambiguous start of it."""
        record = make_record(id="0193aaaa000070008000000000000001")
        other = make_record(id="0193bbbb000070008000000000000002")
        store_records(database, record, other)
        expected = [record.id, record.id, record.id]

        with Query(str(database)) as query:
            found = [query.get(record.id), query.get("0193a"), query.get("0193AAAA")]
            actual = [item.id if item else None for item in found]

        assert expected == actual

    def test_ambiguous_prefix(self, database: Path) -> None:
        """A prefix shared by two ids raises QueryError asking for more characters."""
        store_records(
            database,
            make_record(id="0193aaaa000070008000000000000001"),
            make_record(id="0193aaab000070008000000000000002"),
        )

        with Query(str(database)) as query, pytest.raises(QueryError, match="more characters"):
            query.get("0193aaa")

    @pytest.mark.parametrize("key", ["req_missing", "ffff", "", "%"])
    def test_missing(self, query: Query, key: str) -> None:
        """get() and detail() return None when nothing matches."""
        expected = (None, None)

        actual = (query.get(key), query.detail(key))

        assert expected == actual


class TestOpening:
    def test_missing_database_file(self, tmp_path: Path) -> None:
        """Querying a file that does not exist fails clearly and does not create it."""
        path = tmp_path / "nothing.db"

        with pytest.raises(DatabaseError) as raised:
            Query(str(path))

        expected = (
            f"no database at {path}; run your app with oaitrace or `oaitrace demo` first",
            False,
        )
        assert expected == (str(raised.value), path.exists())

    def test_database_without_tables(self, tmp_path: Path) -> None:
        """A SQLite file that is not an oaitrace database fails with a hint to upgrade."""
        path = tmp_path / "empty.db"
        path.touch()

        with Query(str(path)) as query, pytest.raises(DatabaseError, match="oaitrace db upgrade"):
            query.requests()

    def test_database_url_from_environment(
        self, database: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without an argument, Query reads $OAITRACE_DATABASE_URL."""
        record = make_record()
        store_records(database, record)
        monkeypatch.setenv("OAITRACE_DATABASE_URL", f"sqlite:///{database}")

        with Query() as query:
            actual = query.get(record.id)

        assert expected_record(record) == actual


def test_reports_run_without_postgres_jit(postgres_server: Any) -> None:
    """PostgreSQL's JIT compiling costs reports more than it saves; Query turns it off.

    Checked on a connection the pool hands out a second time too: a SET
    inside a transaction would have been undone by the rollback on return.
    """
    from sqlalchemy import text  # noqa: PLC0415 - local: only this test runs SQL itself

    from oaitrace.storage._engine import create_engine, resolve_database_url  # noqa: PLC0415

    url = postgres_server.new_database()
    writer_engine = create_engine(resolve_database_url(url))
    try:
        with writer_engine.connect() as connection:
            # The server's default, or this test would prove nothing.
            assert connection.execute(text("SHOW jit")).scalar() == "on"
    finally:
        writer_engine.dispose()
    with Store(url) as store:
        store.ensure_schema()
    with Query(url) as query:
        for _ in range(2):
            with query._engine.connect() as connection:
                assert connection.execute(text("SHOW jit")).scalar() == "off"
        assert query.usage().total.requests == 0
