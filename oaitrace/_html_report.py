"""`oaitrace report --html`: one self-contained HTML file with charts, made from `Query` reports.

Three steps, so the page can be tested without a browser or a database:

- `collect(query, since, until)` asks the query module for every number
  the page shows (the one source of truth; nothing is recomputed here);
- `build_charts(data)` turns those reports into plotly figures (plain
  dicts: traces and layout), already aggregated by time bucket, model,
  endpoint or tag, so the file's size does not grow with the requests;
- `render(data, plotly_js)` fills the page template: the figures as JSON,
  the tables as escaped HTML, and plotly.js inlined. The page loads
  nothing from the network (its Content-Security-Policy forbids it).

plotly (`pip install 'oaitrace[html]'`) is needed only for its
JavaScript runtime, `plotly.min.js`.
"""

from __future__ import annotations

import dataclasses
import datetime
import html
import importlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from oaitrace._overview_reports import TimelineReport
from oaitrace._report_types import (
    ErrorExample,
    ErrorReport,
    LatencyReport,
    RateLimitReport,
    UsageReport,
)
from oaitrace.exceptions import MissingDependencyError
from oaitrace.query import Query, RequestRecord

__all__ = [
    "INSTALL_HINT",
    "ReportData",
    "build_charts",
    "choose_bucket",
    "collect",
    "plotly_js",
    "render",
]

INSTALL_HINT: Final = (
    "the HTML report inlines plotly's JavaScript, and plotly is not installed; "
    "install it with: pip install 'oaitrace[html]'"
)
TABLE_ROWS: Final = 50
TOP_ENDPOINTS: Final = 15
TOP_TAG_NAMES: Final = 5
TOP_TAG_VALUES: Final = 10
TOP_RATE_LIMIT_MODELS: Final = 8
# Up to a week is drawn per hour (at most 168 points a line); longer, per day.
_HOURLY_UP_TO: Final = datetime.timedelta(days=7)
_UTC: Final = datetime.timezone.utc
_MESSAGE_CHARS: Final = 200
_RED: Final = "#d62728"


@dataclasses.dataclass(frozen=True, slots=True)
class ReportData:
    """Every report the page shows, as the query module returned them.

    Attributes:
        since / until: the period (until None: up to `generated_at`).
        generated_at: when the data was read.
        bucket: "hour" or "day", the step of every chart over time.
        costs_by_model: `costs(by="model")`: totals, tokens and spend per model.
        spend: `usage(by=(bucket, "model"))`: spend over time per model.
        timeline: `timeline(bucket)`: requests, error rate and 429s over time.
        latency: `latency(by=(bucket,))`: percentiles over time, and overall.
        ratelimits: `ratelimits(by=(bucket, "model"), bucket=bucket)`.
        endpoints: `usage(by="endpoint")`.
        tag_costs: `costs(by="tag:<name>")` for the most used tag names.
        slowest: `slowest(limit=TABLE_ROWS)`.
        errors: `errors(examples=TABLE_ROWS)`.
    """

    since: datetime.datetime | None
    until: datetime.datetime | None
    generated_at: datetime.datetime
    bucket: str
    costs_by_model: UsageReport
    spend: UsageReport
    timeline: TimelineReport
    latency: LatencyReport
    ratelimits: RateLimitReport
    endpoints: UsageReport
    tag_costs: list[UsageReport]
    slowest: list[RequestRecord]
    errors: ErrorReport


def choose_bucket(
    since: datetime.datetime | None, until: datetime.datetime | None, now: datetime.datetime
) -> str:
    """Per hour for a period of up to a week, per day for longer or unbounded ones."""
    if since is None:
        return "day"
    return "hour" if (until or now) - since <= _HOURLY_UP_TO else "day"


def collect(
    query: Query,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    bucket: str | None = None,
    now: datetime.datetime | None = None,
) -> ReportData:
    """Ask `query` for every report the page shows."""
    generated_at = now or datetime.datetime.now(_UTC)
    step = bucket or choose_bucket(since, until, generated_at)
    tag_names = query.tag_names(since=since, until=until)[:TOP_TAG_NAMES]
    return ReportData(
        since=since,
        until=until,
        generated_at=generated_at,
        bucket=step,
        costs_by_model=query.costs(by=("model",), since=since, until=until),
        spend=query.usage(by=(step, "model"), since=since, until=until),
        timeline=query.timeline(step, since=since, until=until),
        latency=query.latency(by=(step,), since=since, until=until),
        ratelimits=query.ratelimits(by=(step, "model"), since=since, until=until, bucket=step),
        endpoints=query.usage(by=("endpoint",), since=since, until=until),
        tag_costs=[
            query.costs(by=(f"tag:{tag.name}",), since=since, until=until) for tag in tag_names
        ],
        slowest=query.slowest(since=since, until=until, limit=TABLE_ROWS),
        errors=query.errors(since=since, until=until, examples=TABLE_ROWS),
    )


