"""The report commands of ``oaitrace``: report, usage, costs, errors, latency, ratelimits ...

Each is a thin layer over a `Query` report: parse the shared options
(``-d``, ``--since``, ``--until``, ``--by``, ``--json``, ``--csv``), call it,
render a rich table, JSON (the whole report) or CSV (its rows).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from oaitrace._reports import GROUP_KEYS, parse_by
from oaitrace._timespec import parse_time
from oaitrace.cli import (
    TIME,
    _console,
    _database_option,
    _json_default,
    _open_query,
    _OptionError,
    _status_text,
    _to_json,
    requests_table,
)
from oaitrace.exceptions import OaitraceError
from oaitrace.pricing import PRICE_FILE_ENV
from oaitrace.query import (
    ErrorReport,
    LatencyReport,
    LatencyRow,
    Percentiles,
    Query,
    RateLimitReport,
    RequestRecord,
    RetryReport,
    UsageReport,
    UsageRow,
)
from oaitrace.storage import resolve_database_url

__all__ = ["register_report_commands"]

_F = TypeVar("_F", bound=Callable[..., Any])

_BY_HELP = "Group by keys, comma-separated: " + ", ".join(GROUP_KEYS) + "."


# --- shared options ---------------------------------------------------------------


def _by_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    try:
        return parse_by(value)
    except OaitraceError as error:
        msg = f"Invalid value for '--by': {error}"
        raise _OptionError(msg) from None


def _report_options(default_by: str | None) -> Callable[[_F], _F]:
    """-d, --since, --until, --by, --json, --csv: the options every report takes."""

    def decorate(function: _F) -> _F:
        options = [
            _database_option,
            click.option(
                "--since", type=TIME, default="24h", show_default=True, help="From: 24h, 7d, ISO."
            ),
            click.option("--until", type=TIME, help="Before: 24h, 7d, ISO date (default: now)."),
            click.option(
                "--by",
                default=default_by,
                show_default=True,
                callback=_by_callback,
                help=_BY_HELP,
            ),
            click.option("--model", help="Only this model (as requested or as answered)."),
            click.option("--json", "as_json", is_flag=True, help="Print the report as JSON."),
            click.option("--csv", "as_csv", is_flag=True, help="Print the rows as CSV."),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _filters(model: str | None) -> dict[str, Any]:
    return {} if model is None else {"model": model}


def _check_formats(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        msg = "choose one of --json and --csv"
        raise _OptionError(msg)


# --- formatting -------------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) < Decimal("0.000001"):
        return "<$0.000001"
    if abs(value) < Decimal("0.01"):
        # Small spend: six decimals, trailing zeros dropped ($0.0053).
        return "$" + f"{value:.6f}".rstrip("0").rstrip(".")
    return f"${value:,.2f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _percent(value: float | None) -> Text:
    if value is None:
        return Text("—")
    style = "red" if value < 0.1 else "yellow" if value < 0.3 else "green"
    return Text(f"{value:.1%}", style=style)


def _group_text(value: object) -> str:
    return "(none)" if value is None else str(value)


def _plain(value: object) -> Any:
    """A report as plain JSON-able data (Decimal -> string, datetimes -> ISO)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {field.name: _plain(getattr(value, field.name)) for field in fields}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (Decimal, datetime.datetime)):
        return _json_default(value)
    return value


def _flat(row: object, by: Sequence[str]) -> dict[str, Any]:
    """One report row as a flat mapping: group keys first, nested measures dotted."""
    plain = _plain(row)
    flat: dict[str, Any] = {}
    group = plain.pop("group", {}) if isinstance(plain, dict) else {}
    for key in by:
        flat[key] = group.get(key)
    for name, value in plain.items():
        if isinstance(value, dict):
            for inner, item in value.items():
                flat[f"{name}_{inner}"] = item
        else:
            flat[name] = value
    return flat


def _emit_csv(rows: Sequence[Mapping[str, Any]]) -> None:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    click.echo(buffer.getvalue(), nl=False)


