"""The ``oaitrace`` command line, over real SQLite databases recorded from real SDK calls."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from click.testing import CliRunner, Result

import oaitrace
from oaitrace._demo_server import RATE_LIMITED_MODEL, DemoServer
from oaitrace.cli import _json_default, cli
from oaitrace.query import Query, RequestRecord
from oaitrace.storage import head_revision

# Wide enough that rich never truncates an id in a table cell.
WIDE = {"COLUMNS": "250"}
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "user", "content": "Hello from the CLI tests"}
]


@pytest.fixture(scope="module")
def recorded_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding a chat, a streamed chat, an embedding and a retried 429."""
    path = tmp_path_factory.mktemp("cli") / "recorded.db"
    recorder = oaitrace.Recorder(database_url=str(path))
    try:
        with DemoServer() as server:
            client = openai.OpenAI(
                base_url=server.base_url, api_key="sk-test", http_client=recorder.client()
            )
            with oaitrace.tags(user="cli-user"):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            list(
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            client.embeddings.create(model="text-embedding-3-small", input="x")
            client.chat.completions.create(model=RATE_LIMITED_MODEL, messages=MESSAGES)
            client.close()
        assert recorder.flush(timeout=10.0)
    finally:
        recorder.close()
    return str(path)


@pytest.fixture(scope="module")
def records(recorded_db: str) -> list[RequestRecord]:
    with Query(recorded_db) as query:
        return query.requests(limit=100)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env=WIDE)


def chat_record(records: list[RequestRecord]) -> RequestRecord:
    """The tagged, non-streamed chat."""
    return next(record for record in records if record.tags.get("user") == "cli-user")


def assert_one_line_error(result: Result, exit_code: int, contains: str) -> None:
    """A user error: the given exit code, a single `Error: ...` line, no traceback."""
    lines = result.output.strip().splitlines()
    assert result.exit_code == exit_code, result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert contains in lines[0]
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


class TestRequests:
    def test_table_lists_every_exchange(
        self, runner: CliRunner, recorded_db: str, records: list[RequestRecord]
    ) -> None:
        """The table has one row per attempt, with x-request-id, model and status."""
        result = runner.invoke(cli, ["requests", "-d", recorded_db])

        assert result.exit_code == 0, result.output
        assert len(records) == 5
        for record in records:
            assert record.request_id is not None
            assert record.request_id in result.output
        assert "gpt-4o-mini" in result.output
        assert "embeddings" in result.output
        assert " 429 " in result.output

    def test_json_is_an_array_of_full_records(
        self, runner: CliRunner, recorded_db: str, records: list[RequestRecord]
    ) -> None:
        """--json prints every record with every field; times are ISO strings."""
        result = runner.invoke(cli, ["requests", "-d", recorded_db, "--json"])
        rows = json.loads(result.output)

        assert result.exit_code == 0
        assert [row["id"] for row in rows] == [record.id for record in records]
        assert set(rows[0]) >= {"request_id", "status_code", "input_tokens", "cost_usd", "tags"}
        started = datetime.datetime.fromisoformat(rows[0]["started_at"])
        assert started == records[0].started_at

    def test_filters_by_status_and_model(self, runner: CliRunner, recorded_db: str) -> None:
        """--status and --model narrow the rows."""
        limited = runner.invoke(cli, ["requests", "-d", recorded_db, "--status", "429", "--json"])
        embedding = runner.invoke(
            cli, ["requests", "-d", recorded_db, "--model", "text-embedding-3-small", "--json"]
        )

        assert [row["status_code"] for row in json.loads(limited.output)] == [429]
        assert [row["operation"] for row in json.loads(embedding.output)] == ["embeddings"]

    def test_limit_keeps_the_newest(
        self, runner: CliRunner, recorded_db: str, records: list[RequestRecord]
    ) -> None:
        """-n keeps the newest rows."""
        result = runner.invoke(cli, ["requests", "-d", recorded_db, "-n", "2", "--json"])

        assert [row["id"] for row in json.loads(result.output)] == [r.id for r in records[:2]]

    def test_since_and_until(self, runner: CliRunner, recorded_db: str) -> None:
        """--since 1h finds the fresh records; --until 1h finds none, and says so."""
        recent = runner.invoke(cli, ["requests", "-d", recorded_db, "--since", "1h", "--json"])
        old = runner.invoke(cli, ["requests", "-d", recorded_db, "--until", "1h"])

        assert len(json.loads(recent.output)) == 5
        assert old.exit_code == 0
        assert "No recorded exchanges match." in old.output

    def test_bad_since_is_a_clean_error(self, runner: CliRunner, recorded_db: str) -> None:
        """A time the parser cannot read is one line naming the option, exit code 2."""
        result = runner.invoke(cli, ["requests", "-d", recorded_db, "--since", "yesterday"])

        assert_one_line_error(result, 2, "Invalid value for '--since': cannot read 'yesterday'")

    def test_missing_database_is_a_clean_error(self, runner: CliRunner, tmp_path: Path) -> None:
        """Pointing at a file that does not exist is one line, exit code 1, and no file appears."""
        missing = tmp_path / "nope.db"

        result = runner.invoke(cli, ["requests", "-d", str(missing)])

        assert_one_line_error(result, 1, "nope.db")
        assert not missing.exists()

    def test_database_from_the_environment(self, recorded_db: str) -> None:
        """Without -d the database comes from $OAITRACE_DATABASE_URL."""
        env = {**WIDE, "OAITRACE_DATABASE_URL": f"sqlite:///{recorded_db}"}

        result = CliRunner(env=env).invoke(cli, ["requests", "--json"])

        assert len(json.loads(result.output)) == 5


