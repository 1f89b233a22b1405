"""The demo server, driven by the real openai SDK over real loopback HTTP (no oaitrace)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import openai
import pytest

from oaitrace._demo_server import (
    RATE_LIMITED_MODEL,
    SERVER_ERROR_MODEL,
    DemoServer,
    format_reset_duration,
)

CHAT_MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello demo"},
]
OPENAI_HEADERS = (
    "x-request-id",
    "openai-processing-ms",
    "openai-version",
    "openai-organization",
    "openai-project",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture
def client(server: DemoServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client:
        yield client


def raw_request(
    server: DemoServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with the stdlib client, for what the SDK would never send."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        headers = {"authorization": "Bearer sk-test", "content-type": "application/json"}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class TestChatCompletions:
    def test_reply_is_built_from_the_last_user_message(self, client: openai.OpenAI) -> None:
        """A non-streamed chat answers deterministically from the last user message."""
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT_MESSAGES)

        assert completion.model == "gpt-4o-mini"
        assert completion.choices[0].finish_reason == "stop"
        content = completion.choices[0].message.content
        assert content is not None
        assert "Hello demo" in content
        assert completion.usage is not None
        assert completion.usage.total_tokens == (
            completion.usage.prompt_tokens + completion.usage.completion_tokens
        )
        assert completion.usage.prompt_tokens_details is not None
        assert completion.usage.prompt_tokens_details.cached_tokens == 0
        assert completion.usage.completion_tokens_details is not None
        assert completion.usage.completion_tokens_details.reasoning_tokens == 0

    def test_n_gives_that_many_choices(self, client: openai.OpenAI) -> None:
        """`n` is honoured."""
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=CHAT_MESSAGES, n=3
        )

        assert [choice.index for choice in completion.choices] == [0, 1, 2]

    def test_reasoning_model_reports_reasoning_tokens(self, client: openai.OpenAI) -> None:
        """o-series models report some completion tokens as reasoning tokens."""
        completion = client.chat.completions.create(model="o4-mini", messages=CHAT_MESSAGES)

        assert completion.usage is not None
        assert completion.usage.completion_tokens_details is not None
        assert completion.usage.completion_tokens_details.reasoning_tokens == (
            completion.usage.completion_tokens // 2
        )

    def test_stream_with_usage_ends_in_a_usage_chunk(self, client: openai.OpenAI) -> None:
        """With include_usage the last chunk has empty choices and carries usage."""
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=CHAT_MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)

        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
        finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
        assert len(chunks) > 4
        assert "Hello demo" in text
        assert finish[-1] == "stop"
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens > 0
        assert all(chunk.usage is None for chunk in chunks[:-1])

    def test_stream_without_usage_has_no_usage_chunk(self, client: openai.OpenAI) -> None:
        """Without include_usage every chunk has a choice and none has usage."""
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=CHAT_MESSAGES, stream=True)
        )

        assert all(chunk.choices for chunk in chunks)
        assert all(chunk.usage is None for chunk in chunks)
        assert chunks[-1].choices[0].finish_reason == "stop"

    def test_stream_is_chunked_sse_ending_in_done(self, server: DemoServer) -> None:
        """The wire format is chunked `text/event-stream` ending with `data: [DONE]`."""
        body = json.dumps({"model": "gpt-4o-mini", "messages": CHAT_MESSAGES, "stream": True})
        status, headers, raw = raw_request(server, "POST", "/v1/chat/completions", body.encode())

        assert status == 200
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["transfer-encoding"] == "chunked"
        assert raw.startswith(b"data: {")
        assert raw.endswith(b"data: [DONE]\n\n")

    def test_chunk_delay_spaces_the_chunks(self) -> None:
        """A configured delay pauses between chunks (a lower bound only, never flaky)."""
        delay = 0.02
        with (
            DemoServer(chunk_delay_s=delay) as server,
            openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client,
        ):
            started = time.monotonic()
            chunks = list(
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=CHAT_MESSAGES, stream=True
                )
            )
            elapsed = time.monotonic() - started

        assert len(chunks) > 3
        assert elapsed >= delay * (len(chunks) - 1)

    def test_raw_response_carries_openai_headers(self, client: openai.OpenAI) -> None:
        """Every OpenAI header is there, in OpenAI's formats."""
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=CHAT_MESSAGES
        )
        headers = raw.headers

        assert [name for name in OPENAI_HEADERS if name not in headers] == []
        assert headers["x-request-id"].startswith("req_")
        assert headers["openai-processing-ms"].isdigit()
        assert headers["openai-version"] == "2020-10-01"
        assert headers["content-type"] == "application/json"
        assert headers["x-ratelimit-reset-requests"].endswith("ms")
        assert raw.parse().choices[0].message.content is not None

    def test_remaining_rate_limits_go_down(self) -> None:
        """Remaining requests and tokens decrease call by call, and reset times grow."""
        # Low limits refill slowly (10 requests a minute), so timing cannot blur the count.
        with (
            DemoServer(limit_requests=10, limit_tokens=600) as server,
            openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client,
        ):
            responses = [
                client.chat.completions.with_raw_response.create(
                    model="gpt-4o-mini", messages=CHAT_MESSAGES
                ).headers
                for _ in range(3)
            ]

        requests = [int(headers["x-ratelimit-remaining-requests"]) for headers in responses]
        tokens = [int(headers["x-ratelimit-remaining-tokens"]) for headers in responses]
        assert requests == [9, 8, 7]
        assert 600 > tokens[0] > tokens[1] > tokens[2]
        assert responses[0]["x-ratelimit-reset-requests"] == "6s"
        assert responses[2]["x-ratelimit-reset-requests"].endswith("s")


