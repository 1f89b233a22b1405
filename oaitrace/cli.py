"""The ``oaitrace`` command: look at recorded exchanges, migrate the database, run the demo.

A thin layer over :mod:`oaitrace.query` and :mod:`oaitrace.storage`: it parses
options, calls them, and renders tables (rich) or JSON. User mistakes are
printed as one ``Error: ...`` line, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import click
from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from oaitrace import __version__
from oaitrace._timespec import parse_time
from oaitrace.exceptions import OaitraceError
from oaitrace.query import Query, RequestDetail, RequestRecord
from oaitrace.storage import current_revision, head_revision, resolve_database_url, upgrade
from oaitrace.storage._engine import DEFAULT_DATABASE_URL, sqlite_path

__all__ = ["cli", "main", "requests_table"]

_F = TypeVar("_F", bound=Callable[..., Any])

DATABASE_ENV = "OAITRACE_DATABASE_URL"

# The order `show` lists a record's fields in; a field not named here still
# appears, under "Other", so a new RequestRecord field is never hidden.
_SHOW_SECTIONS: dict[str, tuple[str, ...]] = {
    "Request": (
        "id",
        "request_id",
        "started_at",
        "method",
        "url",
        "host",
        "path",
        "endpoint",
        "operation",
        "request_model",
        "stream",
        "retry_attempt",
        "tags",
        "api_key_fingerprint",
        "request_bytes",
    ),
    "Response": (
        "status_code",
        "complete",
        "response_model",
        "response_id",
        "finish_reasons",
        "response_content_type",
        "response_bytes",
        "response_truncated",
        "error_type",
        "error_code",
        "error_message",
        "retry_after_s",
        "parse_error",
        "openai_version",
        "organization",
        "project",
    ),
    "Timings (ms)": ("duration_ms", "ttfb_ms", "ttft_ms", "processing_ms"),
    "Usage": (
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "cost_usd",
        "cost_reason",
        "service_tier",
        "price_source",
        "price_model",
        "price_provider",
        "usage_details",
    ),
    "Rate limits": (
        "ratelimit_limit_requests",
        "ratelimit_remaining_requests",
        "ratelimit_reset_requests_s",
        "ratelimit_limit_tokens",
        "ratelimit_remaining_tokens",
        "ratelimit_reset_tokens_s",
    ),
}
# Detail fields rendered in their own blocks rather than in the field tables.
_BLOCK_FIELDS = ("request_headers", "response_headers", "request_body", "response_body")


class _OptionError(click.ClickException):
    """A bad option value: one ``Error:`` line (no usage dump) and exit code 2, like click's."""

    exit_code = 2


class _Group(click.Group):
    """A click group that turns oaitrace's own errors into clean one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; an OaitraceError becomes ``Error: <message>``, exit code 1."""
        try:
            return super().invoke(ctx)
        except OaitraceError as error:
            raise click.ClickException(str(error)) from error


class _TimeType(click.ParamType[datetime.datetime]):
    """A point in time: ``24h``, ``7d``, ``30m``, ``90s`` back from now, or an ISO date/time."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime.datetime:
        """Parse ``value``; a bad one is a one-line error naming the option."""
        if isinstance(value, datetime.datetime):
            return value
        try:
            return parse_time(str(value))
        except OaitraceError as error:
            where = f" for {param.get_error_hint(ctx)}" if param is not None and ctx else ""
            msg = f"Invalid value{where}: {error}"
            raise _OptionError(msg) from None


TIME = _TimeType()


def _database_option(function: _F) -> _F:
    return click.option(
        "-d",
        "--database",
        metavar="PATH|URL",
        default=None,
        help=(
            f"SQLite file or database URL. Default: ${DATABASE_ENV}, else sqlite:///oaitrace.db."
        ),
    )(function)


def _json_option(function: _F) -> _F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        function
    )


# Tables have many columns; when output is not a terminal (a pipe, a CI
# log) rich would squeeze them into 80 columns until they are unreadable.
_PIPE_WIDTH = 200


def _console() -> Console:
    # Created per command so output goes to whatever sys.stdout is now (CliRunner swaps it).
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = _PIPE_WIDTH
    return console


def _display_url(database_url: str) -> str:
    """The URL without its password, fit to print."""
    return make_url(database_url).render_as_string(hide_password=True)


# Where `oaitrace demo` records unless told otherwise: a file of its own, so
# that it never mixes made-up calls into an application's oaitrace.db.
DEMO_DATABASE = "oaitrace-demo.db"


def reading_url(database: str | None) -> str:
    """The database a reading command opens: -d, else the default, else the demo's.

    A new user runs `oaitrace demo`, then `oaitrace report`. With no -d, no
    $OAITRACE_DATABASE_URL and no oaitrace.db here, but the demo's database
    here, that is what they mean: it is read, and stderr says so.
    """
    if database is None and not os.environ.get(DATABASE_ENV):
        default = sqlite_path(DEFAULT_DATABASE_URL)
        if default is not None and not default.exists() and os.path.exists(DEMO_DATABASE):
            click.echo(
                f"No {default} here: reading the demo's {DEMO_DATABASE} (-d chooses a database).",
                err=True,
            )
            return resolve_database_url(DEMO_DATABASE)
    return resolve_database_url(database)


@contextmanager
def _open_query(database: str | None) -> Iterator[Query]:
    query = Query(reading_url(database))
    try:
        yield query
    finally:
        query.close()


# --- values -> text / JSON ---------------------------------------------------


def _fields(value: object, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Public fields of a record or detail object, in declaration order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [field.name for field in dataclasses.fields(value)]
    else:
        names = [
            name
            for name in dir(value)
            if not name.startswith("_") and not callable(getattr(value, name))
        ]
    return {name: getattr(value, name) for name in names if name not in exclude}


def _json_default(value: object) -> object:
    """JSON for what the json module cannot encode: Decimal as a string, times as ISO."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    return str(value)