class TestShow:
    def test_table_shows_fields_headers_and_pretty_bodies(
        self, runner: CliRunner, recorded_db: str, records: list[RequestRecord]
    ) -> None:
        """`show` prints the record's sections, redacted headers and indented JSON bodies."""
        record = chat_record(records)
        assert record.request_id is not None

        result = runner.invoke(cli, ["show", record.request_id, "-d", recorded_db])

        assert result.exit_code == 0, result.output
        for heading in ("Request", "Response", "Timings (ms)", "Usage", "Rate limits"):
            assert heading in result.output
        assert "Response headers" in result.output
        assert "x-ratelimit-remaining-tokens" in result.output
        assert '"model": "gpt-4o-mini"' in result.output
        assert '"content": "Hello from the CLI tests"' in result.output
        assert "sk-test" not in result.output

    def test_json_has_every_field_and_parsed_bodies(
        self, runner: CliRunner, recorded_db: str, records: list[RequestRecord]
    ) -> None:
        """`show --json` has record and detail fields; JSON bodies are embedded as JSON."""
        record = chat_record(records)

        result = runner.invoke(cli, ["show", record.id, "-d", recorded_db, "--json"])
        shown = json.loads(result.output)

        assert result.exit_code == 0
        assert shown["id"] == record.id
        assert shown["request_id"] == record.request_id
        assert shown["tags"] == {"user": "cli-user"}
        assert shown["request_body"]["messages"] == MESSAGES
        assert shown["response_body"]["object"] == "chat.completion"
        assert shown["response_headers"]["x-request-id"] == record.request_id
        assert "sk-test" not in result.output

    def test_stream_body_is_text(
        self, runner: CliRunner, recorded_db: str, records: list[RequestRecord]
    ) -> None:
        """A streamed response body is not JSON, so it stays text."""
        streamed = next(record for record in records if record.stream)

        result = runner.invoke(cli, ["show", streamed.id, "-d", recorded_db, "--json"])
        body = json.loads(result.output)["response_body"]

        assert isinstance(body, str)
        assert body.startswith("data: {")

    def test_unknown_id_is_a_clean_error(self, runner: CliRunner, recorded_db: str) -> None:
        """An id that matches nothing is one line and exit code 1."""
        result = runner.invoke(cli, ["show", "req_doesnotexist", "-d", recorded_db])

        assert_one_line_error(result, 1, "req_doesnotexist")


