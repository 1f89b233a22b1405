"""`retries` against its rules, transcribed here, over attempts built by hand and at random.

`expected_report` is the report as oaitrace assembled it before its reading
was rewritten for speed: the same rules (and the same order of float sums),
written plainly over the records in memory, never through the code under
test. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime
import random
from collections.abc import Iterable, Sequence
from typing import Any

from oaitrace._exchange import Record
from oaitrace.query import Query, RetriedCall, RetryGroup, RetryReport
from oaitrace.storage import Store
from tests.factories import make_record

UTC = datetime.timezone.utc
BASE = datetime.datetime(2025, 3, 1, 9, 40, tzinfo=UTC)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
WINDOW_S = 600.0
KEYS = (
    ("POST", "/v1/chat/completions", "gpt-4o", "sk-...a1b2"),
    ("POST", "/v1/chat/completions", "gpt-4o-mini", "sk-...a1b2"),
    ("POST", "/v1/responses", None, "sk-...c3d4"),
    ("GET", "/v1/models", None, None),
)
GROUPINGS = ("", "model", "project", "tag:user", "hour", "day", "status", "project,tag:user")


def attempt(
    record_id: str, started_at: datetime.datetime, retry: int | None, **fields: Any
) -> Record:
    """An attempt of the first key with an id of our choosing (ids break ties of start)."""
    method, endpoint, model, fingerprint = fields.pop("key", KEYS[0])
    values: dict[str, Any] = {
        "id": record_id,
        "started_at": started_at,
        "retry_attempt": retry,
        "method": method,
        "endpoint": endpoint,
        "path": endpoint,
        "request_model": model,
        "response_model": None,
        "api_key_fingerprint": fingerprint,
        "status_code": 429 if retry == 0 else 200,
        "duration_ms": 250.0,
        "request_id": f"req_{record_id}",
        "tags": {"user": "alice"},
        **fields,
    }
    return make_record(**values)


def at(seconds: float) -> datetime.datetime:
    return BASE + datetime.timedelta(seconds=seconds)


# --- the rules, transcribed ---------------------------------------------------


def micros(moment: datetime.datetime) -> int:
    return (moment - EPOCH) // datetime.timedelta(microseconds=1)


def call_key(record: Record) -> tuple[str, str, str, str]:
    return (
        record.method,
        record.endpoint,
        record.request_model or "",
        record.api_key_fingerprint or "",
    )


def end_s(record: Record) -> float:
    return micros(record.started_at) / 1_000_000 + record.duration_ms / 1000.0


def group_value(record: Record, key: str) -> object:
    """What `--by key` groups this attempt under."""
    if key.startswith("tag:"):
        return record.tags.get(key[4:])
    if key in ("day", "hour"):
        return record.started_at.astimezone(UTC).strftime(
            "%Y-%m-%d" if key == "day" else "%Y-%m-%d %H:00"
        )
    columns = {
        "model": record.request_model or record.response_model,
        "project": record.project,
        "status": record.status_code,
    }
    return columns[key]


def retried_calls(
    records: Iterable[Record],
    since: datetime.datetime | None,
    until: datetime.datetime | None,
) -> list[list[Record]]:
    """The attempts of each call of more than one, in the order of their first attempts.

    Failed attempts the SDK counted and retries of the period, in time
    order, the id breaking ties; only retries' call ids count. A retry joins
    the call its call id is registered under, or without one the newest
    call of its key unless that call's last attempt ended over WINDOW_S
    before; otherwise it starts a call. A call's first retry registers it
    again under its first attempt's id and call id.
    """
    period = [
        record
        for record in records
        if (since is None or record.started_at >= since)
        and (until is None or record.started_at < until)
        and record.retry_attempt is not None
    ]
    read: dict[str, tuple[Record, str | None]] = {}
    for record in period:
        if record.status_code is None or record.status_code >= 400:
            read[record.id] = (record, None)
    for record in period:
        if record.retry_attempt is not None and record.retry_attempt > 0:
            read[record.id] = (record, record.call_id)
    ordered = sorted(read.values(), key=lambda entry: (micros(entry[0].started_at), entry[0].id))
    calls: list[list[Record]] = []
    # A first attempt no retry joined yet is its (record, call id) entry.
    newest: dict[tuple[str, str, str, str], Any] = {}
    by_call_id: dict[str, Any] = {}

    def ended_s(current: Any) -> float:
        return end_s(current[0] if isinstance(current, tuple) else current[-1])

    def retried(entry: tuple[Record, str | None]) -> list[Record]:
        first, first_call_id = entry
        call = [first]
        calls.append(call)
        by_call_id[first.id] = call
        if first_call_id is not None and first_call_id != first.id:
            by_call_id[first_call_id] = call
        if newest.get(call_key(first)) is entry:
            newest[call_key(first)] = call
        return call

    for entry in ordered:
        record, call_id = entry
        if record.retry_attempt is not None and record.retry_attempt > 0:
            if call_id is not None:
                current = by_call_id.get(call_id)
            else:
                current = newest.get(call_key(record))
                if (
                    current is not None
                    and micros(record.started_at) / 1_000_000 - ended_s(current) > WINDOW_S
                ):
                    current = None
            if current is not None:
                if isinstance(current, tuple):
                    current = retried(current)
                current.append(record)
                continue
        by_call_id[record.id] = entry
        if call_id is not None and call_id != record.id:
            by_call_id[call_id] = entry
        newest[call_key(record)] = entry
    calls.sort(key=lambda call: (micros(call[0].started_at), call[0].id))
    return calls


def expected_report(
    records: Sequence[Record],
    by: Sequence[str] = (),
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    examples: int = 10,
) -> RetryReport:
    calls = retried_calls(records, since, until)
    extras = [
        round((micros(c[-1].started_at) / 1e6 - micros(c[0].started_at) / 1e6) * 1000.0, 3)
        for c in calls
    ]
    members: dict[tuple[object, ...], list[int]] = {}
    for index, call in enumerate(calls):
        members.setdefault(tuple(group_value(call[0], key) for key in by), []).append(index)
    rows = [
        summed(dict(zip(by, key, strict=True)), calls, extras, indexes)
        for key, indexes in members.items()
    ]
    rows.sort(
        key=lambda row: (-row.calls, [(value is None, str(value)) for value in row.group.values()])
    )
    total = summed({}, calls, extras, range(len(calls)))
    slowest = sorted(
        range(len(calls)), key=lambda index: (-extras[index], micros(calls[index][0].started_at))
    )[: max(examples, 0)]
    return RetryReport(
        by=tuple(by),
        calls=total.calls,
        attempts=total.attempts,
        succeeded=total.succeeded,
        extra_ms=total.extra_ms,
        rows=rows,
        examples=[public(calls[index], extras[index]) for index in slowest],
    )


def succeeded(call: list[Record]) -> bool:
    status = call[-1].status_code
    return status is not None and status < 400


def summed(
    group: dict[str, Any], calls: list[list[Record]], extras: list[float], indexes: Iterable[int]
) -> RetryGroup:
    chosen = list(indexes)
    return RetryGroup(
        group=group,
        calls=len(chosen),
        attempts=sum(len(calls[index]) for index in chosen),
        succeeded=sum(1 for index in chosen if succeeded(calls[index])),
        extra_ms=sum((extras[index] for index in chosen), 0.0),
    )


def public(call: list[Record], extra_ms: float) -> RetriedCall:
    first = call[0]
    return RetriedCall(
        started_at=first.started_at,
        method=first.method,
        endpoint=first.endpoint,
        model=first.request_model or None,
        api_key_fingerprint=first.api_key_fingerprint or None,
        attempts=len(call),
        final_status=call[-1].status_code,
        extra_ms=extra_ms,
        request_ids=tuple(record.request_id for record in call),
    )


# --- random attempts ------------------------------------------------------------


def random_attempts(seed: int, calls: int = 260) -> list[Record]:
    """Calls of one to four attempts over about three hours, with what makes linking hard.

    Keys shared by concurrent calls, calls recorded with and without call
    ids, gaps beyond the window, attempts starting together, failures the
    SDK never counted, 400s nobody retried, a retry whose call id names an
    attempt of another call or itself, and a retry started before its first
    attempt (a clock stepped back).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    records: list[Record] = []
    moment = 0.0
    for number in range(calls):
        moment += rng.choice([0.0, rng.uniform(0, 2), rng.uniform(0, 90)])
        key = rng.choice(KEYS)
        linked = rng.random() < 0.5
        attempts = rng.choice([1, 1, 2, 2, 2, 3, 4])
        started = moment
        first_id = ""
        for retry in range(attempts):
            record_id = f"{rng.getrandbits(128):032x}"
            first_id = first_id or record_id
            call_id = first_id if linked else None
            if linked and rng.random() < 0.05:
                call_id = rng.choice([record_id, *(record.id for record in records[-5:])])
            final = retry == attempts - 1
            status = rng.choice([200, 201, 200, 429, None] if final else [429, 500, 503, None, 400])
            duration = rng.choice([250.0, round(rng.uniform(1, 40_000), 3)])
            records.append(
                attempt(
                    record_id,
                    at(started),
                    None if rng.random() < 0.03 else retry,
                    key=key,
                    call_id=call_id,
                    status_code=status,
                    duration_ms=duration,
                    request_id=None if status is None else f"req_{number}_{retry}",
                    project=rng.choice(["proj_a", "proj_b", None]),
                    response_model=rng.choice([None, "gpt-4o-2024-08-06"]),
                    tags=rng.choice([{"user": "alice"}, {"user": "bob"}, {}]),
                )
            )
            gap = rng.choice([0.0, rng.uniform(0.2, 30), rng.uniform(0, 20), WINDOW_S + 1])
            started += duration / 1000 + gap
        if attempts > 1 and rng.random() < 0.03:
            # The first retry recorded as starting before its first attempt.
            first, retry_record = records[-attempts], records[-attempts + 1]
            records[-attempts + 1] = dataclasses.replace(
                retry_record, started_at=first.started_at - datetime.timedelta(seconds=1)
            )
    return records