def _table(title: str, by: Sequence[str], columns: Sequence[str]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for key in by:
        table.add_column(key)
    for column in columns:
        table.add_column(column, justify="right")
    return table


def _period(since: datetime.datetime | None, until: datetime.datetime | None) -> str:
    start = "the beginning" if since is None else since.strftime("%Y-%m-%d %H:%M")
    end = "now" if until is None else until.strftime("%Y-%m-%d %H:%M")
    return f"{start} → {end} UTC"


# --- renderers ----------------------------------------------------------------------------

_USAGE_COLUMNS = (
    "requests",
    "errors",
    "input",
    "cached",
    "output",
    "reasoning",
    "cost (USD)",
    "unpriced",
)


def _usage_cells(row: UsageRow) -> list[str]:
    return [
        _count(row.requests),
        _count(row.errors),
        _count(row.input_tokens),
        _count(row.cached_input_tokens),
        _count(row.output_tokens),
        _count(row.reasoning_tokens),
        _money(row.cost_usd),
        _count(row.unpriced_requests),
    ]


def usage_table(report: UsageReport, title: str) -> Table:
    """Requests, tokens and cost per group, with a total row."""
    table = _table(title, report.by, _USAGE_COLUMNS)
    for row in report.rows:
        table.add_row(*(_group_text(row.group[key]) for key in report.by), *_usage_cells(row))
    if report.by:
        table.add_section()
        table.add_row(*(["total"] + [""] * (len(report.by) - 1)), *_usage_cells(report.total))
    else:
        table.add_row(*_usage_cells(report.total))
    return table


def costs_table(report: UsageReport, title: str) -> Table:
    """Cost per group, most expensive first, with its share of the total."""
    table = _table(title, report.by, ("requests", "cost (USD)", "share", "unpriced"))
    total = report.total.cost_usd
    for row in report.rows:
        share = f"{row.cost_usd / total:.1%}" if total else "—"
        table.add_row(
            *(_group_text(row.group[key]) for key in report.by),
            _count(row.requests),
            _money(row.cost_usd),
            share,
            _count(row.unpriced_requests),
        )
    table.add_section()
    label = ["total"] + [""] * (len(report.by) - 1) if report.by else []
    table.add_row(
        *label,
        _count(report.total.requests),
        _money(total),
        "100%" if total else "—",
        _count(report.total.unpriced_requests),
    )
    return table


def _unpriced_note(report: UsageReport) -> str | None:
    if not report.unpriced_reasons:
        return None
    reasons = ", ".join(f"{reason} {count:,}" for reason, count in report.unpriced_reasons.items())
    return f"Unpriced successful requests (cost unknown, not counted as $0): {reasons}"


def errors_tables(report: ErrorReport, title: str) -> list[Table]:
    """Error counts by status, code and type, and the latest examples."""
    counts = _table(title, report.by, ("status", "code", "type", "count"))
    for row in report.rows:
        counts.add_row(
            *(_group_text(row.group[key]) for key in report.by),
            _status_text(row.status_code),
            row.error_code or "—",
            row.error_type or "—",
            _count(row.count),
        )
    examples = Table(title="Latest errors", title_justify="left", header_style="bold")
    for column in ("time (UTC)", "request id", "model", "status", "code", "message"):
        examples.add_column(column, overflow="fold" if column == "message" else "ellipsis")
    for example in report.examples:
        examples.add_row(
            example.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            Text(example.request_id or example.id),
            example.model or "—",
            _status_text(example.status_code),
            example.error_code or "—",
            Text((example.error_message or "—")[:120]),
        )
    return [counts, examples]


def _latency_cells(row: LatencyRow) -> list[str]:
    def trio(values: Percentiles) -> list[str]:
        return [_ms(values.p50), _ms(values.p95), _ms(values.p99)]

    return [
        _count(row.requests),
        *trio(row.duration),
        *trio(row.processing),
        *trio(row.network),
        *trio(row.ttft),
    ]


def latency_table(report: LatencyReport, title: str) -> Table:
    """p50/p95/p99 of duration, server processing, network share and TTFT, in ms."""
    columns = ["requests"]
    for measure in ("total", "server", "network", "ttft"):
        columns += [f"{measure} p50", "p95", "p99"]
    table = _table(title, report.by, columns)
    for row in report.rows:
        table.add_row(*(_group_text(row.group[key]) for key in report.by), *_latency_cells(row))
    if report.by:
        table.add_section()
        table.add_row(*(["all"] + [""] * (len(report.by) - 1)), *_latency_cells(report.total))
    else:
        table.add_row(*_latency_cells(report.total))
    return table


def ratelimit_tables(report: RateLimitReport, title: str) -> list[Table]:
    """Headroom per group (lowest first) and 429s over time."""
    columns = (
        "requests",
        "req headroom",
        "min req left",
        "req limit",
        "tok headroom",
        "min tok left",
        "tok limit",
        "reset req/tok s",
        "429s",
        "max retry-after s",
    )
    table = _table(title, report.by, columns)
    for row in report.rows:
        resets = "/".join(
            "—" if value is None else f"{value:.1f}"
            for value in (row.reset_requests_s, row.reset_tokens_s)
        )
        table.add_row(
            *(_group_text(row.group[key]) for key in report.by),
            _count(row.requests),
            _percent(row.requests_headroom),
            _count(row.min_remaining_requests),
            _count(row.limit_requests),
            _percent(row.tokens_headroom),
            _count(row.min_remaining_tokens),
            _count(row.limit_tokens),
            resets,
            _count(row.rate_limited),
            "—" if row.max_retry_after_s is None else f"{row.max_retry_after_s:g}",
        )
    over_time = Table(title="429 over time", title_justify="left", header_style="bold")
    for column in ("bucket (UTC)", "429s", "max retry-after s", "mean retry-after s"):
        over_time.add_column(column, justify="right")
    for bucket in report.over_time:
        over_time.add_row(
            bucket.bucket,
            _count(bucket.rate_limited),
            "—" if bucket.max_retry_after_s is None else f"{bucket.max_retry_after_s:g}",
            "—" if bucket.mean_retry_after_s is None else f"{bucket.mean_retry_after_s:.2f}",
        )
    return [table, over_time]


def retry_tables(report: RetryReport, title: str) -> list[Table]:
    """Retried calls per group, then the ones retries slowed down most."""
    table = _table(title, report.by, ("calls", "attempts", "succeeded", "extra time s"))
    for row in report.rows:
        table.add_row(
            *(_group_text(row.group[key]) for key in report.by),
            _count(row.calls),
            _count(row.attempts),
            _count(row.succeeded),
            f"{row.extra_ms / 1000:,.1f}",
        )
    examples = Table(title="Most delayed calls", title_justify="left", header_style="bold")
    for column in ("first attempt (UTC)", "endpoint", "model", "attempts", "final", "extra s"):
        examples.add_column(column)
    for call in report.examples:
        examples.add_row(
            call.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            call.endpoint,
            call.model or "—",
            str(call.attempts),
            _status_text(call.final_status),
            f"{call.extra_ms / 1000:,.1f}",
        )
    return [table, examples]


def _print(console: Console, *renderables: Any) -> None:
    for renderable in renderables:
        if renderable is None:
            continue
        console.print(renderable)
        console.print()


# --- commands ---------------------------------------------------------------------------------


def _machine_output(report: Any, keys: Sequence[str], *, as_json: bool, as_csv: bool) -> bool:
    """Print a report as JSON or CSV when asked; False when a table is wanted instead."""
    if as_json:
        click.echo(_to_json(_plain(report)))
        return True
    if as_csv:
        _emit_csv([_flat(row, keys) for row in report.rows])
        return True
    return False


@click.command("usage")
@_report_options("model")
def usage_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    by: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Requests and tokens (input, cached, output, reasoning) and cost per group.

    \b
    Example:
        oaitrace usage --since 7d --by model,day
        oaitrace usage --by tag:feature --json
        oaitrace usage --by project,api_key --csv > usage.csv
    """
    _check_formats(as_json, as_csv)
    with _open_query(database) as query:
        report = query.usage(by=by, since=since, until=until, **_filters(model))
    if _machine_output(report, by, as_json=as_json, as_csv=as_csv):
        return
    _print(_console(), usage_table(report, f"Usage, {_period(since, until)}"))


@click.command("costs")
@_report_options("model")
def costs_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    by: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Spend per group, most expensive first, and which requests have no known price.

    Unknown costs are never counted as $0: they are listed as unpriced with
    the reason (unknown_model, no_usage ...). Add prices with a price file
    and `oaitrace reprice --prices FILE`.

    \b
    Example:
        oaitrace costs --since 30d
        oaitrace costs --by tag:user --since 7d --json
    """
    _check_formats(as_json, as_csv)
    with _open_query(database) as query:
        report = query.costs(by=by, since=since, until=until, **_filters(model))
    if _machine_output(report, by, as_json=as_json, as_csv=as_csv):
        return
    console = _console()
    _print(console, costs_table(report, f"Costs, {_period(since, until)}"))
    note = _unpriced_note(report)
    if note:
        console.print(note)


@click.command("errors")
@_report_options(None)
@click.option(
    "--over",
    type=click.Choice(["day", "hour"]),
    help="Count per time bucket too (errors over time).",
)
@click.option("-n", "--examples", type=click.IntRange(min=0), default=10, show_default=True)
def errors_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    by: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
    over: str | None,
    examples: int,
) -> None:
    """Failed requests by status, error code and type, and the latest with their x-request-id.

    \b
    Example:
        oaitrace errors --since 7d
        oaitrace errors --over hour --by model
        oaitrace errors --json | jq '.examples[].request_id'
    """
    _check_formats(as_json, as_csv)
    keys = ((over,) if over and over not in by else ()) + by
    with _open_query(database) as query:
        report = query.errors(
            by=keys, since=since, until=until, examples=examples, **_filters(model)
        )
    if _machine_output(report, keys, as_json=as_json, as_csv=as_csv):
        return
    console = _console()
    share = f" ({report.errors / report.requests:.1%})" if report.requests else ""
    console.print(f"{report.errors:,} failed of {report.requests:,} requests{share}.")
    _print(console, *errors_tables(report, f"Errors, {_period(since, until)}"))


