"""Downloaded batch output files: read by line, counted once with their batch, at batch rates."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import oaitrace
from oaitrace._batch_output import read_batch_output, summed_usage
from oaitrace._exchange import USAGE_TOKEN_FIELDS, Usage
from oaitrace._maintenance import reprice
from oaitrace._parse import parse
from oaitrace.pricing import Pricer
from oaitrace.query import Query, RequestDetail
from tests.corpus import case_to_exchange, load_cases
from tests.endpoint_fixtures import BATCH_ID, BATCH_USAGE, batch_object

OUTPUT_FILE_ID = "file-cvaTdG"  # batch_object's output file
MODEL = "gpt-4o-mini-2024-07-18"


def output_line(custom_id: str, usage: dict[str, Any] | None, status: int = 200) -> dict[str, Any]:
    body: dict[str, Any] = (
        {"object": "chat.completion", "model": MODEL, "usage": usage}
        if status < 400
        else {"error": {"message": "The server had an error", "type": "server_error"}}
    )
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": f"req_{custom_id}", "body": body},
        "error": None,
    }


def chat_usage(prompt: int, completion: int, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


LINES = [
    output_line("1", chat_usage(1000, 200)),
    output_line("2", chat_usage(500, 300, reasoning=0)),
    output_line("3", None, status=500),
]
CONTENT = b"".join(json.dumps(line).encode() + b"\n" for line in LINES)


def line_price(usage: dict[str, Any], at: Any) -> Decimal:
    """One line at Batch API rates, priced alone (long-context tiers apply per request)."""
    cost = Pricer().price_usage(
        MODEL,
        {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
        at=at,
        batch=True,
    )
    assert cost.usd is not None
    return cost.usd


def tokens(usage: Usage) -> tuple[int | None, ...]:
    return tuple(getattr(usage, name) for name in USAGE_TOKEN_FIELDS)


def as_counts(usage: Usage) -> tuple[int, ...]:
    return tuple(count or 0 for count in tokens(usage))


class BatchEdge:
    """A finished batch (its poll with or without usage) and its output file."""

    def __init__(self, *, poll_usage: dict[str, Any] | None, content: bytes = CONTENT) -> None:
        self.poll_usage = poll_usage
        self.content = content

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == f"/v1/batches/{BATCH_ID}":
            return httpx2.Response(200, json=batch_object("completed", usage=self.poll_usage))
        if request.url.path == f"/v1/files/{OUTPUT_FILE_ID}/content":
            return httpx2.Response(
                200, content=self.content, headers={"content-type": "application/octet-stream"}
            )
        return httpx2.Response(404, json={"error": {"message": "not found"}})


def run(
    tmp_path: Path, edge: BatchEdge, steps: list[str], **recorder_args: Any
) -> list[RequestDetail]:
    """Drive the SDK through `steps` ("poll", "download") and read back what was stored."""
    database = str(tmp_path / "batches.db")
    with oaitrace.Recorder(database, **recorder_args) as recorder:
        transport = httpx2.MockTransport(edge)
        client = openai.OpenAI(api_key="sk-test", http_client=recorder.client(transport=transport))
        for step in steps:
            if step == "poll":
                client.batches.retrieve(BATCH_ID)
            else:
                assert edge.content == client.files.content(OUTPUT_FILE_ID).content
        assert recorder.flush(timeout=10)
    with Query(database) as query:
        found = [query.detail(record.id) for record in reversed(query.requests())]
    return [detail for detail in found if detail is not None]


class TestReadBatchOutput:
    def test_lines_failures_and_sums(self) -> None:
        """Billed lines keep model and usage; failed ones are counted; sums add every field."""
        output = read_batch_output(CONTENT, cut=False)
        assert output is not None
        assert (3, 1, 0, False) == (
            output["lines"],
            output["failed"],
            output["unreadable"],
            output["truncated"],
        )
        assert [[MODEL, LINES[0]["response"]["body"]["usage"]]] == output["usage"][:1]
        assert (1500, 500, 2000, 0, 0) == tokens(summed_usage(output))

    def test_cut_body_drops_its_partial_last_line(self) -> None:
        """A body cut mid-line is truncated, and the partial line is not called unreadable."""
        output = read_batch_output(CONTENT[:-20], cut=True)
        assert output is not None
        assert (2, 0, True) == (output["lines"], output["unreadable"], output["truncated"])

    def test_unreadable_line_in_a_whole_file(self) -> None:
        """A line that is not JSON in a whole file is counted as unreadable."""
        output = read_batch_output(CONTENT + b"{not json\n", cut=False)
        assert output is not None
        assert (4, 1, False) == (output["lines"], output["unreadable"], output["truncated"])

    @pytest.mark.parametrize(
        "content",
        [
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",  # a PDF
            b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n',
            b'{"messages": [{"role": "user", "content": "hi"}]}\n',  # fine-tuning data
            b"",
        ],
    )
    def test_other_files_are_not_batch_output(self, content: bytes) -> None:
        """Batch input files, training files and binary downloads are left alone."""
        assert read_batch_output(content, cut=False) is None


class TestRealBatches:
    def test_output_file_adds_up_to_its_batch_usage(self) -> None:
        """In recorded real batches the output file's lines add up to the finished batch's usage."""
        batches: dict[str, dict[str, Any]] = {}
        outputs: dict[str, dict[str, Any]] = {}
        for case in load_cases():
            if "batch" not in case.name:
                continue
            record = parse(case_to_exchange(case), record_id="r")
            output_file = record.object_ids.get("output_file_id")
            if record.operation == "batches.retrieve" and output_file:
                batches[output_file] = record.extra["object_usage"]
            elif "batch_output" in record.extra:
                outputs[record.object_ids["file_id"]] = record.extra["batch_output"]
        if not outputs:
            pytest.skip("the shared corpus (../shared/corpus or $OAITRACE_CORPUS) is absent")
        assert batches.keys() == outputs.keys()
        for file_id, output in outputs.items():
            batch = summed_usage({"usage": [[None, batches[file_id]]]})
            lines = summed_usage(output)
            # Token fields only, absent as 0: lines carry details (cache writes: 0)
            # the batch leaves out, and the batch says 0 output tokens for embeddings.
            assert as_counts(batch) == as_counts(lines), file_id


class TestCountedOnce:
    def test_download_is_priced_when_the_poll_had_no_usage(self, tmp_path: Path) -> None:
        """Without usage on the batch, its output file counts the tokens and costs each line."""
        poll, download = run(tmp_path, BatchEdge(poll_usage=None), ["poll", "download"])
        at = download.record.started_at
        expected = sum(
            (line_price(line["response"]["body"]["usage"], at) for line in LINES[:2]), Decimal(0)
        )
        assert (None, None) == (poll.record.input_tokens, poll.record.output_tokens)
        assert (1500, 500, 2000, MODEL) == (
            download.record.input_tokens,
            download.record.output_tokens,
            download.record.total_tokens,
            download.record.response_model,
        )
        assert (expected, None, "openai") == (
            download.record.cost_usd,
            download.record.cost_reason,
            download.price_provider,
        )
        assert True is download.extra["usage_counted_from_batch_output"]

    def test_poll_with_usage_counts_and_the_download_does_not(self, tmp_path: Path) -> None:
        """The finished batch counted its usage: its output file adds nothing."""
        poll, download = run(tmp_path, BatchEdge(poll_usage=BATCH_USAGE), ["poll", "download"])
        assert (1500, True) == (poll.record.input_tokens, poll.extra["usage_counted_from_poll"])
        assert (None, Decimal(0), "batch") == (
            download.record.input_tokens,
            download.record.cost_usd,
            download.extra["usage_counted_with"],
        )

    def test_download_first_then_poll(self, tmp_path: Path) -> None:
        """The output file counted first: a later poll of its finished batch adds nothing."""
        download, poll = run(tmp_path, BatchEdge(poll_usage=BATCH_USAGE), ["download", "poll"])
        assert (1500, True) == (
            download.record.input_tokens,
            download.extra["usage_counted_from_batch_output"],
        )
        assert (None, None, Decimal(0)) == (
            poll.record.input_tokens,
            poll.extra.get("usage_counted_from_poll"),
            poll.record.cost_usd,
        )

    def test_second_download_adds_nothing(self, tmp_path: Path) -> None:
        """The same file downloaded twice is counted once."""
        first, second = run(tmp_path, BatchEdge(poll_usage=None), ["download", "download"])
        assert (1500, None, "batch_output") == (
            first.record.input_tokens,
            second.record.input_tokens,
            second.extra["usage_counted_with"],
        )

    def test_file_larger_than_the_capture_is_unpriced(self, tmp_path: Path) -> None:
        """A file cut by the capture limit is not priced from the part seen: unknown, with why."""
        big = CONTENT * 20
        (download,) = run(
            tmp_path, BatchEdge(poll_usage=None, content=big), ["download"], capture_limit=1000
        )
        assert (None, "incomplete_batch_output", None) == (
            download.record.cost_usd,
            download.record.cost_reason,
            download.record.input_tokens,
        )
        assert True is download.extra["batch_output"]["truncated"]

    def test_lines_of_two_models(self, tmp_path: Path) -> None:
        """Each line is priced at its own model's rates; provenance keeps what the lines share."""
        other = output_line("4", chat_usage(2000, 100))
        other["response"]["body"]["model"] = "gpt-4o-2024-08-06"
        content = CONTENT + json.dumps(other).encode() + b"\n"
        (download,) = run(tmp_path, BatchEdge(poll_usage=None, content=content), ["download"])
        at = download.record.started_at
        gpt_4o = Pricer().price_usage(
            "gpt-4o-2024-08-06", {"input_tokens": 2000, "output_tokens": 100}, at=at, batch=True
        )
        assert gpt_4o.usd is not None
        expected = line_price(chat_usage(1000, 200), at) + line_price(chat_usage(500, 300), at)
        assert (expected + gpt_4o.usd, None, "openai", 3500) == (
            download.record.cost_usd,
            download.record.response_model,
            download.price_provider,
            download.record.input_tokens,
        )

    def test_reprice_prices_the_file_again(self, tmp_path: Path) -> None:
        """`reprice` reads the stored lines and gives the same cost."""
        (download,) = run(tmp_path, BatchEdge(poll_usage=None), ["download"])
        database = str(tmp_path / "batches.db")
        seen, changed = reprice(database)
        with Query(database) as query:
            again = query.detail(download.record.id)
        assert again is not None
        assert (1, 0, download.record.cost_usd) == (seen, changed, again.record.cost_usd)
        assert download.record.cost_usd is not None
        assert download.record.cost_usd > 0
