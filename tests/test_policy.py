"""The writer's policies: redact hook, request body cap, polled usage once, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import oaitrace
from oaitrace.query import Query, RequestDetail
from tests.openai_edge import CHAT_COMPLETION, OPENAI_HEADERS, RESPONSE, iterator_stream

CHAT_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "my card is 4111 1111 1111 1111"}],
}


def run_object(status: str, usage: dict[str, int] | None) -> dict[str, Any]:
    return {
        "id": "run_abc",
        "object": "thread.run",
        "created_at": 1700000000,
        "assistant_id": "asst_1",
        "thread_id": "thread_1",
        "status": status,
        "model": "gpt-4o-mini",
        "instructions": "",
        "tools": [],
        "usage": usage,
    }


class Edge:
    """Answers chat, Responses (create and retrieve) and a run that finishes on the third poll."""

    def __init__(self) -> None:
        self.run_polls = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path.endswith("/chat/completions"):
            return httpx2.Response(200, headers=OPENAI_HEADERS, json=CHAT_COMPLETION)
        if path.startswith("/v1/responses"):
            return httpx2.Response(200, headers=OPENAI_HEADERS, json=RESPONSE)
        if path == "/v1/threads/thread_1/runs":
            return httpx2.Response(200, headers=OPENAI_HEADERS, json=run_object("queued", None))
        self.run_polls += 1
        if self.run_polls < 2:
            return httpx2.Response(200, json=run_object("in_progress", None))
        usage = {"prompt_tokens": 40, "completion_tokens": 10, "total_tokens": 50}
        return httpx2.Response(200, json=run_object("completed", usage))


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "policy.db")


def client_for(recorder: oaitrace.Recorder, edge: Any) -> openai.OpenAI:
    transport = httpx2.MockTransport(edge)
    return openai.OpenAI(api_key="sk-test", http_client=recorder.client(transport=transport))


def details(recorder: oaitrace.Recorder) -> list[RequestDetail]:
    assert recorder.flush(timeout=10)
    with Query(recorder.database_url) as query:
        found = [query.detail(record.id) for record in reversed(query.requests())]
    return [detail for detail in found if detail is not None]


class TestRedactHook:
    def test_hook_rewrites_stored_bodies(self, database: str) -> None:
        """What the hook returns is stored, for requests and responses alike."""

        def hide_messages(direction: str, body: Any) -> Any:
            if direction == "request":
                return {**body, "messages": "[hidden]"}
            return {**body, "choices": []}

        with oaitrace.Recorder(database, redact=hide_messages) as recorder:
            client_for(recorder, Edge()).chat.completions.create(**CHAT_ARGS)
            (detail,) = details(recorder)
        assert {"model": "gpt-4o-mini", "messages": "[hidden]"} == json.loads(
            detail.request_body or "{}"
        )
        assert [] == json.loads(detail.response_body or "{}")["choices"]
        assert "4111" not in (detail.request_body or "")

    def test_failing_hook_stores_no_body(self, database: str) -> None:
        """A hook that raises stores no body, says why, and the call is unaffected."""

        def broken(direction: str, body: Any) -> Any:
            message = "no"
            raise ValueError(message)

        with oaitrace.Recorder(database, redact=broken) as recorder:
            completion = client_for(recorder, Edge()).chat.completions.create(**CHAT_ARGS)
            (detail,) = details(recorder)
        assert "Hello there" == completion.choices[0].message.content
        assert (None, None, "ValueError: no") == (
            detail.request_body,
            detail.response_body,
            detail.extra["redact_error"],
        )


class TestRequestBodyCap:
    def test_long_request_body_is_cut_and_flagged(self, database: str) -> None:
        """A request body longer than the capture limit is stored cut, with a flag."""
        args = {**CHAT_ARGS, "messages": [{"role": "user", "content": "x" * 5000}]}
        with oaitrace.Recorder(database, capture_limit=1000) as recorder:
            client_for(recorder, Edge()).chat.completions.create(**args)
            (detail,) = details(recorder)
        assert (1000, True) == (len(detail.request_body or ""), detail.extra["request_truncated"])


class TestPolledUsage:
    def test_run_usage_counts_once_when_first_seen_completed(self, database: str) -> None:
        """A run's usage is counted on the first poll that shows it completed, and only then."""
        with oaitrace.Recorder(database) as recorder:
            client = client_for(recorder, Edge())
            client.beta.threads.runs.create(thread_id="thread_1", assistant_id="asst_1")
            for _ in range(3):
                client.beta.threads.runs.retrieve(run_id="run_abc", thread_id="thread_1")
            attempts = details(recorder)
        assert [None, None, 40, None] == [d.record.input_tokens for d in attempts]
        assert [None, None, 10, None] == [d.record.output_tokens for d in attempts]
        assert [False, False, True, False] == [
            d.extra.get("usage_counted_from_poll", False) for d in attempts
        ]

    def test_retrieving_a_response_does_not_count_it_again(self, database: str) -> None:
        """GET /responses/{id} after the create that counted its usage adds no tokens."""
        with oaitrace.Recorder(database) as recorder:
            client = client_for(recorder, Edge())
            client.responses.create(model="gpt-4.1", input="Hi")
            client.responses.retrieve("resp_123")
            created, retrieved = details(recorder)
        assert (20, None) == (created.record.input_tokens, retrieved.record.input_tokens)
        assert 20 == retrieved.extra["object_usage"]["input_tokens"]