def plotly_js() -> str:
    """plotly.js (minified) from the plotly package; MissingDependencyError with the hint."""
    try:
        offline = importlib.import_module("plotly.offline")
    except ImportError as error:
        raise MissingDependencyError(INSTALL_HINT) from error
    source: str = offline.get_plotlyjs()
    return source


# --- charts ---------------------------------------------------------------------------


def _label(value: object) -> str:
    """A name from the records as plotly text: plotly reads a few HTML tags in labels."""
    text = "(none)" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _dollars(value: Decimal) -> float:
    return float(value)


def _chart(
    chart_id: str,
    title: str,
    description: str,
    traces: list[dict[str, Any]],
    layout: Mapping[str, Any],
) -> dict[str, Any]:
    full_layout: dict[str, Any] = {
        "margin": {"l": 70, "r": 70, "t": 20, "b": 60},
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        **layout,
    }
    if not traces or all(not trace.get("x") for trace in traces):
        full_layout["annotations"] = [
            {
                "text": "No data in this period",
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 16, "color": "#888"},
            }
        ]
    return {
        "id": chart_id,
        "title": title,
        "description": description,
        "data": traces,
        "layout": full_layout,
    }


_STEP_MS: Final = {"day": 86_400_000, "hour": 3_600_000}


def _time_axis(data: ReportData) -> dict[str, Any]:
    """A date axis over the whole period, so one bucket is not stretched over the width."""
    axis: dict[str, Any] = {"type": "date", "title": {"text": f"{data.bucket} (UTC)"}}
    if data.since is not None:
        step = datetime.timedelta(milliseconds=_STEP_MS[data.bucket])
        end = _bucket_start(data.until or data.generated_at, data.bucket) + step
        axis["range"] = [_plotly_time(_bucket_start(data.since, data.bucket)), _plotly_time(end)]
    return axis


def _bucket_start(value: datetime.datetime, bucket: str) -> datetime.datetime:
    start = value.astimezone(_UTC).replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if bucket == "day" else start


def _plotly_time(value: datetime.datetime) -> str:
    return value.astimezone(_UTC).strftime("%Y-%m-%d %H:%M:%S")


