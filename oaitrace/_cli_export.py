"""``oaitrace export``: recorded exchanges out to other tools.

``export otlp`` replays stored attempts as OpenTelemetry spans to any OTLP/HTTP
endpoint (a collector, Jaeger, Tempo, Honeycomb ...), with the very
attributes live spans get (`oaitrace._otel.span_attributes`). ``export
jsonl`` and ``export csv`` write the records as they are.

Registered by `oaitrace.cli` (import that, not this module, first).
"""

from __future__ import annotations

import csv
import datetime
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oaitrace._otel import replay_span
from oaitrace.cli import TIME, _database_option, _fields, _Group, _json_default, _open_query
from oaitrace.exceptions import MissingDependencyError

if TYPE_CHECKING:
    from oaitrace.query import RequestDetail, RequestRecord

__all__ = ["export_group"]

_INSTALL_HINT: Final = (
    "`oaitrace export otlp` needs the OpenTelemetry SDK and OTLP exporter; "
    "install them with: pip install 'oaitrace[otlp]'"
)
# Spans handed to the exporter per request (the SDK's batch processor default).
_EXPORT_BATCH: Final = 512
_ALL: Final = sys.maxsize


def _export() -> None:
    """Send recorded exchanges to other tools: OTLP spans, JSON lines or CSV.

    \b
    Example:
        oaitrace export otlp --endpoint http://localhost:4318 --since 24h
        oaitrace export jsonl -o requests.jsonl --since 7d
        oaitrace export csv --since 2025-01-01 > requests.csv
    """


# Typed explicitly: mypy cannot infer through the import cycle with oaitrace.cli.
export_group: click.Group = click.group("export", cls=_Group)(_export)


def _range_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option("--until", type=TIME, help="Only exchanges before: 24h, 7d, ISO date.")(
        function
    )
    function = click.option(
        "--since", type=TIME, help="Only exchanges at or after: 24h, 7d, 30m, ISO date."
    )(function)
    function = click.option(
        "-n",
        "--limit",
        type=click.IntRange(min=1),
        default=None,
        help="At most this many of the newest exchanges. Default: all.",
    )(function)
    return _database_option(function)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


