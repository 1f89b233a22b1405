"""`parse` turns hand-built Exchanges of every kind into the right Record."""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import json
from typing import Any, cast

import brotli

from oaitrace._exchange import Exchange
from oaitrace._parse import parse
from tests.corpus import CHUNK_GAP_NS, HEADERS_NS, STARTED_AT_NS, build_exchange

KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz"
JSON = ("content-type", "application/json")
SSE = ("content-type", "text/event-stream; charset=utf-8")
OPENAI_HEADERS = [
    JSON,
    ("x-request-id", "req_abc123"),
    ("openai-processing-ms", "412"),
    ("openai-version", "2020-10-01"),
    ("openai-organization", "org-test"),
    ("openai-project", "proj_test"),
    ("x-ratelimit-limit-requests", "10000"),
    ("x-ratelimit-remaining-requests", "9999"),
    ("x-ratelimit-reset-requests", "6ms"),
    ("x-ratelimit-limit-tokens", "200000"),
    ("x-ratelimit-remaining-tokens", "199950"),
    ("x-ratelimit-reset-tokens", "1m0.5s"),
    ("set-cookie", "__cf_bm=secret"),
]
CHAT_REQUEST = json.dumps(
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
).encode()
CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 2,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 1,
        },
    },
}


def body(payload: Any) -> bytes:
    """A JSON body."""
    return json.dumps(payload).encode()


def sse(*payloads: Any, event: str | None = None) -> bytes:
    """SSE `data:` events for each payload (strings as they are), blank-line separated."""
    out = b""
    for payload in payloads:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        prefix = f"event: {event}\n" if event else ""
        out += f"{prefix}data: {text}\n\n".encode()
    return out


def multipart(**fields: bytes) -> bytes:
    """A multipart/form-data body with boundary `b`."""
    parts = [
        b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value)
        for name, value in fields.items()
    ]
    return b"".join(parts) + b"--b--\r\n"


def chat_exchange(**overrides: Any) -> Exchange:
    """A non-streamed chat completion exchange; override any `build_exchange` argument."""
    arguments: dict[str, Any] = {
        "request_headers": [
            JSON,
            ("authorization", f"Bearer {KEY}"),
            ("x-stainless-retry-count", "1"),
        ],
        "request_body": CHAT_REQUEST,
        "response_headers": OPENAI_HEADERS,
        "chunks": [body(CHAT_RESPONSE)],
    }
    arguments.update(overrides)
    return build_exchange(**arguments)