def _over_time(data: ReportData, traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each point spans its bucket (bars as wide as a day or an hour), drawn at its middle."""
    step = _STEP_MS[data.bucket]
    period = {"xperiod": step, "xperiodalignment": "middle"}
    bar = {**period, "width": step * 0.9}
    return [{**trace, **(bar if trace["type"] == "bar" else period)} for trace in traces]


def _model_order(data: ReportData) -> list[str | None]:
    """Models, most expensive first, as `costs` ordered them."""
    return [_as_text(row.group.get("model")) for row in data.costs_by_model.rows]


def _as_text(value: object) -> str | None:
    return None if value is None else str(value)


def _spend_chart(data: ReportData) -> dict[str, Any]:
    bucket = data.bucket
    per_model: dict[str | None, list[tuple[str, Decimal]]] = {}
    for row in data.spend.rows:
        model = _as_text(row.group.get("model"))
        per_model.setdefault(model, []).append((str(row.group[bucket]), row.cost_usd))
    traces = [
        {
            "type": "bar",
            "name": _label(model),
            "x": [point[0] for point in per_model[model]],
            "y": [_dollars(point[1]) for point in per_model[model]],
            "customdata": [str(point[1]) for point in per_model[model]],
            "hovertemplate": "%{x}<br>$%{customdata}<extra>%{fullData.name}</extra>",
        }
        for model in _model_order(data)
        if model in per_model
    ]
    return _chart(
        "spend",
        f"Spend per {bucket} by model",
        "US dollars of the priced requests, stacked by model (hover: the exact sum).",
        _over_time(data, traces),
        {
            "barmode": "stack",
            "xaxis": _time_axis(data),
            "yaxis": {"title": {"text": "US dollars"}, "tickprefix": "$", "tickformat": ",.6~f"},
        },
    )


def _tokens_chart(data: ReportData) -> dict[str, Any]:
    rows = data.costs_by_model.rows
    models = [_label(row.group.get("model")) for row in rows]
    measures = (
        ("input", "input_tokens"),
        ("cached input", "cached_input_tokens"),
        ("output", "output_tokens"),
        ("reasoning", "reasoning_tokens"),
    )
    traces = [
        {"type": "bar", "name": name, "x": models, "y": [getattr(row, field) for row in rows]}
        for name, field in measures
    ]
    return _chart(
        "tokens",
        "Tokens by model",
        "Input (cached ones included), cached input, output (reasoning included) and "
        "reasoning tokens, most expensive model first.",
        traces,
        {"barmode": "group", "yaxis": {"title": {"text": "tokens"}}, "xaxis": {"type": "category"}},
    )


def _requests_chart(data: ReportData) -> dict[str, Any]:
    rows = data.timeline.rows
    buckets = [row.bucket for row in rows]
    traces: list[dict[str, Any]] = [
        {"type": "bar", "name": "requests", "x": buckets, "y": [row.requests for row in rows]},
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "error rate",
            "x": buckets,
            "y": [row.error_rate for row in rows],
            "yaxis": "y2",
            "line": {"color": _RED},
        },
    ]
    return _chart(
        "requests",
        f"Requests and error rate per {data.bucket}",
        "HTTP attempts (retries included) and the share that failed (status 400 or above, "
        "or no response).",
        _over_time(data, traces),
        {
            "xaxis": _time_axis(data),
            "yaxis": {"title": {"text": "requests"}},
            "yaxis2": {
                "title": {"text": "error rate"},
                "overlaying": "y",
                "side": "right",
                "tickformat": ".1%",
                "rangemode": "tozero",
            },
        },
    )


def _percentile_traces(
    data: ReportData, measure: str, label: str, dash: str
) -> list[dict[str, Any]]:
    rows = [row for row in data.latency.rows if getattr(row, measure).count > 0]
    buckets = [str(row.group[data.bucket]) for row in rows]
    return [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"{label} p{rank}",
            "x": buckets,
            "y": [getattr(getattr(row, measure), f"p{rank}") for row in rows],
            "line": {"dash": dash},
        }
        for rank in (50, 95, 99)
    ]


def _latency_chart(data: ReportData) -> dict[str, Any]:
    traces = [
        *_percentile_traces(data, "duration", "total", "solid"),
        *_percentile_traces(data, "processing", "openai-processing-ms", "dot"),
    ]
    return _chart(
        "latency",
        f"Latency percentiles per {data.bucket}: total vs openai-processing-ms",
        "p50/p95/p99 of the whole exchange (solid) and of the server's own time (dotted), "
        "successful requests only; the gap is network, queueing and streaming.",
        _over_time(data, traces),
        {"xaxis": _time_axis(data), "yaxis": {"title": {"text": "ms"}}},
    )


def _ttft_chart(data: ReportData) -> dict[str, Any]:
    return _chart(
        "ttft",
        f"Time to first chunk of streams per {data.bucket}",
        "p50/p95/p99 from sending a streamed request to its first content chunk.",
        _over_time(data, _percentile_traces(data, "ttft", "time to first chunk", "solid")),
        {"xaxis": _time_axis(data), "yaxis": {"title": {"text": "ms"}}},
    )


def _ratelimit_chart(data: ReportData, measure: str) -> dict[str, Any]:
    bucket = data.bucket
    field = f"min_remaining_{measure}"
    per_model: dict[str | None, list[tuple[str, int]]] = {}
    for row in data.ratelimits.rows:
        value = getattr(row, field)
        if value is not None:
            model = _as_text(row.group.get("model"))
            per_model.setdefault(model, []).append((str(row.group[bucket]), value))
    ordered = [model for model in _model_order(data) if model in per_model]
    ordered += sorted((model for model in per_model if model not in ordered), key=str)
    traces: list[dict[str, Any]] = []
    for model in ordered[:TOP_RATE_LIMIT_MODELS]:
        points = sorted(per_model[model])
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _label(model),
                "x": [point[0] for point in points],
                "y": [point[1] for point in points],
            }
        )
    limited = data.ratelimits.over_time
    traces.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "429 answers",
            "x": [item.bucket for item in limited],
            "y": [item.rate_limited for item in limited],
            "yaxis": "y2",
            "marker": {"color": _RED, "symbol": "x", "size": 10},
        }
    )
    return _chart(
        f"ratelimit_{measure}",
        f"Rate limits: lowest remaining {measure} per {bucket}, 429s marked",
        f"The lowest x-ratelimit-remaining-{measure} seen per model, and the 429 answers "
        f"(red crosses, right axis).",
        _over_time(data, traces),
        {
            "xaxis": _time_axis(data),
            "yaxis": {"title": {"text": f"remaining {measure}"}, "rangemode": "tozero"},
            "yaxis2": {
                "title": {"text": "429 answers"},
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
            },
        },
    )


def _endpoints_chart(data: ReportData) -> dict[str, Any]:
    rows = sorted(
        data.endpoints.rows,
        key=lambda row: (-row.requests, str(row.group.get("endpoint"))),
    )[:TOP_ENDPOINTS]
    names = [_label(row.group.get("endpoint")) for row in rows]
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "orientation": "h",
            "name": "requests",
            "y": names,
            "x": [row.requests for row in rows],
        },
        {
            "type": "bar",
            "orientation": "h",
            "name": "errors",
            "y": names,
            "x": [row.errors for row in rows],
            "marker": {"color": _RED},
        },
    ]
    return _chart(
        "endpoints",
        "Top endpoints",
        f"The {TOP_ENDPOINTS} endpoints with the most requests, and their errors.",
        traces,
        {
            "barmode": "group",
            "yaxis": {"autorange": "reversed", "type": "category", "automargin": True},
            "xaxis": {"title": {"text": "requests"}},
        },
    )


def _tags_chart(data: ReportData) -> dict[str, Any]:
    traces = []
    for report in data.tag_costs:
        key = report.by[0]
        name = key.removeprefix("tag:")
        rows = [row for row in report.rows if row.group.get(key) is not None][:TOP_TAG_VALUES]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": _label(name),
                "y": [_label(f"{name}={row.group[key]}") for row in rows],
                "x": [_dollars(row.cost_usd) for row in rows],
                "customdata": [str(row.cost_usd) for row in rows],
                "hovertemplate": "%{y}<br>$%{customdata}<extra></extra>",
            }
        )
    return _chart(
        "tags",
        "Most expensive tags",
        f"Spend of the {TOP_TAG_VALUES} most expensive values of each of the "
        f"{TOP_TAG_NAMES} most used tag names.",
        traces,
        {
            "yaxis": {"autorange": "reversed", "type": "category", "automargin": True},
            "xaxis": {"title": {"text": "US dollars"}, "tickprefix": "$", "tickformat": ",.6~f"},
        },
    )


def build_charts(data: ReportData) -> list[dict[str, Any]]:
    """The page's plotly figures, in page order: id, title, description, data, layout."""
    return [
        _spend_chart(data),
        _tokens_chart(data),
        _requests_chart(data),
        _latency_chart(data),
        _ttft_chart(data),
        _ratelimit_chart(data, "requests"),
        _ratelimit_chart(data, "tokens"),
        _endpoints_chart(data),
        _tags_chart(data),
    ]


# --- tables and page ------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return '<td class="none">—</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:,.1f}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    if isinstance(value, datetime.datetime):
        value = value.astimezone(_UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"<td>{html.escape(str(value))}</td>"


def _table(table_id: str, headings: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(heading)}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headings)}" class="none">None in this period.</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _slowest_table(records: Sequence[RequestRecord]) -> str:
    return _table(
        "slowest",
        (
            "started (UTC)",
            "duration ms",
            "server ms",
            "first chunk ms",
            "model",
            "endpoint",
            "status",
            "x-request-id",
            "oaitrace id",
        ),
        [
            (
                record.started_at,
                record.duration_ms,
                record.processing_ms,
                record.ttft_ms,
                record.response_model or record.request_model,
                record.endpoint,
                record.status_code,
                record.request_id,
                record.id,
            )
            for record in records
        ],
    )