@contextmanager
def _progress(console: Console, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal; `advance(n)` moves it."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)


# --- otlp ------------------------------------------------------------------------


def _traces_url(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = f"--endpoint must be an http(s) URL such as http://localhost:4318, not {endpoint!r}"
        raise click.BadParameter(msg, param_hint="--endpoint")
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def _headers(values: Sequence[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, equals, content = value.partition("=")
        if not equals or not name.strip():
            msg = f"--header takes NAME=VALUE, not {value!r}"
            raise click.BadParameter(msg, param_hint="--header")
        headers[name.strip()] = content.strip()
    return headers


class _Replayer:
    """Turns stored attempts into spans and sends them, batch by batch, counting failures.

    Spans are collected and exported directly rather than through a
    BatchSpanProcessor, whose bounded queue would drop spans made faster
    than they can be sent.
    """

    def __init__(self, endpoint: str, headers: dict[str, str], service_name: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
                OTLPSpanExporter,
            )
            from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
            from opentelemetry.sdk.trace import (  # noqa: PLC0415
                ReadableSpan,
                SpanProcessor,
                TracerProvider,
            )
            from opentelemetry.sdk.trace.export import SpanExportResult  # noqa: PLC0415
        except ImportError as error:
            raise MissingDependencyError(_INSTALL_HINT) from error

        from oaitrace import __version__, _otel_names  # noqa: PLC0415

        finished: list[ReadableSpan] = []

        class Collect(SpanProcessor):
            def on_end(self, span: ReadableSpan) -> None:
                finished.append(span)

        self._finished = finished
        self._success = SpanExportResult.SUCCESS
        self._exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers or None)
        self._provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self._provider.add_span_processor(Collect())
        self._tracer = self._provider.get_tracer(
            _otel_names.INSTRUMENTATION_NAME, __version__, schema_url=_otel_names.SCHEMA_URL
        )
        self.sent = 0
        self.failed = 0

    def add(self, detail: RequestDetail) -> int:
        """Make the span of one attempt; returns how many spans were sent just now."""
        replay_span(self._tracer, detail.record, detail.extra, detail.usage_details)
        if len(self._finished) >= _EXPORT_BATCH:
            return self.send()
        return 0

    def send(self) -> int:
        """Export the spans made so far."""
        batch = list(self._finished)
        self._finished.clear()
        if not batch:
            return 0
        if self._exporter.export(batch) == self._success:
            self.sent += len(batch)
        else:
            self.failed += len(batch)
        return len(batch)

    def close(self) -> None:
        self._exporter.shutdown()  # type: ignore[no-untyped-call]  # not annotated upstream
        self._provider.shutdown()


@export_group.command("otlp")
@click.option(
    "--endpoint",
    required=True,
    metavar="URL",
    help="OTLP/HTTP traces URL; /v1/traces is added to a URL without a path.",
)
@click.option(
    "--header",
    "header_values",
    multiple=True,
    metavar="NAME=VALUE",
    help="A header to send with each export (an API key, say). Repeatable.",
)
@click.option("--service-name", default="oaitrace", show_default=True, help="service.name.")
@_range_options
def export_otlp_command(
    *,
    endpoint: str,
    header_values: tuple[str, ...],
    service_name: str,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    limit: int | None,
) -> None:
    """Replay recorded exchanges as OpenTelemetry spans to an OTLP/HTTP endpoint.

    Each attempt becomes one CLIENT span with its recorded start and end
    times and the same GenAI attributes live spans carry (message content
    is not replayed). Replayed spans are roots: the application's parent
    spans are not stored. Needs `pip install 'oaitrace[otlp]'`.

    \b
    Example:
        oaitrace export otlp --endpoint http://localhost:4318 --since 24h
        oaitrace export otlp --endpoint https://api.honeycomb.io \\
            --header x-honeycomb-team=$HONEYCOMB_API_KEY --since 7d
    """
    url = _traces_url(endpoint)
    headers = _headers(header_values)
    replayer = _Replayer(url, headers, service_name)
    console = _stderr()
    try:
        with _open_query(database) as query:
            details = query.details(since, until, limit or _ALL, bodies=False)
        with _progress(console, "Exporting spans", len(details)) as advance:
            for detail in reversed(details):
                advance(replayer.add(detail))
            advance(replayer.send())
    finally:
        replayer.close()
    if replayer.failed:
        msg = f"{replayer.failed} of {len(details)} spans could not be delivered to {url}"
        raise click.ClickException(msg)
    console.print(f"Exported {replayer.sent} spans to {url}")


# --- jsonl / csv -----------------------------------------------------------------


def _records(
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    limit: int | None,
) -> list[RequestRecord]:
    with _open_query(database) as query:
        records = query.requests(since, until, limit or _ALL)
    records.reverse()  # oldest first, as logs are read
    return records


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    if isinstance(value, (Decimal, datetime.datetime)):
        return _json_default(value)
    return value


def _write_jsonl(
    records: Sequence[RequestRecord], out: IO[str], advance: Callable[[int], None]
) -> None:
    for record in records:
        out.write(json.dumps(_fields(record), default=_json_default, ensure_ascii=False))
        out.write("\n")
        advance(1)


def _write_csv(
    records: Sequence[RequestRecord], out: IO[str], advance: Callable[[int], None]
) -> None:
    writer: Any = None
    for record in records:
        fields = _fields(record)
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(fields))
            writer.writeheader()
        writer.writerow({name: _csv_cell(value) for name, value in fields.items()})
        advance(1)


def _export_file(
    *,
    kind: str,
    output: str,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    limit: int | None,
) -> None:
    records = _records(database, since, until, limit)
    console = _stderr()
    write = _write_jsonl if kind == "jsonl" else _write_csv
    newline = "" if kind == "csv" else None
    with _output(output, newline) as out, _progress(console, kind, len(records)) as advance:
        write(records, out, advance)
    if output != "-":
        console.print(f"Wrote {len(records)} records to {output}")


@contextmanager
def _output(path: str, newline: str | None) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline=newline) as out:
        yield out


_OUTPUT = click.option(
    "-o",
    "--output",
    default="-",
    metavar="FILE",
    help="Where to write; default: standard output.",
)


@export_group.command("jsonl")
@_OUTPUT
@_range_options
def export_jsonl_command(
    *,
    output: str,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    limit: int | None,
) -> None:
    """Write recorded exchanges as JSON lines, one record per line, oldest first.

    Costs are strings (exact decimals), times ISO 8601 in UTC.

    \b
    Example:
        oaitrace export jsonl --since 24h | jq -c 'select(.status_code >= 400)'
    """
    _export_file(
        kind="jsonl", output=output, database=database, since=since, until=until, limit=limit
    )


@export_group.command("csv")
@_OUTPUT
@_range_options
def export_csv_command(
    *,
    output: str,
    database: str | None,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    limit: int | None,
) -> None:
    """Write recorded exchanges as CSV with a header row, oldest first.

    Missing values are empty cells; tags and finish reasons are JSON.

    \b
    Example:
        oaitrace export csv -o requests.csv --since 2025-01-01
    """
    _export_file(
        kind="csv", output=output, database=database, since=since, until=until, limit=limit
    )
