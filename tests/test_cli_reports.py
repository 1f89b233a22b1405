"""The report commands of ``oaitrace``: tables, --json, --csv, clean errors, maintenance."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from oaitrace.cli import cli
from oaitrace.pricing import Pricer
from oaitrace.query import Query
from oaitrace.storage import Store
from tests.factories import make_record
from tests.test_cli import WIDE, assert_one_line_error
from tests.test_reports import RECORDS

SINCE = ("--since", "2025-01-01")


@pytest.fixture
def database(tmp_path: Path) -> str:
    """The hand-built dataset of test_reports in a SQLite file."""
    path = tmp_path / "reports.db"
    with Store(str(path)) as store:
        store.insert(list(RECORDS))
    return str(path)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env=WIDE)


def invoke(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


class TestTables:
    def test_usage_table(self, runner: CliRunner, database: str) -> None:
        """usage prints one row per model and a total row with the exact spend."""
        output = invoke(runner, "usage", "-d", database, *SINCE)

        for text in ("gpt-4o-mini", "llama-3.1-70b", "total", "1,310", "$0.0053", "unpriced"):
            assert text in output

    def test_costs_table_lists_unpriced_reasons(self, runner: CliRunner, database: str) -> None:
        """costs ranks by spend and says why some requests have no price."""
        output = invoke(runner, "costs", "-d", database, *SINCE)

        assert output.index("gpt-4o ") < output.index("gpt-4o-mini")
        assert "unknown_model 1" in output

    def test_errors_table(self, runner: CliRunner, database: str) -> None:
        """errors counts failures and shows the latest with their x-request-id."""
        output = invoke(runner, "errors", "-d", database, *SINCE, "--over", "day")

        for text in ("3 failed of 7 requests", "rate_limit_exceeded", "req_g", "2025-01-16"):
            assert text in output

    def test_latency_table(self, runner: CliRunner, database: str) -> None:
        """latency shows percentiles per model and endpoint."""
        output = invoke(runner, "latency", "-d", database, *SINCE, "--by", "model")

        assert "total p50" in output
        assert "gpt-4o-mini" in output

    def test_ratelimits_table(self, runner: CliRunner, database: str) -> None:
        """ratelimits shows headroom, lowest first, and 429s over time."""
        output = invoke(runner, "ratelimits", "-d", database, *SINCE)

        for text in ("0.0%", "10.0%", "2025-01-15 12:00", "429 over time"):
            assert text in output

    def test_retries_table(self, runner: CliRunner, database: str) -> None:
        """retries summarises retried calls and lists the most delayed."""
        output = invoke(runner, "retries", "-d", database, *SINCE)

        assert "1 calls needed retries: 2 attempts, 1 succeeded" in output
        assert "3.0" in output

    def test_slow_table(self, runner: CliRunner, database: str) -> None:
        """slow lists the slowest requests first."""
        output = invoke(runner, "slow", "-d", database, *SINCE, "-n", "2")

        assert output.index("req_g") < output.index("req_e")

    def test_report_overview(self, runner: CliRunner, database: str) -> None:
        """report puts spend, tokens, errors, latency and headroom on one screen."""
        output = invoke(runner, "report", "-d", database, *SINCE)

        for text in ("Spend $0.0053", "1,310 in", "3 errors", "Latency", "Rate-limit headroom"):
            assert text in output


class TestMachineOutput:
    def test_usage_json(self, runner: CliRunner, database: str) -> None:
        """--json prints the whole report; costs are exact decimal strings."""
        report = json.loads(invoke(runner, "usage", "-d", database, *SINCE, "--json"))

        expected = (["model"], "0.005300000001", 7, {"model": "gpt-4o"})
        actual = (
            report["by"],
            report["total"]["cost_usd"],
            report["total"]["requests"],
            report["rows"][0]["group"],
        )
        assert expected == actual

    def test_costs_csv(self, runner: CliRunner, database: str) -> None:
        """--csv prints one flat row per group with the group keys first."""
        output = invoke(runner, "costs", "-d", database, *SINCE, "--by", "tag:user", "--csv")

        rows = list(csv.DictReader(io.StringIO(output)))
        expected = {"alice": "0.005100000000", "bob": "0.000200000001", "carol": "0E-12"}
        assert "tag:user" == next(iter(rows[0]))
        assert expected == {row["tag:user"]: row["cost_usd"] for row in rows if row["tag:user"]}

    @pytest.mark.parametrize(
        "command", ["errors", "latency", "ratelimits", "retries", "slow", "report"]
    )
    def test_json_of_every_report(self, runner: CliRunner, database: str, command: str) -> None:
        """Every report command prints valid JSON with --json."""
        output = invoke(runner, command, "-d", database, *SINCE, "--json")

        assert json.loads(output)


class TestErrors:
    def test_unknown_by_key(self, runner: CliRunner, database: str) -> None:
        """An unknown --by key is one clear line listing the valid keys."""
        result = runner.invoke(cli, ["usage", "-d", database, "--by", "model,colour"])

        assert_one_line_error(result, 2, "group by any of: model, response_model, endpoint")

    def test_json_and_csv_together(self, runner: CliRunner, database: str) -> None:
        """--json and --csv exclude each other."""
        result = runner.invoke(cli, ["costs", "-d", database, "--json", "--csv"])

        assert_one_line_error(result, 2, "choose one of --json and --csv")

    def test_bad_since(self, runner: CliRunner, database: str) -> None:
        """A --since that is not a time is one clear line."""
        result = runner.invoke(cli, ["latency", "-d", database, "--since", "yesterday"])

        assert_one_line_error(result, 2, "--since")

    def test_missing_database(self, runner: CliRunner, tmp_path: Path) -> None:
        """A database that does not exist is one clear line, and is not created."""
        path = tmp_path / "nothing.db"
        result = runner.invoke(cli, ["report", "-d", str(path)])

        assert_one_line_error(result, 1, "no database at")
        assert not path.exists()

    def test_help_has_examples(self, runner: CliRunner) -> None:
        """Every report command's help has an Example: block."""
        for command in (
            "report",
            "usage",
            "costs",
            "errors",
            "latency",
            "ratelimits",
            "retries",
            "slow",
            "tail",
            "prune",
            "reprice",
        ):
            output = invoke(runner, command, "--help")
            assert "Example:" in output, command


