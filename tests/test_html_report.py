"""`oaitrace report --html`: the figures equal the query module's, and the page works offline.

The browser tests open the report in headless Chromium (Debian's `chromium`
package) through playwright, which drives that browser and downloads none;
they skip, saying why, when either is missing.
"""

from __future__ import annotations

import datetime
import importlib
import json
import re
import shutil
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oaitrace import _html_report
from oaitrace.cli import cli
from oaitrace.query import Query
from oaitrace.storage import Store
from tests.factories import make_record
from tests.overview_dataset import DAY1, DAY3, store_records

NOW = DAY3 + datetime.timedelta(hours=1)
CHART_IDS = [
    "spend",
    "tokens",
    "requests",
    "latency",
    "ttft",
    "ratelimit_requests",
    "ratelimit_tokens",
    "endpoints",
    "tags",
]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def embedded_charts(page: str) -> dict[str, dict[str, Any]]:
    """The figures the page draws, by chart id, from its JSON data block."""
    found = re.search(
        r'<script type="application/json" id="oaitrace-charts">(.*?)</script>', page, re.DOTALL
    )
    assert found is not None
    return {chart["id"]: chart for chart in json.loads(found.group(1))}


def traces(chart: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {trace["name"]: trace for trace in chart["data"]}


def points(trace: dict[str, Any], axis: str = "y") -> dict[Any, Any]:
    other = "y" if axis == "x" else "x"
    return dict(zip(trace[other], trace[axis], strict=True))


class _Tables(HTMLParser):
    """The text of every cell of every table, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


@pytest.fixture
def database(database_url: str) -> str:
    store_records(database_url)
    return database_url


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    store_records(url)
    return url


def collect(database_url: str) -> _html_report.ReportData:
    with Query(database_url) as query:
        return _html_report.collect(query, since=DAY1, until=DAY3, now=NOW)


class TestFigures:
    """Every number drawn is the query module's, for the hand-built dataset."""

    def test_spend_per_hour_by_model(self, database: str) -> None:
        """One stacked trace per model, most expensive first; exact costs in the hover data."""
        charts = embedded_charts(_html_report.render(collect(database), ""))
        with Query(database) as query:
            expected = query.usage(by=("hour", "model"), since=DAY1, until=DAY3)
            order = query.costs(by="model", since=DAY1, until=DAY3)
        shown = traces(charts["spend"])
        assert [row.group["model"] for row in order.rows] == list(shown)
        for model, trace in shown.items():
            rows = [row for row in expected.rows if row.group["model"] == model]
            assert {row.group["hour"]: float(row.cost_usd) for row in rows} == points(trace)
            assert [str(row.cost_usd) for row in rows] == trace["customdata"]
        assert "0.000465000001" == shown["gpt-4o-mini"]["customdata"][0]

    def test_tokens_by_model(self, database: str) -> None:
        """Input, cached input, output and reasoning tokens per model."""
        charts = embedded_charts(_html_report.render(collect(database), ""))
        with Query(database) as query:
            rows = query.costs(by="model", since=DAY1, until=DAY3).rows
        shown = traces(charts["tokens"])
        for name, field in (
            ("input", "input_tokens"),
            ("cached input", "cached_input_tokens"),
            ("output", "output_tokens"),
            ("reasoning", "reasoning_tokens"),
        ):
            expected = {row.group["model"]: getattr(row, field) for row in rows}
            assert expected == points(shown[name])
        assert 900 == points(shown["reasoning"])["o4-mini"]

    def test_requests_and_error_rate(self, database: str) -> None:
        """Requests and error rate per hour, from `Query.timeline`."""
        charts = embedded_charts(_html_report.render(collect(database), ""))
        with Query(database) as query:
            rows = query.timeline("hour", since=DAY1, until=DAY3).rows
        shown = traces(charts["requests"])
        assert {row.bucket: row.requests for row in rows} == points(shown["requests"])
        assert {row.bucket: row.error_rate for row in rows} == points(shown["error rate"])
        assert [4, 1, 3] == shown["requests"]["y"]

    def test_latency_and_ttft(self, database: str) -> None:
        """Percentiles per hour of the duration, the server's time and time to first chunk."""
        charts = embedded_charts(_html_report.render(collect(database), ""))
        with Query(database) as query:
            rows = query.latency(by="hour", since=DAY1, until=DAY3).rows
        latency = traces(charts["latency"])
        ttft = traces(charts["ttft"])
        for rank in ("p50", "p95", "p99"):
            expected = {row.group["hour"]: getattr(row.duration, rank) for row in rows}
            assert expected == points(latency[f"total {rank}"])
            expected = {
                row.group["hour"]: getattr(row.processing, rank)
                for row in rows
                if row.processing.count
            }
            assert expected == points(latency[f"openai-processing-ms {rank}"])
            expected = {
                row.group["hour"]: getattr(row.ttft, rank) for row in rows if row.ttft.count
            }
            assert expected == points(ttft[f"time to first chunk {rank}"])
        assert {"2025-03-10 09:00": 120.0, "2025-03-11 08:00": 80.0} == points(
            ttft["time to first chunk p50"]
        )

    def test_rate_limits_with_429s(self, database: str) -> None:
        """Lowest remaining requests and tokens per hour and model; the 429s per hour."""
        charts = embedded_charts(_html_report.render(collect(database), ""))
        with Query(database) as query:
            report = query.ratelimits(by=("hour", "model"), since=DAY1, until=DAY3, bucket="hour")
        for measure in ("requests", "tokens"):
            shown = traces(charts[f"ratelimit_{measure}"])
            limited = shown.pop("429 answers")
            assert {item.bucket: item.rate_limited for item in report.over_time} == points(limited)
            for model, trace in shown.items():
                expected = {
                    row.group["hour"]: getattr(row, f"min_remaining_{measure}")
                    for row in report.rows
                    if row.group["model"] == model
                }
                assert expected == points(trace)
        requests = traces(charts["ratelimit_requests"])
        assert {"2025-03-10 09:00": 0} == points(requests["gpt-4o"])
        assert {"2025-03-10 09:00": 1} == points(requests["429 answers"])

    def test_endpoints_and_tags(self, database: str) -> None:
        """Top endpoints by requests; the most expensive values of each tag name."""
        charts = embedded_charts(_html_report.render(collect(database), ""))
        with Query(database) as query:
            endpoints = query.usage(by="endpoint", since=DAY1, until=DAY3).rows
            users = query.costs(by="tag:user", since=DAY1, until=DAY3).rows
            features = query.costs(by="tag:feature", since=DAY1, until=DAY3).rows
        shown = traces(charts["endpoints"])
        assert {row.group["endpoint"]: row.requests for row in endpoints} == points(
            shown["requests"], "x"
        )
        assert ["/v1/chat/completions", "/v1/responses"] == shown["requests"]["y"]
        tags = traces(charts["tags"])
        for name, rows in (("user", users), ("feature", features)):
            tagged = [row for row in rows if row.group[f"tag:{name}"] is not None]
            assert [f"{name}={row.group[f'tag:{name}']}" for row in tagged] == tags[name]["y"]
            assert [str(row.cost_usd) for row in tagged] == tags[name]["customdata"]
        assert "user=alice" == tags["user"]["y"][0]

    def test_tables_of_slowest_and_failed(self, database: str) -> None:
        """The slowest and the failed requests with their x-request-id, as the query gives them."""
        page = _html_report.render(collect(database), "")
        with Query(database) as query:
            slowest = query.slowest(since=DAY1, until=DAY3, limit=50)
            failed = query.errors(since=DAY1, until=DAY3, examples=50).examples
        shown = tables(page)
        assert [record.request_id or "—" for record in slowest] == [
            row[7] for row in shown["slowest"][1:]
        ]
        assert [example.request_id or "—" for example in failed] == [
            row[7] for row in shown["failed"][1:]
        ]
        assert ["429", "rate_limit_exceeded"] == shown["failed"][-1][1:3]

    def test_summary(self, sqlite_database: str) -> None:
        """The headline numbers are the totals of `costs`, `errors` and `latency`."""
        page = _html_report.render(collect(sqlite_database), "")
        assert "<b>spend</b>$0.013942500001</li>" in page
        assert "<b>errors</b>3 (37.5%)</li>" in page

    def test_empty_period(self, sqlite_database: str) -> None:
        """No request in the period: every chart is there, saying so; the tables say none."""
        with Query(sqlite_database) as query:
            data = _html_report.collect(query, since=NOW, now=NOW)
        page = _html_report.render(data, "")
        charts = embedded_charts(page)
        assert CHART_IDS == list(charts)
        assert all(chart["layout"].get("annotations") for chart in charts.values())
        assert page.count("None in this period.") == 2


class TestPage:
    def test_bucket_follows_the_period(self) -> None:
        """Per hour up to a week, per day beyond, and per day without a start."""
        assert "hour" == _html_report.choose_bucket(NOW - datetime.timedelta(days=7), None, NOW)
        assert "day" == _html_report.choose_bucket(NOW - datetime.timedelta(days=8), None, NOW)
        assert "day" == _html_report.choose_bucket(None, None, NOW)

    def test_record_text_cannot_break_out(self, tmp_path: Path) -> None:
        """Model names, tags and messages are escaped in the JSON, the labels and the tables."""
        url = f"sqlite:///{tmp_path / 'evil.db'}"
        evil = "</script><script>alert(1)</script><b>"
        with Store(url) as store:
            store.insert(
                [
                    make_record(
                        started_at=DAY1,
                        request_model=evil,
                        response_model=evil,
                        status_code=400,
                        error_message=evil,
                        tags={"team": evil},
                    )
                ]
            )
        with Query(url) as query:
            page = _html_report.render(_html_report.collect(query, since=DAY1, until=DAY3), "")
        assert "<script>alert(1)" not in page
        assert 1 == page.count('<script type="application/json"')
        shown = traces(embedded_charts(page)["tokens"])
        assert ["&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;"] == shown["input"][
            "x"
        ]

    def test_self_contained(self, sqlite_database: str) -> None:
        """No external script, style, font or image: the runtime is inlined, network forbidden."""
        page = _html_report.render(collect(sqlite_database), "/* runtime */")
        assert "<script>/* runtime */</script>" in page
        assert not re.search(r"<(link|img|iframe)\b", page)
        assert not re.search(r"\b(src|href)\s*=", page)
        assert "default-src 'none'" in page


class TestCommand:
    def test_writes_the_file(self, sqlite_database: str, tmp_path: Path) -> None:
        """`oaitrace report --html` writes one file with plotly inlined and the figures."""
        pytest.importorskip("plotly", reason="needs pip install 'oaitrace[html]'")
        out = tmp_path / "report.html"
        result = CliRunner().invoke(
            cli,
            [
                *("report", "-d", sqlite_database, "--since", "2025-03-10"),
                *("--until", "2025-03-12", "--html", str(out)),
            ],
        )
        assert 0 == result.exit_code, result.output
        assert f"Wrote {out}" in result.output
        assert "8 requests" in result.output
        page = out.read_text(encoding="utf-8")
        assert "plotly.js v" in page
        assert CHART_IDS == list(embedded_charts(page))

    def test_install_hint_without_plotly(
        self, sqlite_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without plotly the command says what to install, with no traceback."""
        real = importlib.import_module

        def no_plotly(name: str, package: str | None = None) -> Any:
            if name.startswith("plotly"):
                raise ImportError(name)
            return real(name, package)

        monkeypatch.setattr(importlib, "import_module", no_plotly)
        out = tmp_path / "report.html"
        result = CliRunner().invoke(cli, ["report", "-d", sqlite_database, "--html", str(out)])
        assert 1 == result.exit_code
        assert "pip install 'oaitrace[html]'" in result.output
        assert "Traceback" not in result.output
        assert not out.exists()

    def test_json_and_html_conflict(self, sqlite_database: str, tmp_path: Path) -> None:
        """--json and --html ask for two different outputs."""
        result = CliRunner().invoke(
            cli, ["report", "-d", sqlite_database, "--json", "--html", str(tmp_path / "r.html")]
        )
        assert 2 == result.exit_code
        assert "choose one of --json and --html" in result.output


# --- in a browser -------------------------------------------------------------------------


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of RGB(A) bytes of an 8-bit, non-interlaced PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data = 8, b""
    width = height = channels = 0
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0)
            channels = {2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    raw = zlib.decompress(data)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for index in range(height):
        start = index * (stride + 1)
        row_filter, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if row_filter == 1:
                line[i] = (line[i] + left) & 0xFF
            elif row_filter == 2:
                line[i] = (line[i] + up) & 0xFF
            elif row_filter == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif row_filter == 4:
                estimate = left + up - corner
                a, b, c = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                nearest = left if a <= b and a <= c else up if b <= c else corner
                line[i] = (line[i] + nearest) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def ink_share(png: bytes) -> float:
    """The share of pixels that are not the background colour (the top-left pixel)."""
    width, height, rows = png_pixels(png)
    channels = len(rows[0]) // width
    background = rows[0][:channels]
    ink = sum(
        1
        for row in rows
        for x in range(0, len(row), channels)
        if row[x : x + channels] != background
    )
    return ink / (width * height)


@dataclass
class OpenedReport:
    """What the browser saw of the report."""

    url: str
    requests: list[str]
    blocked: list[str]
    console_errors: list[str]
    charts: dict[str, dict[str, int]]
    screenshots: dict[str, bytes]


@pytest.fixture(scope="module")
def opened_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenedReport]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Chromium not found: apt-get install -y chromium")
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="the browser tests need playwright: pip install playwright"
    )
    plotly_js = _html_report.plotly_js()
    base = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{base / 'report.db'}"
    store_records(url)
    path = base / "report.html"
    path.write_text(_html_report.render(collect(url), plotly_js), encoding="utf-8")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(base / "profile"),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            requests: list[str] = []
            blocked: list[str] = []
            errors: list[str] = []

            def block(route: Any) -> None:
                if route.request.url.startswith("file:"):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", block)
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on(
                "console",
                lambda message: errors.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri(), wait_until="load")
            for chart_id in CHART_IDS:
                page.wait_for_selector(f"#{chart_id} .main-svg", timeout=15_000)
            charts = page.evaluate(
                """ids => Object.fromEntries(ids.map(id => {
                    const div = document.getElementById(id);
                    return [id, {
                        svgs: div.querySelectorAll('.main-svg').length,
                        traces: div.querySelectorAll('.trace').length,
                        width: div.getBoundingClientRect().width,
                        height: div.getBoundingClientRect().height,
                    }];
                }))""",
                CHART_IDS,
            )
            screenshots = {
                chart_id: page.locator(f"#{chart_id}").screenshot() for chart_id in CHART_IDS
            }
            yield OpenedReport(
                url=path.as_uri(),
                requests=requests,
                blocked=blocked,
                console_errors=errors,
                charts=charts,
                screenshots=screenshots,
            )
        finally:
            context.close()


class TestInChromium:
    def test_no_console_errors(self, opened_report: OpenedReport) -> None:
        """The page loads without a script error or a Content-Security-Policy violation."""
        assert [] == opened_report.console_errors

    def test_no_network(self, opened_report: OpenedReport) -> None:
        """The page asks for nothing but itself."""
        assert [opened_report.url] == opened_report.requests
        assert [] == opened_report.blocked

    def test_every_chart_drawn(self, opened_report: OpenedReport) -> None:
        """Each chart has plotly's SVG with its traces in the DOM, at a real size."""
        for chart_id, found in opened_report.charts.items():
            assert found["svgs"] >= 1, chart_id
            assert found["traces"] >= 1, chart_id
            assert found["width"] > 300, chart_id
            assert found["height"] > 300, chart_id

    def test_screenshots_not_blank(self, opened_report: OpenedReport) -> None:
        """Each chart's screenshot has axes, labels and marks: not a blank box."""
        for chart_id, png in opened_report.screenshots.items():
            assert ink_share(png) > 0.01, chart_id