class TestChat:
    def test_non_streamed(self) -> None:
        """Every field of a plain chat completion comes out as sent."""
        record = parse(chat_exchange(tags={"user": "u-42"}), record_id="rec-1")
        assert {
            "id": "rec-1",
            "started_at": datetime.datetime(
                2023, 11, 14, 22, 13, 20, 123456, tzinfo=datetime.timezone.utc
            ),
            "host": "api.openai.com",
            "path": "/v1/chat/completions",
            "endpoint": "/v1/chat/completions",
            "operation": "chat",
            "stream": False,
            "status_code": 200,
            "complete": True,
            "request_model": "gpt-4o-mini",
            "response_model": "gpt-4o-mini-2024-07-18",
            "response_id": "chatcmpl-1",
            "request_id": "req_abc123",
            "processing_ms": 412.0,
            "openai_version": "2020-10-01",
            "organization": "org-test",
            "project": "proj_test",
            "ratelimits": (10000, 9999, 0.006, 200000, 199950, 60.5),
            "tokens": (12, 7, 19, 4, 2),
            "usage_details": {
                "prompt_tokens_details.audio_tokens": 0,
                "completion_tokens_details.audio_tokens": 0,
                "completion_tokens_details.accepted_prediction_tokens": 0,
                "completion_tokens_details.rejected_prediction_tokens": 1,
            },
            "finish_reasons": ("stop",),
            "duration_ms": (HEADERS_NS + 2 * CHUNK_GAP_NS) / 1e6,
            "ttfb_ms": HEADERS_NS / 1e6,
            "ttft_ms": None,
            "retry_attempt": 1,
            "cost_usd": None,
            "tags": {"user": "u-42"},
            "errors": (None, None, None),
            "parse_error": None,
            "request_bytes": len(CHAT_REQUEST),
            "response_content_type": "application/json",
        } == {
            "id": record.id,
            "started_at": record.started_at,
            "host": record.host,
            "path": record.path,
            "endpoint": record.endpoint,
            "operation": record.operation,
            "stream": record.stream,
            "status_code": record.status_code,
            "complete": record.complete,
            "request_model": record.request_model,
            "response_model": record.response_model,
            "response_id": record.response_id,
            "request_id": record.request_id,
            "processing_ms": record.processing_ms,
            "openai_version": record.openai_version,
            "organization": record.organization,
            "project": record.project,
            "ratelimits": (
                record.ratelimit_limit_requests,
                record.ratelimit_remaining_requests,
                record.ratelimit_reset_requests_s,
                record.ratelimit_limit_tokens,
                record.ratelimit_remaining_tokens,
                record.ratelimit_reset_tokens_s,
            ),
            "tokens": (
                record.input_tokens,
                record.output_tokens,
                record.total_tokens,
                record.cached_input_tokens,
                record.reasoning_tokens,
            ),
            "usage_details": dict(record.usage_details),
            "finish_reasons": record.finish_reasons,
            "duration_ms": record.duration_ms,
            "ttfb_ms": record.ttfb_ms,
            "ttft_ms": record.ttft_ms,
            "retry_attempt": record.retry_attempt,
            "cost_usd": record.cost_usd,
            "tags": dict(record.tags),
            "errors": (record.error_type, record.error_code, record.error_message),
            "parse_error": record.parse_error,
            "request_bytes": record.request_bytes,
            "response_content_type": record.response_content_type,
        }

    def test_secrets_are_redacted_everywhere(self) -> None:
        """The key never reaches headers or bodies; a fingerprint identifies it."""
        leaky_request = json.dumps({"model": "m", "messages": [{"role": "user", "content": KEY}]})
        record = parse(
            chat_exchange(
                url="https://user:pw@api.openai.com/v1/chat/completions?api-key=abc",
                request_body=leaky_request.encode(),
            ),
            record_id="r",
        )
        stored = json.dumps(
            [
                record.url,
                dict(record.request_headers),
                dict(record.response_headers),
                record.request_body,
            ]
        )
        assert KEY not in stored
        assert "pw@" not in stored
        assert "__cf_bm" not in stored
        assert "abc" not in record.url
        assert record.request_headers["authorization"] == "[redacted]"
        assert record.api_key_fingerprint is not None
        assert record.api_key_fingerprint.startswith("sk-proj-...wxyz#")

    def test_stream_with_usage_chunk(self) -> None:
        """Usage from the final empty-choices chunk; ttft from the first content chunk."""
        chunks = [
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {"role": "assistant"}}],
                }
            ),
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {"content": "Hel"}}],
                }
            ),
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            ),
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                },
                "[DONE]",
            ),
        ]
        request = body(
            {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True}}
        )
        record = parse(
            chat_exchange(request_body=request, response_headers=[SSE], chunks=chunks),
            record_id="r",
        )
        assert (
            record.stream,
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.finish_reasons,
            record.ttft_ms,
            record.response_id,
        ) == (True, 5, 2, 7, ("stop",), (HEADERS_NS + 2 * CHUNK_GAP_NS) / 1e6, "c1")

    def test_stream_without_usage(self) -> None:
        """Without include_usage the stream has no usage: tokens are None, not 0."""
        chunks = [
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {"content": "Hi"}}],
                }
            ),
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                },
                "[DONE]",
            ),
        ]
        record = parse(
            chat_exchange(
                request_body=body({"model": "gpt-4o-mini", "stream": True}),
                response_headers=[SSE],
                chunks=chunks,
            ),
            record_id="r",
        )
        assert (
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.finish_reasons,
            record.response_model,
            record.parse_error,
        ) == (None, None, None, ("length",), "gpt-4o-mini", None)

    def test_azure_stream(self) -> None:
        """An Azure deployment URL and its empty opening chunk parse cleanly."""
        chunks = [
            sse({"id": "", "model": "", "choices": [], "prompt_filter_results": []}),
            sse(
                {
                    "id": "c9",
                    "model": "gpt-4o-2024-11-20",
                    "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}],
                }
            ),
            sse(
                {
                    "id": "c9",
                    "model": "gpt-4o-2024-11-20",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                },
                "[DONE]",
            ),
        ]
        record = parse(
            chat_exchange(
                url="https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21",
                request_headers=[JSON, ("api-key", "0123456789abcdef0123456789abcdef")],
                request_body=body({"messages": [], "stream": True}),
                response_headers=[SSE, ("apim-request-id", "a-1")],
                chunks=chunks,
            ),
            record_id="r",
        )
        assert (
            record.endpoint,
            record.operation,
            record.response_model,
            record.response_id,
            record.request_model,
        ) == (
            "/openai/deployments/{deployment}/chat/completions",
            "chat",
            "gpt-4o-2024-11-20",
            "c9",
            None,
        )
        assert record.ttft_ms == (HEADERS_NS + 2 * CHUNK_GAP_NS) / 1e6
        assert record.request_headers["api-key"] == "[redacted]"