class TestTail:
    def test_prints_latest_then_stops(self, runner: CliRunner, database: str) -> None:
        """tail prints the newest records (oldest first) and, for tests, stops after N polls."""
        output = invoke(runner, "tail", "-d", database, "-n", "2", "--max-polls", "1")

        assert output.index("req_f") < output.index("req_g")
        assert "req_e" not in output

    def test_json_lines(self, runner: CliRunner, database: str) -> None:
        """tail --json prints one JSON object per line."""
        output = invoke(runner, "tail", "-d", database, "-n", "3", "--max-polls", "1", "--json")

        lines = [json.loads(line) for line in output.splitlines()]
        assert ["req_e", "req_f", "req_g"] == [line["request_id"] for line in lines]


def count(database: str, table: str) -> int:
    with sqlite3.connect(database) as connection:
        value: int = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    return value


class TestPrune:
    def test_deletes_old_requests_and_bodies(self, runner: CliRunner, database: str) -> None:
        """prune deletes requests before the cut-off with their bodies, and keeps the rest."""
        output = invoke(runner, "prune", "-d", database, "--older-than", "2025-01-16", "--yes")

        assert "Deleted 4 requests" in output
        assert (3, 3) == (count(database, "requests"), count(database, "bodies"))

    def test_asks_before_deleting(self, runner: CliRunner, database: str) -> None:
        """Without --yes prune asks, and a no deletes nothing."""
        result = runner.invoke(
            cli, ["prune", "-d", database, "--older-than", "2025-01-16"], input="n\n"
        )

        assert result.exit_code == 1
        assert 7 == count(database, "requests")

    def test_bad_age(self, runner: CliRunner, database: str) -> None:
        """An unreadable --older-than is one clear line."""
        result = runner.invoke(cli, ["prune", "-d", database, "--older-than", "ninety days"])

        assert_one_line_error(result, 2, "--older-than")


