"""`oaitrace export jsonl` and `oaitrace export csv` over a database recorded through the SDK."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from oaitrace.cli import cli
from oaitrace.query import Query, RequestRecord
from tests.test_otlp_export import record_calls


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "stored.db"
    record_calls(path)
    return path


def stored(database: Path) -> list[RequestRecord]:
    with Query(str(database)) as query:
        return list(reversed(query.requests(limit=100)))


class TestJsonLines:
    def test_one_line_per_record_oldest_first(self, database: Path) -> None:
        """Every record is one JSON object per line, oldest first, with every field."""
        result = CliRunner().invoke(cli, ["export", "jsonl", "-d", str(database)])
        assert 0 == result.exit_code, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        records = stored(database)
        assert [record.id for record in records] == [line["id"] for line in lines]
        assert [field.name for field in dataclasses.fields(RequestRecord)] == list(lines[0])
        assert (12, ["stop"], records[0].started_at.isoformat()) == (
            lines[0]["input_tokens"],
            lines[0]["finish_reasons"],
            lines[0]["started_at"],
        )

    def test_to_a_file_with_limit(self, database: Path, tmp_path: Path) -> None:
        """-o writes to a file and -n keeps only the newest records."""
        target = tmp_path / "out.jsonl"
        result = CliRunner().invoke(
            cli, ["export", "jsonl", "-d", str(database), "-o", str(target), "-n", "2"]
        )
        assert 0 == result.exit_code, result.output
        lines = target.read_text(encoding="utf-8").splitlines()
        assert [record.id for record in stored(database)[-2:]] == [
            json.loads(line)["id"] for line in lines
        ]


class TestCsv:
    def test_header_and_rows(self, database: Path) -> None:
        """A header of every field, one row per record, empty cells for missing values."""
        result = CliRunner().invoke(cli, ["export", "csv", "-d", str(database)])
        assert 0 == result.exit_code, result.output
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        records = stored(database)
        assert [record.id for record in records] == [row["id"] for row in rows]
        embedding = rows[2]
        assert ("embeddings", "5", "", "false", '["stop"]') == (
            embedding["operation"],
            embedding["input_tokens"],
            embedding["output_tokens"],
            embedding["stream"],
            rows[0]["finish_reasons"],
        )


class TestDetails:
    def test_details_without_bodies(self, database: Path) -> None:
        """Query.details(bodies=False) gives headers and extra but leaves the bodies out."""
        with Query(str(database)) as query:
            details = query.details(limit=100, bodies=False)
            (with_bodies,) = query.details(limit=1)
        chat = details[-1]
        assert (None, None, {"temperature": 0.2}) == (
            chat.request_body,
            chat.response_body,
            chat.extra["request_params"],
        )
        assert "x-request-id" in chat.response_headers
        assert with_bodies.response_body is not None
