"""`latency` through hour summaries: the same exact percentiles, kept valid by hour versions.

Every expectation is computed here from the records themselves (nearest
rank over their values), never by the code under test; each report is
asked twice, once storing the complete hours' summaries and once reading
them, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import json
import math
import random
import sqlite3
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Table, func, select, update

import oaitrace
from oaitrace._exchange import Record
from oaitrace._hour_summaries import HOUR, day_kind
from oaitrace._latency_hours import SUMMARY_KIND, pack
from oaitrace._latency_samples import Values
from oaitrace._maintenance import prune
from oaitrace._report_types import LatencyReport, LatencyRow, UsageReport
from oaitrace._summariser import HourSummariser
from oaitrace.cli import cli
from oaitrace.query import Query
from oaitrace.storage import Store, current_revision
from oaitrace.storage._engine import create_engine
from oaitrace.storage._hours import REQUEST_HOURS, hour_of
from oaitrace.storage._models import HourSummaryRow
from tests.factories import make_record
from tests.test_migrations_upgrade import insert_at
from tests.test_recorder import chat_exchange

_UTC = datetime.timezone.utc
SUMMARIES: Table = HourSummaryRow.__table__  # type: ignore[assignment]
# Fifty-six hours of attempts ending 16 hours ago: complete hours, a complete
# day among them, whatever the time now.
START = (datetime.datetime.now(_UTC) - datetime.timedelta(days=3)).replace(
    minute=0, second=0, microsecond=0
)
HOURS = 56


def attempts(seed: int = 7) -> list[Record]:
    """Attempts of several models and endpoints over HOURS hours, and a few in this hour.

    Failures (not latency), attempts without processing time, streams with
    a TTFT, a model only the response named, repeated durations.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    records = []
    moments = [START + datetime.timedelta(seconds=rng.uniform(0, HOURS * 3600)) for _ in range(700)]
    # Not yet summarisable: the current hour and the one before.
    now = datetime.datetime.now(_UTC)
    moments += [now - datetime.timedelta(minutes=rng.uniform(1, 50)) for _ in range(12)]
    for moment in moments:
        model = rng.choice(["gpt-4o", "gpt-4o-mini", None])
        stream = rng.random() < 0.3
        duration = rng.choice([250.0, 431.25, round(rng.lognormvariate(6, 0.8), 6)])
        processing = None if rng.random() < 0.2 else round(duration * rng.uniform(0.3, 1.1), 3)
        user = rng.choice(["u-1", "u-2", "u-3", None])
        tokens_in, tokens_out = rng.randrange(0, 5000), rng.randrange(0, 900)
        records.append(
            make_record(
                started_at=moment,
                tags={"feature": "search"} if user is None else {"user": user},
                project=rng.choice(["proj_a", "proj_b", None]),
                api_key_fingerprint=rng.choice(["sk-...a1b2", "sk-...c3d4", None]),
                input_tokens=tokens_in,
                cached_input_tokens=rng.randrange(0, tokens_in + 1),
                output_tokens=tokens_out,
                reasoning_tokens=rng.randrange(0, tokens_out + 1),
                total_tokens=tokens_in + tokens_out,
                cost_usd=None
                if rng.random() < 0.15
                else Decimal(rng.randrange(1, 10**9)).scaleb(-12),
                **rate_limit_headers(rng),
                request_model=model,
                response_model=None if model == "gpt-4o" else "gpt-4o-mini-2024-07-18",
                endpoint=rng.choice(["/v1/chat/completions", "/v1/responses"]),
                status_code=(status := rng.choice([200, 200, 200, 200, 200, 201, 429, 500, None])),
                retry_after_s=round(rng.uniform(0.1, 30), 2) if status == 429 else None,
                stream=stream,
                duration_ms=duration,
                processing_ms=processing,
                ttft_ms=round(rng.uniform(20, 400), 3) if stream else None,
            )
        )
    return records