class TestReprice:
    def test_prices_unpriced_records(self, runner: CliRunner, tmp_path: Path) -> None:
        """reprice fills in costs of records stored without one, in batches."""
        path = str(tmp_path / "old.db")
        record = make_record(cost_usd=None, input_tokens=1000, output_tokens=100)
        with Store(path) as store:
            store.insert([record])

        output = invoke(runner, "reprice", "-d", path)

        with Query(path) as query:
            stored = query.get(record.id)
        assert "Repriced 1 requests; 1 costs changed." in output
        assert stored is not None
        assert stored.cost_usd is not None
        assert stored.cost_usd > 0

    def test_with_a_price_file(self, runner: CliRunner, tmp_path: Path) -> None:
        """reprice --prices applies a price file to stored records."""
        path = str(tmp_path / "old.db")
        record = make_record(
            cost_usd=None, input_tokens=2_000_000, cached_input_tokens=0, output_tokens=0
        )
        with Store(path) as store:
            store.insert([record])
        prices = tmp_path / "prices.toml"
        prices.write_text('[[price]]\nmodel = "gpt-4o-mini"\ninput_mtok = 1\noutput_mtok = 2\n')

        invoke(runner, "reprice", "-d", path, "--prices", str(prices))

        with Query(path) as query:
            stored = query.get(record.id)
        assert stored is not None
        assert Decimal("2") == stored.cost_usd

    def test_a_polled_batch_keeps_its_batch_price(self, runner: CliRunner, tmp_path: Path) -> None:
        """reprice prices a poll that counted a batch's usage at Batch API rates, as the
        writer did, and leaves the other polls of it at no cost."""
        path = str(tmp_path / "batch.db")
        common = {
            "cost_usd": None,
            "operation": "batches.retrieve",
            "endpoint": "/v1/batches/{batch_id}",
            "request_model": None,
            "response_model": "gpt-4o-mini",
        }
        counted = make_record(
            **common,
            input_tokens=1_000_000,
            output_tokens=0,
            extra={"usage_counted_from_poll": True, "object_type": "batch"},
        )
        later_poll = make_record(
            **common, input_tokens=None, output_tokens=None, extra={"object_type": "batch"}
        )
        with Store(path) as store:
            store.insert([counted, later_poll])

        invoke(runner, "reprice", "-d", path)

        with Query(path) as query:
            costs = [getattr(query.get(r.id), "cost_usd", None) for r in (counted, later_poll)]
        pricer = Pricer()
        expected = pricer.price_usage(
            "gpt-4o-mini",
            {"input_tokens": 1_000_000, "output_tokens": 0, "cache_read_tokens": 0},
            at=counted.started_at,
            batch=True,
        )
        assert [expected.usd, Decimal(0)] == costs


class TestDemoThenReport:
    def test_demo_then_report(self, runner: CliRunner, in_tmp: Path) -> None:
        """`oaitrace demo`, then plain `oaitrace report`, shows the overview of the demo's calls."""
        demo = invoke(runner, "demo")
        result = runner.invoke(cli, ["report"], catch_exceptions=False)

        assert "oaitrace report -d oaitrace-demo.db" in demo
        assert result.exit_code == 0, result.output
        for text in ("Spend $", "errors", "Errors", "Latency by model", "Rate-limit headroom"):
            assert text in result.output
        assert "Spend $0 " not in result.output
        assert "reading the demo's oaitrace-demo.db" in result.output
        assert not (in_tmp / "oaitrace.db").exists()

    def test_the_default_database_comes_first(self, runner: CliRunner, in_tmp: Path) -> None:
        """The demo's database is read only when there is no oaitrace.db and no -d or $URL."""
        invoke(runner, "demo")
        invoke(runner, "db", "upgrade")  # an empty ./oaitrace.db

        assert "Spend $0 over 0 requests" in invoke(runner, "report")
        (in_tmp / "oaitrace.db").unlink()
        empty = in_tmp / "elsewhere.db"
        invoke(runner, "db", "upgrade", "-d", str(empty))
        env_runner = CliRunner(env={**WIDE, "OAITRACE_DATABASE_URL": f"sqlite:///{empty}"})
        assert "Spend $0 over 0 requests" in invoke(env_runner, "report")