class TestBackgroundResponse:
    def test_background_response_counts_once_when_polled_done(self, database: str) -> None:
        """A Response created in the background counts its usage on the first completed poll."""
        polls = []

        def edge(request: httpx2.Request) -> httpx2.Response:
            if request.method == "POST":
                queued = {**RESPONSE, "status": "queued", "usage": None, "output": []}
                return httpx2.Response(200, headers=OPENAI_HEADERS, json=queued)
            polls.append(request)
            if len(polls) == 1:
                running = {**RESPONSE, "status": "in_progress", "usage": None, "output": []}
                return httpx2.Response(200, headers=OPENAI_HEADERS, json=running)
            return httpx2.Response(200, headers=OPENAI_HEADERS, json=RESPONSE)

        with oaitrace.Recorder(database) as recorder:
            client = client_for(recorder, edge)
            client.responses.create(model="gpt-4.1", input="Hi", background=True)
            for _ in range(3):
                client.responses.retrieve("resp_123")
            attempts = details(recorder)
        assert [None, None, 20, None] == [d.record.input_tokens for d in attempts]


class TestMemory:
    def test_100_mb_download_costs_the_cap_not_the_body(self, tmp_path: Path) -> None:
        """Recording a 100 MB streamed download holds no more than the capture cap."""
        chunk_size = 65536
        megabytes = [1]

        class Chunks:
            def __iter__(self) -> Iterator[bytes]:
                for index in range(megabytes[0] * 1024 * 1024 // chunk_size):
                    # A fresh object each time, as socket reads produce.
                    yield bytes([index % 256]) * chunk_size

        def edge(request: httpx2.Request) -> httpx2.Response:
            stream = iterator_stream(httpx2, Chunks())  # type: ignore[arg-type]
            return httpx2.Response(
                200, headers={"content-type": "application/octet-stream"}, stream=stream
            )

        url = "https://api.openai.com/v1/files/file-1/content"
        cap = 1 << 20
        with oaitrace.Recorder(str(tmp_path / "big.db"), capture_limit=cap) as recorder:
            client = recorder.client(transport=httpx2.MockTransport(edge))
            # A first download outside the measure: imports, caches, the
            # database's first pages are not what a body costs.
            client.get(url)
            assert recorder.flush(timeout=30)
            megabytes[0] = 100
            tracemalloc.start()
            try:
                received = 0
                with client.stream("GET", url) as response:
                    for piece in response.iter_raw():
                        received += len(piece)
                assert recorder.flush(timeout=30)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            detail = details(recorder)[-1]  # oldest first
        assert (100 * 1024 * 1024, 100 * 1024 * 1024, True) == (
            received,
            detail.response_bytes,
            detail.response_truncated,
        )
        # Head and tail within the cap, never a second copy of them while
        # parsing; besides, the two network chunks in flight (this test's
        # own) and the request's bookkeeping. A joined copy would be 2 MiB.
        assert peak < cap + 4 * chunk_size, peak