def _to_json(value: object) -> str:
    return json.dumps(value, default=_json_default, indent=2, ensure_ascii=False)


def _body_text(body: object) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    return str(body)


def _parsed_body(body: object) -> object:
    """A body as JSON when it is JSON, else as text (an SSE stream, say)."""
    text = _body_text(body)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _cell(value: object) -> str:
    """A value as table text; missing values show as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, default=_json_default, ensure_ascii=False) if value else "—"
    return str(value)


def _status_text(status_code: int | None) -> Text:
    if status_code is None:
        return Text("—", style="red")
    style = "green" if status_code < 300 else "yellow" if status_code < 500 else "red"
    return Text(str(status_code), style=style)


def _header_items(headers: object) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(name), str(value)) for name, value in headers.items()]
    if isinstance(headers, Iterable) and not isinstance(headers, (str, bytes)):
        return [(str(pair[0]), str(pair[1])) for pair in headers]
    return []


# --- renderers ---------------------------------------------------------------


def requests_table(records: Sequence[RequestRecord], title: str | None = None) -> Table:
    """A rich table of exchanges, one row each, as ``oaitrace requests`` prints it.

    The id column shows OpenAI's ``x-request-id`` and falls back to oaitrace's
    own id when no response carried one; ``oaitrace show`` accepts either.
    """
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("request id", no_wrap=True)
    table.add_column("operation")
    table.add_column("model")
    table.add_column("status", justify="right")
    table.add_column("ms", justify="right")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("stream", justify="center")
    table.add_column("complete", justify="center")
    for record in records:
        duration = record.duration_ms
        table.add_row(
            record.started_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            Text(record.request_id or record.id),
            Text(record.operation or "—"),
            Text(record.response_model or record.request_model or "—"),
            _status_text(record.status_code),
            "—" if duration is None else f"{duration:,.0f}",
            _cell(record.input_tokens),
            _cell(record.output_tokens),
            "yes" if record.stream else "no",
            Text("yes", style="green") if record.complete else Text("no", style="red"),
        )
    return table


def _field_table(title: str, items: Iterable[tuple[str, object]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in items:
        table.add_row(name, Text(_cell(value)))
    return table


def _headers_table(title: str, headers: object) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
    table.add_column("header", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in _header_items(headers):
        table.add_row(Text(name), Text(value))
    return table


def _body_renderable(title: str, body: object) -> RenderableType:
    text = _body_text(body)
    if text is None:
        return Text(f"{title}: not captured", style="dim")
    if not text:
        return Text(f"{title}: empty", style="dim")
    parsed = _parsed_body(text)
    if isinstance(parsed, str):
        content: RenderableType = Text(text)
    else:
        content = Syntax(_to_json(parsed), "json", word_wrap=True, theme="ansi_dark")
    return Panel(content, title=title, title_align="left")


def _detail_fields(detail: RequestDetail) -> dict[str, Any]:
    """Every field of a detail: the record's, then the detail's own (but not `record`)."""
    return {**_fields(detail.record), **_fields(detail, exclude=("record",))}


def _render_detail(console: Console, detail: RequestDetail) -> None:
    values = _detail_fields(detail)
    shown: set[str] = set(_BLOCK_FIELDS)
    sections: list[RenderableType] = []
    for title, names in _SHOW_SECTIONS.items():
        present = [(name, values[name]) for name in names if name in values]
        shown.update(names)
        if present:
            sections.append(_field_table(title, present))
    others = [(name, value) for name, value in values.items() if name not in shown]
    if others:
        sections.append(_field_table("Other", others))
    sections.append(_headers_table("Request headers (secrets redacted)", detail.request_headers))
    sections.append(_headers_table("Response headers", detail.response_headers))
    sections.append(_body_renderable("Request body", detail.request_body))
    sections.append(_body_renderable("Response body", detail.response_body))
    heading = f"{detail.record.operation} {detail.record.request_model or ''}".strip()
    console.print(Text(heading, style="bold"))
    for section in sections:
        console.print(section)
        console.print()


# --- commands ----------------------------------------------------------------


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oaitrace")
def cli() -> None:
    """Look at the OpenAI API exchanges oaitrace recorded.

    \b
    Example:
        oaitrace demo                      # record a few calls to a local fake API
        oaitrace requests --since 24h      # what happened today
        oaitrace show req_8c2a...          # one exchange in full
    """


@cli.command("requests")
@_database_option
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="At most this many rows.",
)
@click.option("--since", type=TIME, help="Only exchanges at or after: 24h, 7d, 30m, ISO date.")
@click.option("--until", type=TIME, help="Only exchanges before: 24h, 7d, 30m, ISO date.")
@click.option("--model", help="Only this model (as requested or as answered).")
@click.option("--status", "status_code", type=int, help="Only this HTTP status, e.g. 429.")
@_json_option
def requests_command(
    *,
    database: str | None,
    limit: int,
    since: datetime.datetime | None,
    until: datetime.datetime | None,
    model: str | None,
    status_code: int | None,
    as_json: bool,
) -> None:
    """List recent exchanges, newest first.

    \b
    Example:
        oaitrace requests --since 24h
        oaitrace requests --model gpt-4o-mini --status 429 -n 10
        oaitrace requests -d traces.db --json | jq '.[].request_id'
    """
    filters: dict[str, object] = {}
    if model is not None:
        filters["model"] = model
    if status_code is not None:
        filters["status_code"] = status_code
    with _open_query(database) as query:
        records = query.requests(since=since, until=until, limit=limit, **filters)
    if as_json:
        click.echo(_to_json([_fields(record) for record in records]))
        return
    console = _console()
    if not records:
        console.print("No recorded exchanges match.")
        return
    console.print(requests_table(records))


@cli.command("show")
@click.argument("request_id", metavar="ID")
@_database_option
@_json_option
def show_command(*, request_id: str, database: str | None, as_json: bool) -> None:
    """Show one exchange in full: fields, timings, usage, headers and bodies.

    ID is OpenAI's x-request-id (req_...) or oaitrace's own id. Secrets in
    headers were redacted before they were stored. With --json, bodies that
    are JSON are embedded as JSON, others (such as streams) as text.

    \b
    Example:
        oaitrace show req_8c2a4f0e1b7d4a33b7d0c1e2f3a4b5c6
        oaitrace show req_8c2a4f0e1b7d4a33b7d0c1e2f3a4b5c6 --json | jq .usage_details
    """
    with _open_query(database) as query:
        detail = query.detail(request_id)
    if detail is None:
        msg = f"no recorded exchange has the id {request_id!r}; list them with `oaitrace requests`"
        raise click.ClickException(msg)
    if as_json:
        values = _detail_fields(detail)
        values["request_body"] = _parsed_body(detail.request_body)
        values["response_body"] = _parsed_body(detail.response_body)
        click.echo(_to_json(values))
        return
    _render_detail(_console(), detail)


@cli.group("db", cls=_Group)
def db_group() -> None:
    """Create, migrate and inspect the oaitrace database.

    \b
    Example:
        oaitrace db upgrade -d traces.db
        oaitrace db current -d postgresql://user@host/traces
    """


@db_group.command("upgrade")
@_database_option
def db_upgrade_command(*, database: str | None) -> None:
    """Create the database if needed and migrate it to the newest schema.

    Running it again does nothing.

    \b
    Example:
        oaitrace db upgrade -d traces.db
    """
    url = resolve_database_url(database)
    upgrade(url)
    click.echo(f"{_display_url(url)} is at revision {current_revision(url)} (head)")


@db_group.command("summarise")
@_database_option
@click.option(
    "--since",
    type=TIME,
    default=None,
    metavar="WHEN",
    help="Only hours from then (24h, 7d, ISO time). Default: every hour recorded.",
)
def db_summarise_command(*, database: str | None, since: datetime.datetime | None) -> None:
    """Summarise every complete hour and day, so the first reports over them are quick.

    Reports keep what they compute of each complete hour (usage, rate
    limits, latency) and reuse it; recorders summarise each hour as it ends.
    Hours recorded before either did (a database upgraded from an older
    oaitrace) are summarised by the first report over them, or here.
    Running it again only checks them.

    \b
    Example:
        oaitrace db summarise -d traces.db --since 30d
    """
    start = time.monotonic()
    with _open_query(database) as query:
        query.usage(by=("model", "endpoint"), since=since)
        query.ratelimits(by=("model",), since=since)
        query.latency(by=("model", "endpoint"), since=since)
    click.echo(f"Summaries are ready ({time.monotonic() - start:.1f} s).")


@db_group.command("current")
@_database_option
def db_current_command(*, database: str | None) -> None:
    """Print the schema revision the database is at.

    \b
    Example:
        oaitrace db current -d traces.db
    """
    url = resolve_database_url(database)
    revision = current_revision(url)
    if revision is None:
        click.echo(f"{_display_url(url)} has no oaitrace schema; run `oaitrace db upgrade`")
        return
    state = "head" if revision == head_revision() else f"head is {head_revision()}"
    click.echo(f"{_display_url(url)} is at revision {revision} ({state})")


@cli.command("demo")
@click.option(
    "-d",
    "--database",
    metavar="PATH",
    default=DEMO_DATABASE,
    show_default=True,
    help="SQLite file to record into; replaced on each run unless --keep.",
)
@click.option("--keep", is_flag=True, help="Add to the demo database instead of replacing it.")
def demo_command(*, database: str, keep: bool) -> None:
    """Record a few OpenAI SDK calls to a local fake OpenAI API, then show them.

    Starts an OpenAI-compatible server on 127.0.0.1 (nothing leaves your
    machine, no API key needed), calls it with the real openai SDK through
    oaitrace: chat, a streamed chat, embeddings, Responses (plain and
    streamed), a rate-limited call that the SDK retries, and a server error.
    Needs the openai package.

    \b
    Example:
        oaitrace demo
        oaitrace report -d oaitrace-demo.db
    """
    # Imported here: the demo pulls in the openai SDK, which other commands never need.
    from oaitrace._demo import run_demo  # noqa: PLC0415

    console = _console()
    result = run_demo(database, keep=keep, console=console)
    records = sorted(result.records, key=lambda record: record.started_at)
    console.print()
    console.print(requests_table(records, title="Recorded by oaitrace"))
    errors = sum(1 for r in records if r.status_code is None or r.status_code >= 400)
    tokens_in = sum(r.input_tokens or 0 for r in records)
    tokens_out = sum(r.output_tokens or 0 for r in records)
    console.print(
        f"{len(records)} requests, {errors} errors, "
        f"{tokens_in:,} tokens in, {tokens_out:,} tokens out."
    )
    console.print(f"Database: {result.database_path}")
    if not result.flushed:
        console.print("[yellow]Some requests were still being written when the demo ended.[/]")
    example = next((r.request_id or r.id for r in records if r.operation == "chat"), "<id>")
    console.print("Next, try:")
    console.print(Text(f"  oaitrace report -d {result.database_path}"))
    console.print(Text(f"  oaitrace requests -d {result.database_path}"))
    console.print(Text(f"  oaitrace requests -d {result.database_path} --status 429"))
    console.print(Text(f"  oaitrace show {example} -d {result.database_path}"))


@cli.command("demo-server")
@click.option(
    "--port", default=8765, show_default=True, type=int, help="Port on 127.0.0.1 (0: any free one)."
)
@click.option(
    "--chunk-delay", default=0.05, show_default=True, type=float, help="Seconds between chunks."
)
def demo_server_command(*, port: int, chunk_delay: float) -> None:
    """Serve the built-in OpenAI-compatible API until interrupted, for trying examples offline.

    \b
    Example:
        oaitrace demo-server --port 8765 &
        OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=sk-demo \\
            python examples/quickstart.py
    """
    from oaitrace._demo_server import DemoServer  # noqa: PLC0415

    # Started in the background of a script (`... &`), a process inherits
    # SIGINT ignored and could then only be killed; this command stops on it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with DemoServer(port, chunk_delay_s=chunk_delay) as server:
        click.echo(f"Serving an OpenAI-compatible API at {server.base_url} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


def main() -> None:
    """Run the ``oaitrace`` command line (the console-script entry point)."""
    cli(prog_name="oaitrace")


# Last: the export commands import this module's options.
from oaitrace._cli_export import export_group  # noqa: E402

cli.add_command(export_group)

# Last, like the export commands: the report commands import this module's helpers.
from oaitrace._cli_reports import register_report_commands  # noqa: E402

register_report_commands(cli)