@click.command("latency")
@_report_options("model,endpoint")
def latency_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    by: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """p50/p95/p99 of total time, server time (openai-processing-ms), network share, TTFT.

    Successful requests only. "network" is total minus server time:
    network, queueing and streaming outside the server's own count.

    \b
    Example:
        oaitrace latency --since 24h
        oaitrace latency --by model,hour --json
    """
    _check_formats(as_json, as_csv)
    with _open_query(database) as query:
        report = query.latency(by=by, since=since, until=until, **_filters(model))
    if _machine_output(report, by, as_json=as_json, as_csv=as_csv):
        return
    _print(_console(), latency_table(report, f"Latency (ms), {_period(since, until)}"))


@click.command("ratelimits")
@_report_options("model")
@click.option("--bucket", type=click.Choice(["day", "hour"]), default="hour", show_default=True)
def ratelimits_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    by: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
    bucket: str,
) -> None:
    """How close each model ran to its rate limits, and 429s over time.

    Headroom is the lowest remaining requests (tokens) seen divided by the
    limit: 0% means the limit was reached.

    \b
    Example:
        oaitrace ratelimits --since 24h
        oaitrace ratelimits --by model,api_key --bucket day --json
    """
    _check_formats(as_json, as_csv)
    with _open_query(database) as query:
        report = query.ratelimits(by=by, since=since, until=until, bucket=bucket, **_filters(model))
    if _machine_output(report, by, as_json=as_json, as_csv=as_csv):
        return
    _print(_console(), *ratelimit_tables(report, f"Rate limits, {_period(since, until)}"))