def stored(database_url: str, records: Sequence[Record]) -> None:
    with Store(database_url) as store:
        store.insert(list(records))


def calls_and_request_ids(
    database_url: str, records: Sequence[Record]
) -> tuple[int, list[tuple[str | None, ...]]]:
    """Store the records; the retried calls, and the request ids of each (slowest first)."""
    stored(database_url, records)
    with Query(database_url) as query:
        report = query.retries(by="")
    return report.calls, [example.request_ids for example in report.examples]


def reports(
    database_url: str,
    periods: Sequence[tuple[datetime.datetime | None, datetime.datetime | None]],
    examples: int = 10,
) -> dict[tuple[str, int], RetryReport]:
    with Query(database_url) as query:
        return {
            (by, number): query.retries(by=by, since=since, until=until, examples=examples)
            for by in GROUPINGS
            for number, (since, until) in enumerate(periods)
        }


def expected_reports(
    records: Sequence[Record],
    periods: Sequence[tuple[datetime.datetime | None, datetime.datetime | None]],
    examples: int = 10,
) -> dict[tuple[str, int], RetryReport]:
    return {
        (by, number): expected_report(
            records, [key for key in by.split(",") if key], since, until, examples
        )
        for by in GROUPINGS
        for number, (since, until) in enumerate(periods)
    }