def _message(example: ErrorExample) -> str | None:
    message = example.error_message
    if message is not None and len(message) > _MESSAGE_CHARS:
        return message[: _MESSAGE_CHARS - 1] + "…"
    return message


def _failed_table(report: ErrorReport) -> str:
    return _table(
        "failed",
        (
            "started (UTC)",
            "status",
            "error code",
            "error type",
            "message",
            "model",
            "endpoint",
            "x-request-id",
            "oaitrace id",
        ),
        [
            (
                example.started_at,
                example.status_code,
                example.error_code,
                example.error_type,
                _message(example),
                example.model,
                example.endpoint,
                example.request_id,
                example.id,
            )
            for example in report.examples
        ],
    )


def _summary(data: ReportData) -> list[tuple[str, str]]:
    total = data.costs_by_model.total
    errors = data.errors
    share = f" ({errors.errors / errors.requests:.1%})" if errors.requests else ""
    p95 = data.latency.total.duration.p95
    unpriced = ", ".join(
        f"{reason}: {count:,}" for reason, count in data.costs_by_model.unpriced_reasons.items()
    )
    return [
        ("spend", f"${total.cost_usd.normalize():f}" if total.cost_usd else "$0"),
        ("requests", f"{total.requests:,}"),
        ("errors", f"{errors.errors:,}{share}"),
        ("input tokens", f"{total.input_tokens:,} ({total.cached_input_tokens:,} cached)"),
        ("output tokens", f"{total.output_tokens:,} ({total.reasoning_tokens:,} reasoning)"),
        ("p95 latency", "—" if p95 is None else f"{p95:,.0f} ms"),
        ("unpriced", f"{total.unpriced_requests:,}" + (f" ({unpriced})" if unpriced else "")),
    ]