@click.command("retries")
@_report_options("model")
def retries_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    by: tuple[str, ...],
    model: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Calls the SDK had to retry: how many attempts, how many succeeded, time lost.

    \b
    Example:
        oaitrace retries --since 24h
        oaitrace retries --by endpoint --json
    """
    _check_formats(as_json, as_csv)
    with _open_query(database) as query:
        report = query.retries(by=by, since=since, until=until, **_filters(model))
    if _machine_output(report, by, as_json=as_json, as_csv=as_csv):
        return
    console = _console()
    console.print(
        f"{report.calls:,} calls needed retries: {report.attempts:,} attempts, "
        f"{report.succeeded:,} succeeded in the end, "
        f"{report.extra_ms / 1000:,.1f} s spent on retries."
    )
    _print(console, *retry_tables(report, f"Retries, {_period(since, until)}"))


@click.command("slow")
@_database_option
@click.option("--since", type=TIME, default="24h", show_default=True, help="From: 24h, 7d, ISO.")
@click.option("--until", type=TIME, help="Before: 24h, 7d, ISO date.")
@click.option("--model", help="Only this model.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
def slow_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    model: str | None,
    limit: int,
    as_json: bool,
    as_csv: bool,
) -> None:
    """The slowest requests, slowest first.

    \b
    Example:
        oaitrace slow --since 24h -n 10
        oaitrace slow --model gpt-4o --json
    """
    _check_formats(as_json, as_csv)
    with _open_query(database) as query:
        records = query.slowest(since=since, until=until, limit=limit, **_filters(model))
    _emit_records(records, as_json, as_csv, title="Slowest requests")


def _emit_records(
    records: Sequence[RequestRecord], as_json: bool, as_csv: bool, title: str
) -> None:
    if as_json:
        click.echo(_to_json([_plain(record) for record in records]))
    elif as_csv:
        _emit_csv([_flat(record, ()) for record in records])
    elif not records:
        _console().print("No recorded exchanges match.")
    else:
        _console().print(requests_table(records, title=title))


@click.command("tail")
@_database_option
@click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@click.option("-n", "--last", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--max-polls", type=click.IntRange(min=1), hidden=True)
def tail_command(
    *, database: str | None, interval: float, last: int, as_json: bool, max_polls: int | None
) -> None:
    """Follow new requests as they are recorded, until Ctrl-C.

    \b
    Example:
        oaitrace tail
        oaitrace tail --interval 0.5 --json | jq .status_code
    """
    polls = 0
    seen: dict[str, datetime.datetime] = {}
    with _open_query(database) as query:
        try:
            fresh = list(reversed(query.requests(limit=last))) if last else []
            if not fresh:
                # Start from now: remember what exists so only new records print.
                for record in query.requests(since=_lookback(None), limit=1000):
                    seen[record.id] = record.started_at
            while True:
                if fresh:
                    _emit_tail(fresh, as_json)
                    for record in fresh:
                        seen[record.id] = record.started_at
                polls += 1
                if max_polls is not None and polls >= max_polls:
                    return
                time.sleep(interval)
                fresh = _new_records(query, seen)
        except KeyboardInterrupt:
            return


# A record is written when its response ends, so a long stream can arrive
# after records that started later: look back this far for records not seen.
_TAIL_LOOKBACK = datetime.timedelta(minutes=15)


def _lookback(newest: datetime.datetime | None) -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc)
    return min(newest or now, now) - _TAIL_LOOKBACK


def _new_records(query: Query, seen: dict[str, datetime.datetime]) -> list[RequestRecord]:
    since = _lookback(max(seen.values(), default=None))
    records = [r for r in query.requests(since=since, limit=1000) if r.id not in seen]
    # Forget what fell out of the window so memory stays flat.
    for record_id in [key for key, started in seen.items() if started < since]:
        del seen[record_id]
    return sorted(records, key=lambda record: (record.started_at, record.id))


def _emit_tail(records: Sequence[RequestRecord], as_json: bool) -> None:
    if as_json:
        for record in records:
            click.echo(_to_json(_plain(record)).replace("\n", ""))
        return
    console = _console()
    for record in records:
        line = Text()
        line.append(record.started_at.strftime("%H:%M:%S "))
        line.append_text(_status_text(record.status_code))
        line.append(f" {record.operation} {record.response_model or record.request_model or '—'}")
        line.append(f" {record.duration_ms:,.0f} ms")
        if record.input_tokens is not None or record.output_tokens is not None:
            line.append(f" {record.input_tokens or 0}→{record.output_tokens or 0} tok")
        if record.cost_usd is not None:
            line.append(f" {_money(record.cost_usd)}")
        line.append(f" {record.request_id or record.id}", style="dim")
        console.print(line)


@click.command("prune")
@_database_option
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    help="Delete requests older than this: 90d, 12w, 24h, or an ISO date.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def prune_command(*, database: str | None, older_than: str, yes: bool) -> None:
    """Delete old requests with their headers and bodies, in batches.

    \b
    Example:
        oaitrace prune --older-than 90d
        oaitrace prune --older-than 2025-01-01 --yes
    """
    from oaitrace._maintenance import count_older, prune  # noqa: PLC0415

    try:
        before = parse_time(older_than)
    except OaitraceError as error:
        msg = f"Invalid value for '--older-than': {error}"
        raise _OptionError(msg) from None
    url = resolve_database_url(database)
    count = count_older(url, before)
    when = before.strftime("%Y-%m-%d %H:%M:%S UTC")
    if count == 0:
        click.echo(f"No requests older than {when}.")
        return
    if not yes:
        click.confirm(f"Delete {count:,} requests older than {when}?", abort=True)
    with _ProgressBar("Deleting") as advance:
        deleted = prune(url, before, progress=advance)
    click.echo(f"Deleted {deleted:,} requests older than {when}.")


@click.command("reprice")
@_database_option
@click.option("--since", type=TIME, help="Only requests at or after: 30d, ISO date (default: all).")
@click.option("--until", type=TIME, help="Only requests before.")
@click.option(
    "--prices",
    "price_file",
    type=click.Path(dir_okay=False, exists=True),
    help=f"TOML price file (overrides genai-prices). Default: ${PRICE_FILE_ENV}.",
)
def reprice_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    price_file: str | None,
) -> None:
    """Recompute stored costs with the current prices (after an update or a new price file).

    \b
    Example:
        oaitrace reprice --since 30d
        oaitrace reprice --prices prices.toml
    """
    from oaitrace._maintenance import reprice  # noqa: PLC0415

    url = resolve_database_url(database)
    with _ProgressBar("Repricing") as advance:
        seen, changed = reprice(
            url, since=since, until=until, price_file=price_file, progress=advance
        )
    click.echo(f"Repriced {seen:,} requests; {changed:,} costs changed.")


class _ProgressBar:
    """A rich progress bar on stderr; yields `advance(done, total)`."""

    def __init__(self, description: str) -> None:
        self._bar = Progress(
            TextColumn(description),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(description, total=None)

    def __enter__(self) -> Callable[[int, int], None]:
        self._bar.start()

        def advance(done: int, total: int) -> None:
            self._bar.update(self._task, completed=done, total=total or None)

        return advance

    def __exit__(self, *exc_info: object) -> None:
        self._bar.stop()


@click.command("report")
@_database_option
@click.option("--since", type=TIME, default="24h", show_default=True, help="From: 24h, 7d, ISO.")
@click.option("--until", type=TIME, help="Before: 24h, 7d, ISO date (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the overview as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a self-contained HTML report with charts to this file "
    "(needs pip install 'oaitrace[html]').",
)
def report_command(
    *,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    as_json: bool,
    html_path: Path | None,
) -> None:
    """One screen: spend, tokens, errors, latency and rate-limit headroom.

    With --html, one HTML file instead, that opens offline: spend, tokens,
    requests and errors, latency, time to first chunk and rate limits over
    time; top endpoints and tags; the slowest and failed requests.

    \b
    Example:
        oaitrace report
        oaitrace report -d oaitrace-demo.db --since 7d
        oaitrace report --since 30d --html report.html
    """
    if html_path is not None:
        if as_json:
            msg = "choose one of --json and --html"
            raise _OptionError(msg)
        _write_html_report(database, since, until, html_path)
        return
    with _open_query(database) as query:
        costs = query.costs(by=("model",), since=since, until=until)
        failures = query.errors(since=since, until=until, examples=5)
        latency = query.latency(by=("model",), since=since, until=until)
        limits = query.ratelimits(by=("model",), since=since, until=until)
    if as_json:
        overview = {"costs": costs, "errors": failures, "latency": latency, "ratelimits": limits}
        click.echo(_to_json(_plain(overview)))
        return
    console = _console()
    total = costs.total
    console.print(Text(f"oaitrace report, {_period(since, until)}", style="bold"))
    share = f" ({failures.errors / failures.requests:.1%})" if failures.requests else ""
    console.print(
        f"Spend {_money(total.cost_usd)} over {total.requests:,} requests"
        f" ({total.unpriced_requests:,} unpriced); tokens: {total.input_tokens:,} in"
        f" ({total.cached_input_tokens:,} cached), {total.output_tokens:,} out"
        f" ({total.reasoning_tokens:,} reasoning); {failures.errors:,} errors{share};"
        f" p95 {_ms(latency.total.duration.p95)} ms."
    )
    console.print()
    _print(
        console,
        usage_table(costs, "Spend and tokens by model"),
        errors_tables(failures, "Errors")[0] if failures.rows else None,
        latency_table(latency, "Latency by model (ms)") if latency.rows else None,
        ratelimit_tables(limits, "Rate-limit headroom")[0] if limits.rows else None,
    )


def _write_html_report(
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    path: Path,
) -> None:
    from oaitrace import _html_report  # noqa: PLC0415 - plotly is an optional extra

    runtime = _html_report.plotly_js()
    with _open_query(database) as query:
        data = _html_report.collect(query, since=since, until=until)
    page = _html_report.render(data, runtime)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        msg = f"cannot write {path}: {error.strerror or error}"
        raise click.ClickException(msg) from None
    total = data.costs_by_model.total
    click.echo(
        f"Wrote {path} ({len(page.encode()) / 1_000_000:.1f} MB): {total.requests:,} requests,"
        f" {_period(since, until)}, per {data.bucket}."
    )


_COMMANDS = (
    report_command,
    usage_command,
    costs_command,
    errors_command,
    latency_command,
    ratelimits_command,
    retries_command,
    slow_command,
    tail_command,
    prune_command,
    reprice_command,
)


def register_report_commands(group: click.Group) -> None:
    """Add the report commands to the ``oaitrace`` group."""
    for command in _COMMANDS:
        group.add_command(command)