def rate_limit_headers(rng: random.Random) -> dict[str, Any]:
    """Rate-limit fields as a response may carry them: sometimes none at all."""
    if rng.random() < 0.2:
        return dict.fromkeys(
            (
                "ratelimit_limit_requests",
                "ratelimit_remaining_requests",
                "ratelimit_reset_requests_s",
                "ratelimit_limit_tokens",
                "ratelimit_remaining_tokens",
                "ratelimit_reset_tokens_s",
            )
        )
    return {
        "ratelimit_limit_requests": rng.choice([5_000, 10_000]),
        "ratelimit_remaining_requests": rng.randrange(0, 5_000),
        "ratelimit_reset_requests_s": round(rng.uniform(0, 60), 3),
        "ratelimit_limit_tokens": rng.choice([200_000, 2_000_000]),
        "ratelimit_remaining_tokens": rng.randrange(0, 200_000),
        "ratelimit_reset_tokens_s": round(rng.uniform(0, 60), 3),
    }


@pytest.fixture
def stored(database_url: str) -> tuple[str, list[Record]]:
    records = attempts()
    with Store(database_url) as store:
        store.insert(records[:350])
        store.insert(records[350:])
    return database_url, records


def expected_rows(
    records: Sequence[Record],
    by: Sequence[str],
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> dict[tuple[object, ...], tuple[object, ...]]:
    """Per group (and the total, key "all"): requests and each measure's count, p50, p95, p99."""
    groups: dict[tuple[object, ...], list[Record]] = {}
    for record in records:
        if record.status_code is None or record.status_code >= 400:
            continue
        if (since is not None and record.started_at < since) or (
            until is not None and record.started_at >= until
        ):
            continue
        key = tuple(group_values(record)[name] for name in by)
        groups.setdefault(key, []).append(record)
        if by:
            groups.setdefault(("all",), []).append(record)
    return {key: measured(group) for key, group in groups.items()}


def group_values(record: Record) -> dict[str, object]:
    """What each --by key groups this attempt under."""
    return {
        "model": record.request_model or record.response_model,
        "endpoint": record.endpoint,
        "day": record.started_at.strftime("%Y-%m-%d"),
        "hour": record.started_at.strftime("%Y-%m-%d %H:00"),
        "tag:user": record.tags.get("user"),
        "project": record.project,
        "api_key": record.api_key_fingerprint,
        "status": record.status_code,
    }


def measured(records: Sequence[Record]) -> tuple[object, ...]:
    duration = [r.duration_ms for r in records]
    processing = [r.processing_ms for r in records if r.processing_ms is not None]
    network = [r.duration_ms - r.processing_ms for r in records if r.processing_ms is not None]
    ttft = [r.ttft_ms for r in records if r.ttft_ms is not None]
    return (
        len(records),
        *(nearest_ranks(values) for values in (duration, processing, network, ttft)),
    )


def nearest_ranks(values: Sequence[float]) -> tuple[object, ...]:
    ordered = sorted(values)
    if not ordered:
        return (0, None, None, None)
    ranks = (max(1, math.ceil(fraction * len(ordered))) for fraction in (0.5, 0.95, 0.99))
    return (len(ordered), *(ordered[rank - 1] for rank in ranks))


def report_rows(report: LatencyReport) -> dict[tuple[object, ...], tuple[object, ...]]:
    rows: dict[tuple[object, ...], tuple[object, ...]] = {
        tuple(row.group.values()): row_values(row) for row in report.rows
    }
    if report.by:
        rows[("all",)] = row_values(report.total)
    elif report.total.requests:
        rows[()] = row_values(report.total)
    return rows


def row_values(row: LatencyRow) -> tuple[object, ...]:
    measures = (row.duration, row.processing, row.network, row.ttft)
    return (row.requests, *((m.count, m.p50, m.p95, m.p99) for m in measures))


def summaries_stored(url: str) -> int:
    engine = create_engine(url, create=False)
    try:
        with engine.connect() as connection:
            statement = select(func.count()).select_from(SUMMARIES)
            return int(connection.execute(statement).scalar_one())
    finally:
        engine.dispose()


BYS = [
    (),
    ("model",),
    ("model", "endpoint"),
    ("day",),
    ("hour", "model"),
    ("endpoint", "day"),
    ("project",),
    ("tag:user", "day"),
    ("api_key", "model", "day"),
    ("project", "hour"),
]
RANGES = {
    "everything": (None, None),
    "inside hours": (
        START + datetime.timedelta(hours=1, minutes=30, seconds=17),
        START + datetime.timedelta(hours=20, minutes=3),
    ),
    "on hours": (START + datetime.timedelta(hours=2), START + datetime.timedelta(hours=9)),
    "to now": (START + datetime.timedelta(hours=5, seconds=1), None),
}


@pytest.mark.parametrize("by", BYS, ids=lambda by: ",".join(by) or "total")
@pytest.mark.parametrize("period", list(RANGES))
def test_latency_is_exact_from_summaries(
    stored: tuple[str, list[Record]], by: tuple[str, ...], period: str
) -> None:
    """Storing the complete hours' summaries, then reading them, gives every value's percentiles."""
    url, records = stored
    since, until = RANGES[period]
    with Query(url) as query:
        first = report_rows(query.latency(by=by, since=since, until=until))
        stored_after_first = summaries_stored(url)
        second = report_rows(query.latency(by=by, since=since, until=until))

    expected = expected_rows(records, by, since, until)
    # Over everything there are complete hours and days to summarise.
    assert (expected, expected, True) == (
        first,
        second,
        stored_after_first > 0 or period != "everything",
    )


def test_summaries_are_read_and_a_late_attempt_makes_them_stale(
    stored: tuple[str, list[Record]],
) -> None:
    """Stored hour and day summaries answer for their time until an attempt there is stored."""
    url, records = stored
    hour = START + datetime.timedelta(hours=4)
    day = (START + datetime.timedelta(days=1)).replace(hour=0)
    with Query(url) as query:
        query.latency(by=("hour", "model"))  # stores every hour's and day's summary
        forged = {
            (SUMMARY_KIND, hour): forged_summary("forged-hour"),
            (day_kind(SUMMARY_KIND), day): forged_summary("forged-day"),
        }
        assert forge(url, forged) == 2
        by_hour = report_rows(query.latency(by=("hour", "model")))
        by_model = report_rows(query.latency(by=("model",)))
        late = [
            make_record(started_at=start + datetime.timedelta(minutes=59), request_model="late")
            for start in (hour, day + datetime.timedelta(hours=7))
        ]
        with Store(url) as store:
            store.insert(late)
        after = report_rows(query.latency(by=("model",)))

    # The summaries, not the attempts, answered.
    assert by_hour[(hour.strftime("%Y-%m-%d %H:00"), "forged-hour")][0] == 1
    assert by_model[("forged-day",)][0] == 1
    assert expected_rows([*records, *late], ("model",)) == after


def forged_summary(model: str) -> bytes:
    return pack({(model, "/v1/chat/completions"): Values([1.0], [], [], [])})


def forge(url: str, payloads: dict[tuple[str, datetime.datetime], bytes]) -> int:
    """Replace stored summaries' payloads, keeping their versions; how many were replaced."""
    engine = create_engine(url, create=False)
    changed = 0
    try:
        with engine.begin() as connection:
            for (kind, start), payload in payloads.items():
                statement = (
                    update(SUMMARIES)
                    .where(SUMMARIES.c.hour == start, SUMMARIES.c.kind == kind)
                    .values(payload=payload)
                )
                changed += connection.execute(statement).rowcount
    finally:
        engine.dispose()
    return changed


def test_prune_leaves_summaries_of_what_remains(stored: tuple[str, list[Record]]) -> None:
    """Prune drops the summaries of the hours it emptied; reports count what remains exactly."""
    url, records = stored
    before = START + datetime.timedelta(hours=10, minutes=20)
    with Query(url) as query:
        query.latency(by=("model", "endpoint"))
        prune(url, before)
        engine = create_engine(url, create=False)
        try:
            with engine.connect() as connection:
                oldest = connection.execute(select(func.min(SUMMARIES.c.hour))).scalar_one()
        finally:
            engine.dispose()
        after = report_rows(query.latency(by=("model", "endpoint")))

    remaining = [record for record in records if record.started_at >= before]
    assert expected_rows(remaining, ("model", "endpoint")) == after
    assert oldest == hour_of(before)


def test_every_store_raises_its_hours_versions(database_url: str) -> None:
    """Each transaction adds one to the version of each hour it stored attempts in."""
    first, second = START, START + datetime.timedelta(hours=1, minutes=5)
    with Store(database_url) as store:
        store.insert([make_record(started_at=first), make_record(started_at=second)])
        store.insert([make_record(started_at=first + datetime.timedelta(minutes=30))])
        retried = make_record(started_at=second)
        store.insert([retried])
        store.insert([retried])  # already stored: still a version, never a wrong summary
    engine = create_engine(database_url, create=False)
    try:
        with engine.connect() as connection:
            hours = select(REQUEST_HOURS.c.hour, REQUEST_HOURS.c.version)
            versions = dict(connection.execute(hours).all())
    finally:
        engine.dispose()

    assert {hour_of(first): 2, hour_of(second): 3} == versions


@pytest.fixture
def sqlite_stored(tmp_path: Path) -> tuple[Path, list[Record]]:
    path = tmp_path / "traces.db"
    records = attempts(seed=11)
    with Store(str(path)) as store:
        store.insert(records)
    return path, records


def test_read_only_database_answers_without_storing(
    sqlite_stored: tuple[Path, list[Record]],
) -> None:
    """A database the report cannot write still gets exact answers; nothing is stored."""
    path, records = sqlite_stored
    with Query(f"sqlite:///file:{path}?mode=ro&uri=true") as query:
        rows = report_rows(query.latency(by=("model", "endpoint")))

    expected = expected_rows(records, ("model", "endpoint"))
    assert (expected, 0) == (rows, summaries_stored(f"sqlite:///{path}"))


def test_a_held_write_lock_does_not_stall_the_report(
    sqlite_stored: tuple[Path, list[Record]],
) -> None:
    """While another connection holds SQLite's write lock, the report answers and stores nothing.

    Without the short wait it would sit out the 30 s busy timeout.
    """
    path, records = sqlite_stored
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with Query(str(path)) as query:
            started = time.monotonic()
            rows = report_rows(query.latency(by=("model",)))
            waited_long = time.monotonic() - started > 10  # the busy timeout is 30 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    expected = expected_rows(records, ("model",))
    assert (expected, 0, False) == (rows, summaries_stored(f"sqlite:///{path}"), waited_long)


# --- usage and costs -------------------------------------------------------------


def expected_usage(
    records: Sequence[Record],
    by: Sequence[str],
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> dict[tuple[object, ...], tuple[object, ...]]:
    """Per group (and the total, key "all"): requests, errors, tokens, unpriced, exact cost."""
    groups: dict[tuple[object, ...], list[Record]] = {}
    for record in records:
        if (since is not None and record.started_at < since) or (
            until is not None and record.started_at >= until
        ):
            continue
        groups.setdefault(tuple(group_values(record)[name] for name in by), []).append(record)
        groups.setdefault(("all",), []).append(record)
    return {key: summed(group) for key, group in groups.items()}


def summed(records: Sequence[Record]) -> tuple[object, ...]:
    return (
        len(records),
        sum(1 for r in records if r.status_code is None or r.status_code >= 400),
        sum(r.input_tokens or 0 for r in records),
        sum(r.cached_input_tokens or 0 for r in records),
        sum(r.output_tokens or 0 for r in records),
        sum(r.reasoning_tokens or 0 for r in records),
        sum(r.total_tokens or 0 for r in records),
        sum(1 for r in records if r.cost_usd is None and (r.status_code or 999) < 400),
        sum((r.cost_usd for r in records if r.cost_usd is not None), Decimal(0)),
    )


def usage_rows(report: UsageReport) -> dict[tuple[object, ...], tuple[object, ...]]:
    rows: dict[tuple[object, ...], tuple[object, ...]] = {
        tuple(row.group.values()): usage_values(row) for row in report.rows
    }
    if report.total.requests:
        rows[("all",)] = usage_values(report.total)
    return rows


def usage_values(row: Any) -> tuple[object, ...]:
    return (
        row.requests,
        row.errors,
        row.input_tokens,
        row.cached_input_tokens,
        row.output_tokens,
        row.reasoning_tokens,
        row.total_tokens,
        row.unpriced_requests,
        row.cost_usd,
    )


USAGE_BYS = [
    (),
    ("model",),
    ("model", "endpoint"),
    ("day", "endpoint"),
    ("hour",),
    ("tag:user",),
    ("tag:user", "day"),
    ("project",),
    ("api_key", "day"),
    ("status",),
    ("tag:user", "model"),
    ("project", "endpoint", "day"),
    ("tag:user", "hour"),
]


@pytest.mark.parametrize("by", USAGE_BYS, ids=lambda by: ",".join(by) or "total")
@pytest.mark.parametrize("period", list(RANGES))
def test_usage_is_exact_from_summaries(
    stored: tuple[str, list[Record]], by: tuple[str, ...], period: str
) -> None:
    """Hour sums stored, then read and added up, give every attempt's exact totals."""
    url, records = stored
    since, until = RANGES[period]
    with Query(url) as query:
        first = usage_rows(query.usage(by=by, since=since, until=until))
        stored_after_first = summaries_stored(url)
        second = usage_rows(query.usage(by=by, since=since, until=until))
        costs = usage_rows(query.costs(by=by, since=since, until=until))

    expected = expected_usage(records, by, since, until)
    assert (expected, expected, expected, True) == (
        first,
        second,
        costs,
        stored_after_first > 0 or period != "everything",
    )


def test_usage_summaries_are_read_until_a_late_attempt(stored: tuple[str, list[Record]]) -> None:
    """A stored hour of sums answers for its hour, per model and per tag, until it changes."""
    url, records = stored
    hour = START + datetime.timedelta(hours=4)
    with Query(url) as query:
        query.usage(by=("model", "endpoint"))
        query.usage(by=("tag:user",))
        # Groupings by a tag are summarised per day.
        day = (START + datetime.timedelta(days=1)).replace(hour=0)
        forged = {
            ("usage/1", hour): [["forged-model", "/v1/forged", 1, 0, 5, 0, 0, 0, 5, 0, "0.5"]],
            ("day:usage/1/tag:user", day): [["forged-user", 1, 0, 5, 0, 0, 0, 5, 0, "0.5"]],
        }
        payloads = {key: json.dumps(value).encode() for key, value in forged.items()}
        assert forge(url, payloads) == 2
        by_model = usage_rows(query.usage(by=("model",)))
        by_user = usage_rows(query.usage(by=("tag:user",)))
        late = [
            make_record(started_at=start + datetime.timedelta(minutes=1), request_model="late")
            for start in (hour, day + 5 * HOUR)
        ]
        with Store(url) as store:
            store.insert(late)
        after = usage_rows(query.usage(by=("tag:user",)))

    assert by_model[("forged-model",)][0] == 1
    assert by_user[("forged-user",)][-1] == Decimal("0.5")
    assert expected_usage([*records, *late], ("tag:user",)) == after


# --- rate limits -------------------------------------------------------------------


def expected_ratelimits(
    records: Sequence[Record], by: Sequence[str]
) -> dict[tuple[object, ...], tuple[object, ...]]:
    """Per group: attempts with headers, largest limits, lowest remaining, newest resets, 429s."""
    groups: dict[tuple[object, ...], list[Record]] = {}
    for record in records:
        headers = (
            record.ratelimit_remaining_requests is not None
            or record.ratelimit_remaining_tokens is not None
        )
        if not headers and record.status_code != 429:
            continue
        groups.setdefault(tuple(group_values(record)[name] for name in by), []).append(record)
    return {key: limits(group) for key, group in groups.items()}


def limits(records: Sequence[Record]) -> tuple[object, ...]:
    with_headers = [
        r
        for r in records
        if r.ratelimit_remaining_requests is not None or r.ratelimit_remaining_tokens is not None
    ]
    newest = max(with_headers, key=lambda r: (r.started_at, r.id), default=None)
    limited = [r for r in records if r.status_code == 429]

    def extreme(pick: Any, name: str) -> object:
        found = [getattr(r, name) for r in records if getattr(r, name) is not None]
        return pick(found) if found else None

    return (
        len(with_headers),
        extreme(max, "ratelimit_limit_requests"),
        extreme(min, "ratelimit_remaining_requests"),
        extreme(max, "ratelimit_limit_tokens"),
        extreme(min, "ratelimit_remaining_tokens"),
        None if newest is None else newest.ratelimit_reset_requests_s,
        None if newest is None else newest.ratelimit_reset_tokens_s,
        len(limited),
        max((r.retry_after_s for r in limited if r.retry_after_s is not None), default=None),
    )


def ratelimit_rows(report: Any) -> dict[tuple[object, ...], tuple[object, ...]]:
    return {
        tuple(row.group.values()): (
            row.requests,
            row.limit_requests,
            row.min_remaining_requests,
            row.limit_tokens,
            row.min_remaining_tokens,
            row.reset_requests_s,
            row.reset_tokens_s,
            row.rate_limited,
            row.max_retry_after_s,
        )
        for row in report.rows
    }


@pytest.mark.parametrize(
    "by",
    [("model",), ("hour", "model"), ("day",), ("hour",), ("endpoint",), ("project", "day")],
    ids=",".join,
)
def test_ratelimits_are_exact_from_summaries(
    stored: tuple[str, list[Record]], by: tuple[str, ...]
) -> None:
    """Hours' largest limits, lowest remaining and 429 counts combine into the period's."""
    url, records = stored
    with Query(url) as query:
        first = ratelimit_rows(query.ratelimits(by=by))
        second = ratelimit_rows(query.ratelimits(by=by))

    expected = expected_ratelimits(records, by)
    assert (expected, expected) == (first, second)


def test_ratelimit_summaries_are_read(stored: tuple[str, list[Record]]) -> None:
    """A stored hour of rate limits answers for its hour."""
    url, _records = stored
    hour = START + datetime.timedelta(hours=4)
    with Query(url) as query:
        query.ratelimits(by=("model",))
        forged = [["forged-model", 1, 1, 7, 3, None, None, 0, None, hour.isoformat()]]
        assert forge(url, {("ratelimits/1", hour): json.dumps(forged).encode()}) == 1
        rows = ratelimit_rows(query.ratelimits(by=("model",)))

    assert rows[("forged-model",)][:3] == (1, 7, 3)


def test_a_database_not_yet_upgraded_is_read_without_summaries(database_url: str) -> None:
    """At revision 0005 (its application runs an older oaitrace) every report still answers."""
    record_id = insert_at(database_url, "0005")
    with Query(database_url) as query:
        latency = query.latency(by=("model",))
        usage = query.usage(by=("tag:user",))
        limits = query.ratelimits(by=("hour", "model"))

    assert current_revision(database_url) == "0005"
    assert record_id
    # The old row carries no rate-limit headers: no rows, and no error.
    assert (latency.total.duration.p50, usage.total.requests, limits.rows) == (431.25, 1, [])


# --- the recorder's summariser ------------------------------------------------------------


def summary_kinds(url: str) -> dict[datetime.datetime, set[str]]:
    engine = create_engine(url, create=False)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(SUMMARIES.c.hour, SUMMARIES.c.kind)).all()
    finally:
        engine.dispose()
    kinds: dict[datetime.datetime, set[str]] = {}
    for hour, kind in rows:
        kinds.setdefault(hour, set()).add(kind)
    return kinds


def test_the_summariser_summarises_each_hour_and_day_as_it_ends(
    stored: tuple[str, list[Record]],
) -> None:
    """An hour that ends gets its usage, rate limits and latency summarised; a day, its
    latency and the groupings by other keys reports asked for in the week before."""
    url, _records = stored
    first_day = START.replace(hour=0)  # recorded from START on
    day = first_day + datetime.timedelta(days=1)  # recorded all day
    midnight = day + datetime.timedelta(days=1)
    summariser = HourSummariser(url)
    quarter = datetime.timedelta(minutes=15)

    first = summariser.after_store(now=midnight - datetime.timedelta(minutes=40))
    same_hour = summariser.after_store(now=midnight - datetime.timedelta(minutes=20))
    nothing_yet = summary_kinds(url)
    with Query(url) as query:  # reports by tag, and by project and model, the day before
        query.usage(by=("tag:user",), since=first_day, until=day)
        query.latency(by=("project", "model"), since=first_day, until=day)
        query.usage(by=("project", "hour"), since=midnight - 5 * HOUR, until=midnight - 3 * HOUR)
    next_hour = summariser.after_store(now=midnight + quarter + datetime.timedelta(minutes=5))
    kinds = summary_kinds(url)

    hour_kinds = {"usage/1", "ratelimits/1", "latency/1", "usage/1/project"}
    day_kinds = {
        day_kind(SUMMARY_KIND),
        "day:usage/1/tag:user",
        "day:latency/1/model,project",
    }
    assert (first, same_hour, nothing_yet, next_hour) == (False, False, {}, True)
    assert hour_kinds <= kinds[midnight - HOUR]  # the hour that ended
    assert hour_kinds <= kinds[midnight - 2 * HOUR]  # and the one before (late attempts)
    assert day_kinds <= kinds[day]  # the day that ended
    assert midnight not in kinds


def test_the_summariser_never_raises(tmp_path: Path) -> None:
    """A database it cannot read leaves recording alone: the reports summarise later."""
    summariser = HourSummariser(f"sqlite:///{tmp_path / 'missing.db'}")
    now = datetime.datetime.now(_UTC)

    summariser.after_store(now=now - HOUR)

    assert summariser.after_store(now=now) is True


def test_the_recorders_writer_asks_the_summariser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round of the writer ends with the summariser's cheap check."""
    calls: list[datetime.datetime | None] = []
    monkeypatch.setattr(HourSummariser, "after_store", lambda self, now=None: calls.append(now))
    recorder = oaitrace.Recorder(database_url=f"sqlite:///{tmp_path / 'traces.db'}")
    try:
        recorder.emit(chat_exchange())  # type: ignore[arg-type]
        assert recorder.flush(10)
    finally:
        recorder.close()

    assert calls


def test_db_summarise_prepares_every_complete_hour(
    sqlite_stored: tuple[Path, list[Record]],
) -> None:
    """`oaitrace db summarise` leaves every complete hour with its three summaries."""
    path, records = sqlite_stored
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(cli, ["db", "summarise", "-d", str(path)])
    kinds = summary_kinds(url)
    ended = datetime.datetime.now(_UTC) - datetime.timedelta(minutes=15)
    complete_hours = {
        hour_of(r.started_at) for r in records if hour_of(r.started_at) + HOUR <= hour_of(ended)
    }

    assert result.exit_code == 0, result.output
    assert "Summaries are ready" in result.output
    assert all({"usage/1", "ratelimits/1", "latency/1"} <= kinds[hour] for hour in complete_hours)


def test_the_writer_leaves_the_summariser_alone_while_the_database_is_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records go to the spool during an outage; no summarising is tried then."""
    calls: list[datetime.datetime | None] = []
    monkeypatch.setattr(HourSummariser, "after_store", lambda self, now=None: calls.append(now))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the database's directory should be")
    recorder = oaitrace.Recorder(
        database_url=f"sqlite:///{blocked / 'traces.db'}", spool_dir=str(tmp_path / "spool")
    )
    try:
        recorder.emit(chat_exchange())  # type: ignore[arg-type]
        stored = recorder.flush(5)
        spooled = recorder.spooled_count
    finally:
        recorder.close(timeout=1)

    assert (stored, spooled, calls) == (False, 1, [])
