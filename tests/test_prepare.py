"""What oaitrace changes in outgoing requests: its own tags header, and opt-in stream usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest

import oaitrace
from oaitrace._prepare import TAGS_HEADER, RequestPreparer, parse_tags_header
from oaitrace.query import Query, RequestRecord
from tests.openai_edge import openai_handler

CHAT_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Hi"}],
}


class Edge:
    """The network edge: answers like OpenAI and keeps every request it received."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self._answer = openai_handler(httpx2)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.requests.append(request)
        response: httpx2.Response = self._answer(request)
        return response


def make(tmp_path: Path, **options: Any) -> tuple[oaitrace.Recorder, openai.OpenAI, Edge]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    edge = Edge()
    recorder = oaitrace.Recorder(str(tmp_path / "prepare.db"), **options)
    client = openai.OpenAI(
        api_key="sk-test", http_client=recorder.client(transport=httpx2.MockTransport(edge))
    )
    return recorder, client, edge


def stored(recorder: oaitrace.Recorder) -> list[RequestRecord]:
    assert recorder.flush(timeout=10)
    with Query(recorder.database_url) as query:
        return list(reversed(query.requests()))


@pytest.fixture
def cleanup() -> Iterator[list[oaitrace.Recorder]]:
    recorders: list[oaitrace.Recorder] = []
    yield recorders
    for recorder in recorders:
        recorder.close()


class TestTagsHeader:
    def test_header_parsing(self) -> None:
        """Pairs are comma-separated, values percent-decoded, junk skipped."""
        assert {"user": "u 42", "feature": "a,b"} == parse_tags_header(
            "user=u%2042, feature=a%2Cb, junk, =x"
        )

    def test_per_call_tags_are_stored_and_never_sent(
        self, tmp_path: Path, cleanup: list[oaitrace.Recorder]
    ) -> None:
        """Per-call header tags are stored over block and default tags, and stripped."""
        recorder, client, edge = make(tmp_path, tags={"service": "api", "user": "default"})
        cleanup.append(recorder)
        with oaitrace.tags(feature="search", user="block"):
            client.chat.completions.create(
                **CHAT_ARGS, extra_headers=oaitrace.tag_headers(user="u,42", step=2)
            )
            client.chat.completions.create(**CHAT_ARGS)
        with_header, without = stored(recorder)
        assert {"service": "api", "feature": "search", "user": "u,42", "step": "2"} == dict(
            with_header.tags
        )
        assert {"service": "api", "feature": "search", "user": "block"} == dict(without.tags)
        assert [False, False] == [TAGS_HEADER in request.headers for request in edge.requests]

    @pytest.mark.parametrize("library", [httpx, httpx2], ids=["httpx", "httpx2"])
    @pytest.mark.parametrize("name", ["x-oaitrace-tags", "X-OAITrace-Tags", "X-OAITRACE-TAGS"])
    def test_header_found_whatever_its_case(self, library: Any, name: str) -> None:
        """Header names are case-insensitive: any spelling is read and never sent."""
        request = library.Request(
            "POST", "https://api.openai.com/v1/chat/completions", headers={name: "user=u-1"}
        )
        sent, tags = RequestPreparer(object()).prepare(request)
        assert {"user": "u-1"} == dict(tags)
        assert TAGS_HEADER not in sent.headers
        assert [] == [key for key, _ in sent.headers.raw if key.lower() == TAGS_HEADER.encode()]

    def test_headers_of_another_shape_still_read(self) -> None:
        """Headers without httpx's internal list fall back to the mapping's own lookup."""

        class Request:
            def __init__(self) -> None:
                self.headers = {TAGS_HEADER: "feature=search", "accept": "application/json"}

        request = Request()
        _, tags = RequestPreparer(object()).prepare(request)
        assert {"feature": "search"} == dict(tags)
        assert {"accept": "application/json"} == request.headers


class TestInjectStreamUsage:
    def test_streams_without_usage_get_it_when_opted_in(
        self, tmp_path: Path, cleanup: list[oaitrace.Recorder]
    ) -> None:
        """With inject_stream_usage the server is asked for usage and the record has it."""
        recorder, client, edge = make(tmp_path, inject_stream_usage=True)
        cleanup.append(recorder)
        chunks = list(client.chat.completions.create(**CHAT_ARGS, stream=True))
        assert [] == chunks[-1].choices  # the documented extra usage chunk
        sent = json.loads(edge.requests[0].content)
        assert {"include_usage": True} == sent["stream_options"]
        (record,) = stored(recorder)
        assert (9, 20) == (record.input_tokens, record.output_tokens)

    def test_off_by_default_and_caller_choice_respected(
        self, tmp_path: Path, cleanup: list[oaitrace.Recorder]
    ) -> None:
        """By default nothing is added; an explicit include_usage=False is never overridden."""
        recorder, client, edge = make(tmp_path)
        cleanup.append(recorder)
        list(client.chat.completions.create(**CHAT_ARGS, stream=True))
        recorder_on, client_on, edge_on = make(tmp_path / "second", inject_stream_usage=True)
        cleanup.append(recorder_on)
        args = {**CHAT_ARGS, "stream_options": {"include_usage": False}}
        list(client_on.chat.completions.create(**args, stream=True))
        assert "stream_options" not in json.loads(edge.requests[0].content)
        assert {"include_usage": False} == json.loads(edge_on.requests[0].content)["stream_options"]
        (record,) = stored(recorder)
        assert (None, None) == (record.input_tokens, record.output_tokens)