class TestDb:
    def test_upgrade_creates_and_reports_the_revision(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        """`db upgrade` creates the schema and prints the head revision; `db current` agrees."""
        path = tmp_path / "new.db"

        upgraded = runner.invoke(cli, ["db", "upgrade", "-d", str(path)])
        again = runner.invoke(cli, ["db", "upgrade", "-d", str(path)])
        current = runner.invoke(cli, ["db", "current", "-d", str(path)])

        assert upgraded.exit_code == 0, upgraded.output
        assert path.exists()
        assert f"is at revision {head_revision()} (head)" in upgraded.output
        assert again.output == upgraded.output
        assert f"is at revision {head_revision()} (head)" in current.output

    def test_current_of_a_missing_database(self, runner: CliRunner, tmp_path: Path) -> None:
        """`db current` on a file that does not exist says so and creates nothing."""
        path = tmp_path / "missing.db"

        result = runner.invoke(cli, ["db", "current", "-d", str(path)])

        assert result.exit_code == 0
        assert "has no oaitrace schema" in result.output
        assert not path.exists()


class TestDemo:
    def test_records_every_kind_of_call(self, runner: CliRunner, in_tmp: Path) -> None:
        """The demo stores chat, streams, embeddings, Responses, a 429 then 200, and a 500."""
        result = runner.invoke(cli, ["demo"])

        assert result.exit_code == 0, result.output
        assert "8 requests, 2 errors" in result.output
        assert "Database: oaitrace-demo.db" in result.output
        assert "oaitrace requests -d oaitrace-demo.db" in result.output
        assert (in_tmp / "oaitrace-demo.db").exists()
        with Query(str(in_tmp / "oaitrace-demo.db")) as query:
            stored = query.requests(limit=100)
        calls = sorted((r.path, r.stream, r.status_code) for r in stored)
        assert calls == [
            ("/v1/chat/completions", False, 200),
            ("/v1/chat/completions", False, 200),
            ("/v1/chat/completions", False, 429),
            ("/v1/chat/completions", False, 500),
            ("/v1/chat/completions", True, 200),
            ("/v1/embeddings", False, 200),
            ("/v1/responses", False, 200),
            ("/v1/responses", True, 200),
        ]
        assert {"chat", "embeddings"} <= {r.operation for r in stored}
        tagged = [r for r in stored if r.tags == {"user": "demo-user", "feature": "demo"}]
        assert len(tagged) == 2
        retried = [r for r in stored if r.request_model == RATE_LIMITED_MODEL]
        assert sorted((r.retry_attempt, r.status_code) for r in retried) == [(0, 429), (1, 200)]
        streamed_chat = next(r for r in stored if r.stream and r.operation == "chat")
        assert streamed_chat.output_tokens is not None

    def test_replaces_the_database_unless_keep(self, runner: CliRunner, in_tmp: Path) -> None:
        """A second run starts afresh; --keep adds to what is there."""
        runner.invoke(cli, ["demo", "-d", "demo.db"])
        replaced = runner.invoke(cli, ["demo", "-d", "demo.db"])
        kept = runner.invoke(cli, ["demo", "-d", "demo.db", "--keep"])

        assert "8 requests" in replaced.output
        assert "16 requests" in kept.output

    def test_without_openai_says_what_to_install(
        self, runner: CliRunner, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No openai package: one line telling the user to pip install it."""
        monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail

        result = runner.invoke(cli, ["demo"])

        assert_one_line_error(result, 1, "pip install openai")
        assert not (in_tmp / "oaitrace-demo.db").exists()


class TestHelp:
    @pytest.mark.parametrize(
        "command",
        [[], ["requests"], ["show"], ["db"], ["db", "upgrade"], ["db", "current"], ["demo"]],
    )
    def test_every_command_has_an_example(self, runner: CliRunner, command: list[str]) -> None:
        """Each help text carries an Example: block."""
        result = runner.invoke(cli, [*command, "--help"])

        assert result.exit_code == 0
        assert "Example:" in result.output

    def test_python_dash_m(self) -> None:
        """`python -m oaitrace` is the same command."""
        completed = subprocess.run(
            [sys.executable, "-m", "oaitrace", "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

        assert completed.returncode == 0, completed.stderr
        assert "oaitrace requests" in completed.stdout


class TestJsonValues:
    def test_decimal_is_a_string_and_times_are_iso(self) -> None:
        """Costs keep their exact digits; datetimes become ISO 8601."""
        moment = datetime.datetime(2024, 5, 1, 13, 45, tzinfo=datetime.timezone.utc)

        assert _json_default(Decimal("0.000150")) == "0.000150"
        assert _json_default(moment) == "2024-05-01T13:45:00+00:00"