class TestOtherEndpoints:
    def test_legacy_completions(self) -> None:
        """Legacy completions map to text_completion with chat-style usage."""
        response = {
            "id": "cmpl-1",
            "object": "text_completion",
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"text": "Once", "index": 0, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9},
        }
        record = parse(
            chat_exchange(url="https://api.openai.com/v1/completions", chunks=[body(response)]),
            record_id="r",
        )
        assert (
            record.operation,
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.finish_reasons,
        ) == ("text_completion", 4, 5, 9, ("length",))

    def test_embeddings(self) -> None:
        """Embeddings have input tokens and no output tokens."""
        response = {
            "object": "list",
            "data": [],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
        record = parse(
            chat_exchange(url="https://api.openai.com/v1/embeddings", chunks=[body(response)]),
            record_id="r",
        )
        assert (
            record.operation,
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.finish_reasons,
        ) == ("embeddings", 8, None, 8, None)

    def test_responses_non_streamed(self) -> None:
        """A Response object gives Responses-shaped usage and its status."""
        response = {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "model": "o3-mini-2025-01-31",
            "error": None,
            "incomplete_details": None,
            "usage": {
                "input_tokens": 38,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 70,
                "output_tokens_details": {"reasoning_tokens": 64},
                "total_tokens": 108,
            },
        }
        record = parse(
            chat_exchange(url="https://api.openai.com/v1/responses", chunks=[body(response)]),
            record_id="r",
        )
        assert (
            record.operation,
            record.response_id,
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.cached_input_tokens,
            record.reasoning_tokens,
            record.finish_reasons,
            record.error_type,
        ) == ("chat", "resp_1", 38, 70, 108, 0, 64, ("completed",), None)

    def test_responses_stream(self) -> None:
        """Usage and status come from response.completed; ttft from the first delta."""
        created = {
            "id": "resp_2",
            "object": "response",
            "status": "in_progress",
            "model": "gpt-4o",
            "usage": None,
        }
        completed = {
            **created,
            "status": "completed",
            "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        }
        chunks = [
            b"event: response.created\n" + sse({"type": "response.created", "response": created}),
            b"event: response.output_text.delta\n"
            + sse({"type": "response.output_text.delta", "delta": "Hi"}),
            b"event: response.completed\n"
            + sse({"type": "response.completed", "response": completed}),
        ]
        record = parse(
            chat_exchange(
                url="https://api.openai.com/v1/responses",
                request_body=body({"model": "gpt-4o", "input": "Hi", "stream": True}),
                response_headers=[SSE],
                chunks=chunks,
            ),
            record_id="r",
        )
        assert (
            record.response_id,
            record.response_model,
            record.input_tokens,
            record.output_tokens,
            record.total_tokens,
            record.finish_reasons,
            record.ttft_ms,
        ) == (
            "resp_2",
            "gpt-4o",
            3,
            1,
            4,
            ("completed",),
            (HEADERS_NS + 2 * CHUNK_GAP_NS) / 1e6,
        )

    def test_transcription_stream_with_crlf_and_no_final_blank_line(self) -> None:
        """The audio stream's CRLF events and missing final blank line still give usage."""
        usage = {
            "type": "tokens",
            "input_tokens": 37,
            "output_tokens": 12,
            "total_tokens": 49,
            "input_token_details": {"audio_tokens": 37},
        }
        stream = (
            b'data: {"type":"transcript.text.delta","delta":"Ruby"}\r\n\r\n'
            + b"data: "
            + body({"type": "transcript.text.done", "text": "Ruby", "usage": usage})
            + b"\r\n\r\n"
            + b"data: [DONE]"
        )
        record = parse(
            chat_exchange(
                url="https://api.openai.com/v1/audio/transcriptions",
                request_headers=[("content-type", "multipart/form-data; boundary=b")],
                request_body=multipart(model=b"gpt-4o-transcribe"),
                response_headers=[SSE],
                chunks=[stream[:40], stream[40:]],
            ),
            record_id="r",
        )
        assert (
            record.operation,
            record.stream,
            record.request_model,
            record.input_tokens,
            record.output_tokens,
            dict(record.usage_details),
            record.parse_error,
        ) == (
            "audio.transcription",
            True,
            "gpt-4o-transcribe",
            37,
            12,
            {"input_token_details.audio_tokens": 37},
            None,
        )

    def test_transcription_duration_usage(self) -> None:
        """Whisper's duration usage keeps its seconds in the details; tokens stay None."""
        record = parse(
            chat_exchange(
                url="https://api.openai.com/v1/audio/transcriptions",
                chunks=[body({"text": "hi", "usage": {"type": "duration", "seconds": 4}})],
            ),
            record_id="r",
        )
        assert (
            record.input_tokens,
            record.output_tokens,
            dict(record.usage_details),
        ) == (None, None, {"seconds": 4})

    def test_retrieval_usage_is_kept_aside(self) -> None:
        """A retrieved stored object's usage is not counted again as this request's tokens."""
        usage = {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
        response = {
            "id": "resp_1",
            "object": "response",
            "status": "completed",
            "model": "gpt-4o",
            "usage": usage,
        }
        record = parse(
            chat_exchange(
                method="GET",
                url="https://api.openai.com/v1/responses/resp_1",
                request_body=None,
                chunks=[body(response)],
            ),
            record_id="r",
        )
        assert ("responses.retrieve", None, usage) == (
            record.operation,
            record.input_tokens,
            record.extra["object_usage"],
        )


class TestErrors:
    def test_error_body(self) -> None:
        """An API error body fills type, code and message; the message is redacted."""
        error = {
            "error": {
                "message": f"Incorrect API key provided: {KEY}.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        record = parse(chat_exchange(status_code=401, chunks=[body(error)]), record_id="r")
        assert (
            record.status_code,
            record.error_type,
            record.error_code,
            record.error_message,
        ) == (
            401,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided: [redacted].",
        )

    def test_integer_and_null_codes(self) -> None:
        """An integer code becomes a string; a null code stays None."""
        numeric = parse(
            chat_exchange(
                status_code=500,
                chunks=[body({"error": {"message": "x", "type": "server_error", "code": 500}})],
            ),
            record_id="r",
        )
        null = parse(
            chat_exchange(
                status_code=404,
                chunks=[body({"error": {"message": "y", "type": None, "code": None}})],
            ),
            record_id="r",
        )
        assert [
            (numeric.error_code, numeric.error_type),
            (null.error_code, null.error_type),
        ] == [("500", "server_error"), (None, None)]

    def test_rate_limited_with_retry_after(self) -> None:
        """A 429 keeps its retry hint in seconds."""
        record = parse(
            chat_exchange(
                status_code=429,
                response_headers=[JSON, ("retry-after", "20"), ("retry-after-ms", "19500")],
                chunks=[
                    body(
                        {
                            "error": {
                                "message": "Rate limit",
                                "type": "requests",
                                "code": "rate_limit_exceeded",
                            }
                        }
                    )
                ],
            ),
            record_id="r",
        )
        assert (record.retry_after_s, record.error_code) == (19.5, "rate_limit_exceeded")

    def test_network_error(self) -> None:
        """An attempt that got no response keeps the exception as its error."""
        record = parse(
            chat_exchange(
                status_code=None,
                response_headers=[],
                chunks=[],
                complete=False,
                error_type="ConnectError",
                error_message=f"connection refused (key {KEY})",
            ),
            record_id="r",
        )
        assert (
            record.status_code,
            record.complete,
            record.error_type,
            record.error_message,
            record.ttfb_ms,
            record.response_body,
            record.parse_error,
        ) == (
            None,
            False,
            "ConnectError",
            "connection refused (key [redacted])",
            None,
            None,
            None,
        )

    def test_exchange_error_wins_over_body_error(self) -> None:
        """A stream cut by the network reports the network error, not the body's."""
        record = parse(
            chat_exchange(
                chunks=[
                    body({"error": {"message": "body says", "type": "server_error", "code": "x"}})
                ],
                error_type="RemoteProtocolError",
                error_message="peer closed connection",
            ),
            record_id="r",
        )
        assert (
            record.error_type,
            record.error_message,
            record.error_code,
        ) == ("RemoteProtocolError", "peer closed connection", "x")

    def test_sanitized_header_values(self) -> None:
        """`Sanitized` numbers are None; `Sanitized` strings are kept as strings."""
        record = parse(
            chat_exchange(
                response_headers=[
                    JSON,
                    ("x-request-id", "Sanitized"),
                    ("openai-processing-ms", "Sanitized"),
                    ("openai-organization", "Sanitized"),
                    ("x-ratelimit-remaining-tokens", "Sanitized"),
                    ("x-ratelimit-reset-tokens", "Sanitized"),
                ]
            ),
            record_id="r",
        )
        assert (
            record.request_id,
            record.processing_ms,
            record.organization,
            record.ratelimit_remaining_tokens,
            record.ratelimit_reset_tokens_s,
        ) == ("Sanitized", None, "Sanitized", None, None)

    def test_malformed_json(self) -> None:
        """A broken JSON body sets parse_error and keeps everything else."""
        record = parse(chat_exchange(chunks=[b'{"id": "chatcmpl-1", "usage": {']), record_id="r")
        assert record.parse_error is not None
        assert record.parse_error.startswith("invalid JSON body")
        assert (
            record.request_id,
            record.input_tokens,
            record.response_body,
        ) == ("req_abc123", None, '{"id": "chatcmpl-1", "usage": {')

    def test_truncated_stream(self) -> None:
        """A stream cut mid-event keeps what it saw and is not a parse error."""
        chunks = [
            sse(
                {
                    "id": "c1",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {"content": "Hi"}}],
                }
            ),
            b'data: {"id": "c1", "model": "gpt-4o-mi',
        ]
        record = parse(
            chat_exchange(
                request_body=body({"model": "m", "stream": True}),
                response_headers=[SSE],
                chunks=chunks,
                complete=False,
            ),
            record_id="r",
        )
        assert (
            record.complete,
            record.response_model,
            record.input_tokens,
            record.finish_reasons,
            record.parse_error,
        ) == (False, "gpt-4o-mini", None, None, None)

    def test_stream_closed_after_its_end_marker_is_complete(self) -> None:
        """The SDK closes at [DONE] without reading to EOF; the stream was still whole."""
        ended = parse(
            chat_exchange(response_headers=[SSE], chunks=[sse("[DONE]")], complete=False),
            record_id="r",
        )
        completed = {"id": "resp_1", "object": "response", "status": "completed", "model": "m"}
        responses_ended = parse(
            chat_exchange(
                response_headers=[SSE],
                chunks=[sse({"type": "response.completed", "response": completed})],
                complete=False,
            ),
            record_id="r",
        )
        cut = parse(
            chat_exchange(
                response_headers=[SSE],
                chunks=[sse("[DONE]")],
                complete=False,
                error_type="ReadError",
            ),
            record_id="r",
        )
        assert (ended.complete, responses_ended.complete, cut.complete) == (True, True, False)

    def test_garbage_event_in_complete_stream_is_reported(self) -> None:
        """Invalid JSON inside a stream that ended normally is a parse error."""
        record = parse(
            chat_exchange(response_headers=[SSE], chunks=[b"data: {oops\n\ndata: [DONE]\n\n"]),
            record_id="r",
        )
        assert record.parse_error == "1 stream events with invalid JSON"

    def test_never_raises(self) -> None:
        """Even an Exchange that breaks the type contract gives a Record with parse_error."""
        broken = dataclasses.replace(chat_exchange(), response_chunks=cast(Any, [None]))
        record = parse(broken, record_id="r")
        assert record.parse_error is not None
        assert (
            record.status_code,
            record.operation,
            record.endpoint,
        ) == (200, "chat", "/v1/chat/completions")


class TestBodies:
    def test_gzip_body(self) -> None:
        """A gzip body is decompressed before parsing and storing."""
        record = parse(
            chat_exchange(
                response_headers=[JSON, ("content-encoding", "gzip")],
                chunks=[gzip.compress(body(CHAT_RESPONSE))],
            ),
            record_id="r",
        )
        assert (12, json.dumps(CHAT_RESPONSE), None) == (
            record.input_tokens,
            record.response_body,
            record.parse_error,
        )

    def test_brotli_stream_chunk_by_chunk(self) -> None:
        """A br-compressed stream decodes chunk by chunk and keeps its usage."""
        stream = sse(
            {"model": "m", "choices": [{"index": 0, "delta": {"content": "x"}}]},
            {
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            },
            "[DONE]",
        )
        compressed = brotli.compress(stream)
        chunks = [compressed[i : i + 5] for i in range(0, len(compressed), 5)]
        record = parse(
            chat_exchange(response_headers=[SSE, ("content-encoding", "br")], chunks=chunks),
            record_id="r",
        )
        assert (2, stream.decode(), None) == (
            record.total_tokens,
            record.response_body,
            record.parse_error,
        )

    def test_corrupt_gzip(self) -> None:
        """A body that claims gzip but is not sets parse_error without raising."""
        record = parse(
            chat_exchange(
                response_headers=[JSON, ("content-encoding", "gzip")], chunks=[b"not gzip"]
            ),
            record_id="r",
        )
        assert record.parse_error is not None
        assert record.parse_error.startswith("cannot decode body (gzip)")

    def test_stream_with_an_unknown_encoding(self) -> None:
        """A stream in an encoding oaitrace cannot decode keeps everything but the
        stream's own facts, and says why in parse_error."""
        record = parse(
            chat_exchange(
                response_headers=[SSE, ("content-encoding", "zstd-ish"), ("x-request-id", "req_z")],
                chunks=[b"\x28\xb5\x2f\xfd garbage"],
            ),
            record_id="r",
        )
        assert ("req_z", "cannot decode stream (zstd-ish)", None) == (
            record.request_id,
            (record.parse_error or "").partition(":")[0],
            record.total_tokens,
        )

    def test_capture_content_off(self) -> None:
        """Without content capture no body is stored, usage still is."""
        record = parse(chat_exchange(), record_id="r", capture_content=False)
        assert (record.request_body, record.response_body, record.input_tokens) == (None, None, 12)

    def test_binary_response(self) -> None:
        """Audio bytes are not stored as text; their type and size are."""
        audio = b"ID3\x04\x00\xff\xfb" * 100
        record = parse(
            chat_exchange(
                url="https://api.openai.com/v1/audio/speech",
                response_headers=[("content-type", "audio/mpeg")],
                chunks=[audio],
            ),
            record_id="r",
        )
        assert (None, "audio/mpeg", len(audio), None) == (
            record.response_body,
            record.response_content_type,
            record.response_bytes,
            record.parse_error,
        )

    def test_multipart_request(self) -> None:
        """A multipart upload is not stored; its type and size go to extra."""
        upload = multipart(file=b"RIFF\xff\xfe", model=b"whisper-1")
        record = parse(
            chat_exchange(
                url="https://api.openai.com/v1/audio/transcriptions",
                request_headers=[("content-type", "multipart/form-data; boundary=b")],
                request_body=upload,
                chunks=[body({"text": "hello"})],
            ),
            record_id="r",
        )
        assert (None, "whisper-1", len(upload), "multipart/form-data; boundary=b") == (
            record.request_body,
            record.request_model,
            record.request_bytes,
            record.extra["request_content_type"],
        )

    def test_streamed_request_body(self) -> None:
        """A request body the transport could not keep still reports its content-length."""
        record = parse(
            chat_exchange(request_headers=[("content-length", "1234")], request_body=None),
            record_id="r",
        )
        assert (
            record.request_body,
            record.request_bytes,
            record.request_model,
        ) == (None, 1234, None)

    def test_empty_error_body(self) -> None:
        """An empty 500 body is not a parse error."""
        record = parse(
            chat_exchange(status_code=500, response_headers=[], chunks=[]), record_id="r"
        )
        assert (
            record.status_code,
            record.response_body,
            record.parse_error,
            record.error_type,
        ) == (500, None, None, None)


def test_started_at_is_exact_utc() -> None:
    """started_at keeps microseconds of the wall clock and is timezone aware."""
    record = parse(chat_exchange(), record_id="r")
    expected = datetime.datetime.fromtimestamp(
        STARTED_AT_NS // 1000 / 1e6, tz=datetime.timezone.utc
    )
    assert expected == record.started_at