class TestRetriesFollowTheirRules:
    def test_random_calls_with_and_without_call_ids(self, database_url: str) -> None:
        """Every grouping, over the whole time and periods cutting calls, is as the rules say."""
        records = random_attempts(seed=1)
        stored(database_url, records)
        starts = sorted(record.started_at for record in records)
        periods = [
            (None, None),
            # Boundaries on attempts' very starts (since inclusive, until
            # exclusive), in the middle of calls and of an hour.
            (starts[101], starts[-60]),
            (BASE + datetime.timedelta(minutes=20, microseconds=1), None),
            (None, BASE + datetime.timedelta(hours=1)),
        ]

        expected = expected_reports(records, periods)
        actual = reports(database_url, periods)

        assert expected == actual
        assert all(report.calls > 0 for report in actual.values())

    def test_every_call_in_detail(self, database_url: str) -> None:
        """With every retried call among the examples, each one's attempts and request ids match."""
        records = random_attempts(seed=2)
        stored(database_url, records)

        expected = expected_report(records, ["tag:user"], examples=10_000)
        with Query(database_url) as query:
            actual = query.retries(by="tag:user", examples=10_000)

        assert expected == actual
        assert len(actual.examples) == actual.calls > 80

    def test_recorded_only_with_call_ids(self, database_url: str) -> None:
        """As a recorder writes them: every attempt has a call id, retries their first's."""
        records = [
            dataclasses.replace(record, call_id=record.call_id or record.id)
            for record in random_attempts(seed=3)
        ]
        stored(database_url, records)
        periods = [(None, None), (at(1800), at(5400))]

        assert expected_reports(records, periods) == reports(database_url, periods)

    def test_recorded_only_without_call_ids(self, database_url: str) -> None:
        """As an older recorder wrote them: no call ids at all, the window links the retries."""
        records = [dataclasses.replace(record, call_id=None) for record in random_attempts(seed=4)]
        stored(database_url, records)
        periods = [(None, None), (at(1800), at(5400))]

        assert expected_reports(records, periods) == reports(database_url, periods)