class TestEmbeddings:
    def test_sdk_default_base64_decodes_to_floats(self, client: openai.OpenAI) -> None:
        """The SDK asks for base64 by default and gets floats back after decoding."""
        response = client.embeddings.create(
            model="text-embedding-3-small", input=["one", "two"], dimensions=8
        )

        assert [len(item.embedding) for item in response.data] == [8, 8]
        assert all(isinstance(value, float) for value in response.data[0].embedding)
        assert response.usage.prompt_tokens == response.usage.total_tokens == 2

    def test_float_and_base64_give_the_same_vector(self, client: openai.OpenAI) -> None:
        """Both encodings carry the same deterministic vector."""
        as_float = client.embeddings.create(
            model="text-embedding-3-small", input="same text", encoding_format="float"
        )
        decoded = client.embeddings.create(model="text-embedding-3-small", input="same text")

        assert isinstance(as_float.data[0].embedding[0], float)
        assert as_float.data[0].embedding == decoded.data[0].embedding

    def test_base64_on_the_wire(self, server: DemoServer) -> None:
        """`encoding_format=base64` returns a base64 string, as the SDK expects."""
        body = {"model": "text-embedding-3-small", "input": "x", "encoding_format": "base64"}
        status, _, raw = raw_request(server, "POST", "/v1/embeddings", json.dumps(body).encode())

        assert status == 200
        assert isinstance(json.loads(raw)["data"][0]["embedding"], str)


class TestResponses:
    def test_create(self, client: openai.OpenAI) -> None:
        """A non-streamed response has output text and Responses-style usage."""
        response = client.responses.create(model="gpt-4o-mini", input="Hello responses")

        assert "Hello responses" in response.output_text
        assert response.status == "completed"
        assert response.usage is not None
        assert response.usage.total_tokens == (
            response.usage.input_tokens + response.usage.output_tokens
        )
        assert response.usage.input_tokens_details.cached_tokens == 0
        assert response.usage.output_tokens_details.reasoning_tokens == 0

    def test_stream_events(self, client: openai.OpenAI) -> None:
        """A stream goes created, deltas, completed; completed carries usage."""
        events = list(client.responses.create(model="gpt-4o-mini", input="Hi", stream=True))
        types = [event.type for event in events]
        deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
        completed = events[-1]

        assert types[0] == "response.created"
        assert types[-1] == "response.completed"
        assert len(deltas) > 1
        assert completed.type == "response.completed"
        assert completed.response.output_text == "".join(deltas)
        assert completed.response.usage is not None
        assert completed.response.usage.output_tokens > 0
        assert [event.sequence_number for event in events] == list(range(len(events)))

    def test_stream_helper_accumulates(self, client: openai.OpenAI) -> None:
        """The SDK's `responses.stream` helper can assemble the final response."""
        with client.responses.stream(model="gpt-4o-mini", input="Assemble me") as stream:
            for _ in stream:
                pass
            final = stream.get_final_response()

        assert "Assemble me" in final.output_text

    def test_stream_has_event_lines(self, server: DemoServer) -> None:
        """Responses streams name each event on an `event:` line and have no [DONE]."""
        body = json.dumps({"model": "gpt-4o-mini", "input": "x", "stream": True}).encode()
        _, _, raw = raw_request(server, "POST", "/v1/responses", body)

        assert raw.startswith(b"event: response.created\ndata: {")
        assert b"event: response.output_text.delta\n" in raw
        assert b"[DONE]" not in raw


class TestModels:
    def test_list(self, client: openai.OpenAI) -> None:
        """`models.list` pages through the served models."""
        ids = [model.id for model in client.models.list()]

        assert "gpt-4o-mini" in ids

    def test_retrieve(self, client: openai.OpenAI) -> None:
        """`models.retrieve` answers for any id."""
        assert client.models.retrieve("gpt-4o").id == "gpt-4o"