def _period(data: ReportData) -> str:
    def when(value: datetime.datetime | None, default: str) -> str:
        if value is None:
            return default
        return value.astimezone(_UTC).strftime("%Y-%m-%d %H:%M UTC")

    return f"{when(data.since, 'the first request')} to {when(data.until, 'now')}"


def _script_json(value: object) -> str:
    """JSON that cannot end its <script> element early, whatever the records contain."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0 auto;max-width:1400px;padding:16px 24px;color:#222;background:#fff}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.1em;margin:0 0 2px}
.period{color:#555;margin:0 0 16px}
.summary{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 16px;padding:0;list-style:none}
.summary li{border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.summary b{display:block;font-size:.8em;color:#666;font-weight:normal}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(600px,1fr));gap:16px}
.chart-box{border:1px solid #ddd;border-radius:6px;padding:12px}
.chart-box p{color:#555;font-size:.85em;margin:0 0 4px}
.chart{height:380px}
table{border-collapse:collapse;font-size:.85em;margin:4px 0 24px;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.none{color:#999}
section{margin-top:24px}
"""

_SCRIPT: Final = """
(function () {
  var charts = JSON.parse(document.getElementById("oaitrace-charts").textContent);
  charts.forEach(function (chart) {
    Plotly.newPlot(chart.id, chart.data, chart.layout,
      {displaylogo: false, responsive: true});
  });
})();
"""

# No network at all: scripts and styles only inline, images only from data/blob URLs.
_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)


def render(data: ReportData, plotly_js: str) -> str:
    """The whole page as one string: template, figures as JSON, tables, plotly.js inlined."""
    charts = build_charts(data)
    # plotly.min.js holds no "</script"; should a release ever, it must not end the element.
    runtime = plotly_js.replace("</script", "<\\/script")
    boxes = "".join(
        f'<div class="chart-box"><h2>{html.escape(chart["title"])}</h2>'
        f"<p>{html.escape(chart['description'])}</p>"
        f'<div class="chart" id="{chart["id"]}"></div></div>'
        for chart in charts
    )
    summary = "".join(
        f"<li><b>{html.escape(name)}</b>{html.escape(value)}</li>" for name, value in _summary(data)
    )
    generated = data.generated_at.astimezone(_UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>oaitrace report</title>"
        f"<style>{_STYLE}</style>"
        f"<script>{runtime}</script></head><body>"
        "<h1>oaitrace report</h1>"
        f'<p class="period">{html.escape(_period(data))}; per {data.bucket}; '
        f"generated {generated}.</p>"
        f'<ul class="summary">{summary}</ul>'
        f'<div class="charts">{boxes}</div>'
        f"<section><h2>The {TABLE_ROWS} slowest requests</h2>{_slowest_table(data.slowest)}"
        "</section>"
        f"<section><h2>The {TABLE_ROWS} newest failed requests</h2>{_failed_table(data.errors)}"
        "</section>"
        f'<script type="application/json" id="oaitrace-charts">{_script_json(charts)}</script>'
        f"<script>{_SCRIPT}</script>"
        "</body></html>\n"
    )