class TestRetriesByHand:
    def test_a_retry_after_since_starts_its_own_call(self, database_url: str) -> None:
        """A call whose first attempt came before `since` counts from its first retry after it."""
        with_ids = [
            attempt("a1", at(0), 0, call_id="a1"),
            attempt("a2", at(10), 1, call_id="a1", status_code=500),
            attempt("a3", at(25), 2, call_id="a1"),
        ]
        without = [
            attempt("b1", at(1), 0, key=KEYS[1]),
            attempt("b2", at(11), 1, key=KEYS[1], status_code=500),
            attempt("b3", at(31), 2, key=KEYS[1]),
        ]
        stored(database_url, with_ids + without)

        with Query(database_url) as query:
            report = query.retries(by="model", since=at(5))

        expected = (
            2,
            4,
            [("req_a2", "req_a3"), ("req_b2", "req_b3")],
            [15_000.0, 20_000.0],
        )
        actual = (
            report.calls,
            report.attempts,
            sorted(example.request_ids for example in report.examples),
            sorted(example.extra_ms for example in report.examples),
        )
        assert expected == actual

    def test_attempts_starting_together_are_ordered_by_id(self, database_url: str) -> None:
        """A retry recorded at its first attempt's microsecond follows it only if its id does."""
        after = [attempt("c1", at(0), 0, key=KEYS[1]), attempt("c2", at(0), 1, key=KEYS[1])]
        before = [attempt("d2", at(50), 0, key=KEYS[2]), attempt("d1", at(50), 1, key=KEYS[2])]

        assert (1, [("req_c1", "req_c2")]) == calls_and_request_ids(database_url, after + before)

    def test_a_call_belongs_to_its_first_attempts_group(self, database_url: str) -> None:
        """Grouped by hour and tag, a call crossing the hour counts where its first attempt was."""
        records = [
            attempt("e1", at(1199.5), 0, tags={"user": "alice"}, project="proj_a"),
            attempt("e2", at(1201), 1, tags={"user": "bob"}, project="proj_b"),
        ]
        stored(database_url, records)

        with Query(database_url) as query:
            report = query.retries(by="hour,tag:user,project")

        expected = [
            RetryGroup(
                {"hour": "2025-03-01 09:00", "tag:user": "alice", "project": "proj_a"},
                1,
                2,
                1,
                1500.0,
            )
        ]
        assert expected == report.rows

    def test_examples_most_extra_time_first_then_earliest(self, database_url: str) -> None:
        """Calls that lost as much time come earliest first."""
        records = [
            attempt("f1", at(0), 0, key=KEYS[0]),
            attempt("f2", at(2), 1, key=KEYS[0]),
            attempt("g1", at(1), 0, key=KEYS[1]),
            attempt("g2", at(4), 1, key=KEYS[1]),
            attempt("h1", at(0.5), 0, key=KEYS[2], call_id="h1"),
            attempt("h2", at(2.5), 1, key=KEYS[2], call_id="h1"),
        ]
        stored(database_url, records)

        with Query(database_url) as query:
            report = query.retries(by="", examples=2)

        expected = [("req_g1", "req_g2"), ("req_f1", "req_f2")]
        assert expected == [example.request_ids for example in report.examples]

    def test_call_ids_and_keys_in_one_period(self, database_url: str) -> None:
        """An older call linked by its key and a recorder's call of the same key interleave."""
        records = [
            attempt("i1", at(0), 0),
            attempt("j1", at(1), 0, call_id="j1", status_code=500),
            attempt("i2", at(3), 1),
            attempt("j2", at(4), 1, call_id="j1", status_code=None, duration_ms=30_000.0),
            attempt("j3", at(40), 2, call_id="j1"),
        ]
        stored(database_url, records)

        with Query(database_url) as query:
            report = query.retries(by="model")

        # The older retry joined the newest call of its key: the recorder's.
        expected = (
            expected_report(records, ["model"]),
            1,
            ("req_j1", "req_i2", "req_j2", "req_j3"),
        )
        assert expected == (report, report.calls, report.examples[0].request_ids)

    def test_a_retry_the_window_after_the_last_attempt_ended_joins(self, database_url: str) -> None:
        """Without call ids a retry joins a call whose last attempt ended up to 600 s before."""
        records = [
            attempt("k1", at(0), 0, key=KEYS[1]),
            attempt("k2", at(600.25), 1, key=KEYS[1]),
            attempt("l1", at(1000), 0, key=KEYS[2]),
            attempt("l2", at(1600.25) + datetime.timedelta(microseconds=1), 1, key=KEYS[2]),
        ]

        assert (1, [("req_k1", "req_k2")]) == calls_and_request_ids(database_url, records)

    def test_a_calls_first_retry_takes_its_call_id_back(self, database_url: str) -> None:
        """A call id two calls registered goes back to the older one when it is first retried.

        Only records the recorder did not make get there: a retry stamped
        before the first attempt its call id names, then a retry naming
        that retry. The report answers what it always answered.
        """
        records = [
            attempt("r1", at(0), 1, call_id="x1", status_code=500),
            attempt("x1", at(1), 0, call_id="x1"),
            attempt("r2", at(2), 1, call_id="r1", status_code=503),
            attempt("r3", at(3), 2, call_id="x1"),
        ]

        expected = (1, [("req_r1", "req_r2", "req_r3")])
        assert expected == calls_and_request_ids(database_url, records)