class TestFailures:
    def test_rate_limited_model_succeeds_after_one_retry(
        self, client: openai.OpenAI, server: DemoServer
    ) -> None:
        """The first attempt gets a 429, the SDK retries quickly and succeeds."""
        completion = client.chat.completions.create(
            model=RATE_LIMITED_MODEL, messages=CHAT_MESSAGES
        )

        assert completion.choices[0].message.content is not None
        assert [(r.status_code, r.retry_count) for r in server.requests] == [
            (429, "0"),
            (200, "1"),
        ]

    def test_rate_limit_error_body_and_headers(self, server: DemoServer) -> None:
        """The 429 looks like OpenAI's: error JSON and a short retry-after-ms."""
        body = json.dumps({"model": RATE_LIMITED_MODEL, "messages": CHAT_MESSAGES}).encode()
        status, headers, raw = raw_request(server, "POST", "/v1/chat/completions", body)
        second_status, _, _ = raw_request(server, "POST", "/v1/chat/completions", body)

        error = json.loads(raw)["error"]
        assert status == 429
        assert second_status == 200
        assert headers["retry-after-ms"] == "50"
        assert headers["x-request-id"].startswith("req_")
        assert error["type"] == "requests"
        assert error["code"] == "rate_limit_exceeded"
        assert error["param"] is None

    def test_server_error_model_raises(self, client: openai.OpenAI, server: DemoServer) -> None:
        """`demo-server-error` always answers 500; without retries the SDK raises."""
        with pytest.raises(openai.InternalServerError) as caught:
            client.with_options(max_retries=0).chat.completions.create(
                model=SERVER_ERROR_MODEL, messages=CHAT_MESSAGES
            )

        assert caught.value.status_code == 500
        assert [request.status_code for request in server.requests] == [500]

    def test_fail_header_injects_for_any_model(self, client: openai.OpenAI) -> None:
        """The x-demo-fail header forces a failure whatever the model."""
        with pytest.raises(openai.InternalServerError):
            client.with_options(max_retries=0).chat.completions.create(
                model="gpt-4o-mini",
                messages=CHAT_MESSAGES,
                extra_headers={"x-demo-fail": "server_error"},
            )

    def test_unknown_path_is_an_openai_404(self, client: openai.OpenAI) -> None:
        """An unknown URL gets OpenAI's 'Invalid URL' error."""
        with pytest.raises(openai.NotFoundError) as caught:
            client.post("/nowhere", cast_to=object, body={})

        assert "Invalid URL (POST /v1/nowhere)" in caught.value.message

    def test_bad_json_is_400(self, server: DemoServer) -> None:
        """A body that is not JSON gets a 400 with an OpenAI error body."""
        status, headers, raw = raw_request(server, "POST", "/v1/chat/completions", b"{not json")

        assert status == 400
        assert headers["content-type"] == "application/json"
        assert json.loads(raw)["error"]["type"] == "invalid_request_error"

    def test_missing_api_key_is_401(self, server: DemoServer) -> None:
        """No bearer token, no answer: like OpenAI."""
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        body = json.dumps({"model": "gpt-4o-mini", "messages": CHAT_MESSAGES})
        connection.request("POST", "/v1/chat/completions", body=body)
        response = connection.getresponse()
        error = json.loads(response.read())["error"]
        connection.close()

        assert response.status == 401
        assert "API key" in error["message"]


class TestLifecycle:
    def test_keep_alive_reuses_one_connection(self, server: DemoServer) -> None:
        """Two requests travel over one HTTP/1.1 connection."""
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        statuses = []
        for _ in range(2):
            connection.request("GET", "/v1/models", headers={"authorization": "Bearer k"})
            response = connection.getresponse()
            response.read()
            statuses.append((response.status, response.version))
        connection.close()

        assert statuses == [(200, 11), (200, 11)]

    def test_stop_leaves_no_threads_even_with_open_connections(self) -> None:
        """stop() cuts idle keep-alive connections and joins every thread it started."""
        server = DemoServer().start()
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
        client.models.list()  # leaves a keep-alive connection open in the client's pool

        server.stop()
        client.close()

        leftover = [t.name for t in threading.enumerate() if t.name.startswith("oaitrace-demo")]
        assert leftover == []
        assert len(server.requests) == 1

    def test_start_twice_is_an_error(self, server: DemoServer) -> None:
        """A started server refuses a second start."""
        with pytest.raises(RuntimeError, match="already started"):
            server.start()

    def test_base_url_needs_a_started_server(self) -> None:
        """There is no URL before start()."""
        with pytest.raises(RuntimeError, match="not started"):
            _ = DemoServer().base_url

    def test_gzip_when_asked(self) -> None:
        """With compress=True JSON is gzipped for clients that accept it; the SDK copes."""
        with (
            DemoServer(compress=True) as server,
            openai.OpenAI(base_url=server.base_url, api_key="sk-test") as client,
        ):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=CHAT_MESSAGES
            )

        assert raw.headers["content-encoding"] == "gzip"
        assert raw.parse().choices[0].message.content is not None


class TestFormatResetDuration:
    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (0.0, "0s"),
            (0.006, "6ms"),
            (0.0001, "1ms"),
            (1.0, "1s"),
            (62.5, "1m2.5s"),
            (360.0, "6m0s"),
            (3723.5, "1h2m3.5s"),
        ],
    )
    def test_formats_like_openai(self, seconds: float, expected: str) -> None:
        """Durations look like OpenAI's x-ratelimit-reset-* values."""
        assert format_reset_duration(seconds) == expected
