"""OpenTelemetry spans, metrics and the per-exchange log event, through the real openai SDK.

Every test passes its own SDK providers to the Recorder; none touches the
global providers, so nothing leaks between tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.semconv.schemas import Schemas
from opentelemetry.trace import SpanKind, StatusCode
from structlog.testing import capture_logs

import oaitrace
from oaitrace import _otel_names as names
from oaitrace._otel import CAPTURE_CONTENT_ENV, replay_span, to_ns
from oaitrace.query import Query, RequestRecord
from tests.openai_edge import CHAT_COMPLETION, OPENAI_HEADERS, openai_handler

API_KEY = "sk-test-0123456789"
BASE_URL = "https://api.openai.com/v1"
CHAT_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
    ],
}
Handler = Callable[[httpx2.Request], httpx2.Response]


class Telemetry:
    """A Recorder wired to in-memory SDK span and metric exporters."""

    def __init__(self, tmp_path: Path, **recorder_args: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        recorder_args.setdefault("capture_message_content", False)
        self.recorder = oaitrace.Recorder(
            database_url=f"sqlite:///{tmp_path / 'otel.db'}",
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **recorder_args,
        )
        self.seen_headers: list[httpx2.Headers] = []

    def client(self, handler: Handler | None = None, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=API_KEY,
            base_url=BASE_URL,
            http_client=self.recorder.client(transport=httpx2.MockTransport(self._edge(handler))),
            **options,
        )

    def async_client(self) -> openai.AsyncOpenAI:
        transport = httpx2.MockTransport(self._edge(None))
        return openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url=BASE_URL,
            http_client=self.recorder.async_client(transport=transport),
        )

    def _edge(self, handler: Handler | None) -> Handler:
        inner = handler or openai_handler(httpx2)

        def edge(request: httpx2.Request) -> httpx2.Response:
            self.seen_headers.append(request.headers)
            return inner(request)

        return edge

    def finished(self) -> list[ReadableSpan]:
        assert self.recorder.flush(timeout=10)
        return [span for span in self.spans.get_finished_spans() if span.name != "app"]

    def records(self) -> list[RequestRecord]:
        assert self.recorder.flush(timeout=10)
        with Query(self.recorder.database_url) as query:
            return list(reversed(query.requests(limit=100)))

    def metric(self, name: str) -> Metric:
        data = self.metrics.get_metrics_data()
        assert data is not None
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        return metric
        raise AssertionError(name)


@pytest.fixture
def otel(tmp_path: Path) -> Iterator[Telemetry]:
    telemetry = Telemetry(tmp_path)
    yield telemetry
    telemetry.recorder.close()


def headers_attributes(record: RequestRecord) -> dict[str, Any]:
    """The attributes every span of the canned OpenAI edge carries."""
    return {
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.provider.name": "openai",
        "http.request.method": "POST",
        "openai.request.id": "req_0123456789abcdef",
        "openai.response.processing_ms": 321.0,
        "openai.api.version": "2020-10-01",
        "openai.organization": "org-test",
        "openai.project": "proj_test",
        "openai.ratelimit.limit_requests": 10000,
        "openai.ratelimit.remaining_requests": 9999,
        "openai.ratelimit.reset_requests_s": 0.006,
        "openai.ratelimit.limit_tokens": 2000000,
        "openai.ratelimit.remaining_tokens": 1999950,
        "openai.ratelimit.reset_tokens_s": 62.5,
        "openai.request.retry_attempt": 0,
        "oaitrace.record_id": record.id,
    }


def without_cost(attributes: Any) -> dict[str, Any]:
    # The cost depends on the price data of the day; its presence is tested apart.
    return {key: value for key, value in dict(attributes).items() if key != "oaitrace.cost_usd"}


class TestSpanAttributes:
    def test_chat(self, otel: Telemetry) -> None:
        """A chat call is one CLIENT span named "chat {model}" with every semconv attribute."""
        otel.client().chat.completions.create(
            **CHAT_ARGS,
            temperature=0.5,
            top_p=0.9,
            max_completion_tokens=50,
            stop=["END"],
            seed=7,
            n=1,
            frequency_penalty=0.1,
            presence_penalty=0.2,
            service_tier="default",
        )
        (span,) = otel.finished()
        (record,) = otel.records()
        assert ("chat gpt-4o-mini", SpanKind.CLIENT, StatusCode.UNSET) == (
            span.name,
            span.kind,
            span.status.status_code,
        )
        assert {
            **headers_attributes(record),
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.max_tokens": 50,
            "gen_ai.request.stop_sequences": ("END",),
            "gen_ai.request.seed": 7,
            "gen_ai.request.choice.count": 1,
            "gen_ai.request.frequency_penalty": 0.1,
            "gen_ai.request.presence_penalty": 0.2,
            "gen_ai.request.stream": False,
            "openai.request.service_tier": "default",
            "openai.api.type": "chat_completions",
            "gen_ai.output.type": "text",
            "gen_ai.response.id": "chatcmpl-abc",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.usage.cache_read.input_tokens": 4,
            "gen_ai.usage.reasoning.output_tokens": 1,
            "http.response.status_code": 200,
        } == without_cost(span.attributes)

    def test_span_times_are_the_exchange_times(self, otel: Telemetry) -> None:
        """The span starts when the request was sent and lasts exactly the recorded duration."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        (record,) = otel.records()
        assert span.start_time is not None
        assert span.end_time is not None
        # Stored times have microsecond precision; the span keeps nanoseconds.
        assert abs(to_ns(record.started_at) - span.start_time) < 1000
        assert abs(record.duration_ms * 1e6 - (span.end_time - span.start_time)) < 1000

    def test_streamed_chat_has_time_to_first_chunk(self, otel: Telemetry) -> None:
        """A streamed chat's span says stream=true and when the first content chunk came."""
        stream = otel.client().chat.completions.create(
            **CHAT_ARGS, stream=True, stream_options={"include_usage": True}
        )
        for _ in stream:
            pass
        (span,) = otel.finished()
        (record,) = otel.records()
        attributes = without_cost(span.attributes)
        assert record.ttft_ms is not None
        assert record.ttft_ms / 1000 == attributes.pop("gen_ai.response.time_to_first_chunk")
        assert {
            **headers_attributes(record),
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.request.stream": True,
            "openai.api.type": "chat_completions",
            "gen_ai.output.type": "text",
            "gen_ai.response.id": "chatcmpl-str",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 9,
            "gen_ai.usage.output_tokens": 20,
            "http.response.status_code": 200,
        } == attributes

    def test_embeddings(self, otel: Telemetry) -> None:
        """An embeddings call has its own operation and no output type."""
        otel.client().embeddings.create(model="text-embedding-3-small", input="hello")
        (span,) = otel.finished()
        (record,) = otel.records()
        assert "embeddings text-embedding-3-small" == span.name
        assert {
            **headers_attributes(record),
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.request.stream": False,
            "openai.api.type": "embeddings",
            "gen_ai.response.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 5,
            "http.response.status_code": 200,
        } == without_cost(span.attributes)

    def test_responses(self, otel: Telemetry) -> None:
        """A Responses call is a chat span with the Responses API type and its usage."""
        otel.client().responses.create(
            model="gpt-4.1",
            input="Hi",
            max_output_tokens=64,
            text={"format": {"type": "json_object"}},
        )
        (span,) = otel.finished()
        (record,) = otel.records()
        assert "chat gpt-4.1" == span.name
        assert {
            **headers_attributes(record),
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4.1",
            "gen_ai.request.max_tokens": 64,
            "gen_ai.request.stream": False,
            "openai.api.type": "responses",
            "gen_ai.output.type": "json",
            "gen_ai.response.id": "resp_123",
            "gen_ai.response.model": "gpt-4.1-2025-04-14",
            "gen_ai.response.finish_reasons": ("completed",),
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 8,
            "gen_ai.usage.reasoning.output_tokens": 16,
            "http.response.status_code": 200,
        } == without_cost(span.attributes)

    def test_response_service_tier_and_fingerprint(self, otel: Telemetry) -> None:
        """The response's service tier and system fingerprint become openai.response.* values."""

        def handler(request: httpx2.Request) -> httpx2.Response:
            body = {**CHAT_COMPLETION, "service_tier": "flex", "system_fingerprint": "fp_42"}
            return httpx2.Response(200, headers=OPENAI_HEADERS, json=body)

        otel.client(handler).chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.attributes is not None
        assert ("flex", "fp_42") == (
            span.attributes["openai.response.service_tier"],
            span.attributes["openai.response.system_fingerprint"],
        )

    def test_http_error(self, otel: Telemetry) -> None:
        """A 404 is an ERROR span whose error.type is the API's error type."""
        with pytest.raises(openai.NotFoundError):
            otel.client(max_retries=0).models.retrieve("gpt-nothing")
        (span,) = otel.finished()
        assert span.attributes is not None
        assert (StatusCode.ERROR, "Unknown path") == (
            span.status.status_code,
            span.status.description,
        )
        assert ("models.retrieve", "GET", 404, "invalid_request_error") == (
            span.name,
            span.attributes["http.request.method"],
            span.attributes["http.response.status_code"],
            span.attributes["error.type"],
        )

    def test_http_error_without_body_uses_the_status(self, otel: Telemetry) -> None:
        """An error response that says nothing has the status code as its error.type."""
        handler = lambda request: httpx2.Response(503, content=b"")  # noqa: E731
        with pytest.raises(openai.InternalServerError):
            otel.client(handler, max_retries=0).chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.attributes is not None
        assert (StatusCode.ERROR, "503") == (
            span.status.status_code,
            span.attributes["error.type"],
        )

    def test_network_error(self, otel: Telemetry) -> None:
        """A request that got no response is an ERROR span typed by the exception class."""

        def handler(request: httpx2.Request) -> httpx2.Response:
            msg = "connection refused"
            raise httpx2.ConnectError(msg, request=request)

        with pytest.raises(openai.APIConnectionError):
            otel.client(handler, max_retries=0).chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.attributes is not None
        assert (StatusCode.ERROR, "ConnectError", None) == (
            span.status.status_code,
            span.attributes["error.type"],
            span.attributes.get("http.response.status_code"),
        )

    def test_retry_is_two_spans(self, otel: Telemetry) -> None:
        """A 429 the SDK retries gives two spans, retry attempts 0 and 1."""
        answers = iter(
            [
                httpx2.Response(
                    429,
                    headers={**OPENAI_HEADERS, "retry-after-ms": "1"},
                    json={"error": {"message": "slow down", "type": "requests"}},
                ),
                httpx2.Response(200, headers=OPENAI_HEADERS, json=CHAT_COMPLETION),
            ]
        )
        otel.client(lambda request: next(answers)).chat.completions.create(**CHAT_ARGS)
        first, second = sorted(otel.finished(), key=lambda span: span.start_time or 0)
        assert first.attributes is not None
        assert second.attributes is not None
        assert (0, 429, "requests", StatusCode.ERROR) == (
            first.attributes["openai.request.retry_attempt"],
            first.attributes["http.response.status_code"],
            first.attributes["error.type"],
            first.status.status_code,
        )
        assert (1, 200, StatusCode.UNSET) == (
            second.attributes["openai.request.retry_attempt"],
            second.attributes["http.response.status_code"],
            second.status.status_code,
        )

    def test_every_span_of_a_run_has_the_same_attributes(self, otel: Telemetry) -> None:
        """The first span (attributes added after the start) and later ones (given at
        the start, once spans are known to record) carry the very same attributes."""
        client = otel.client()
        for _ in range(3):
            client.chat.completions.create(**CHAT_ARGS)
        spans = sorted(otel.finished(), key=lambda span: span.start_time or 0)
        attributes = [without_cost(span.attributes) for span in spans]
        record_ids = {each.pop(names.OAITRACE_RECORD_ID) for each in attributes}
        assert (3, 3, attributes[0], attributes[0]) == (
            len(spans),
            len(record_ids),
            attributes[1],
            attributes[2],
        )

    def test_a_sampler_sees_the_response_attributes_once_spans_record(self, tmp_path: Path) -> None:
        """Samplers see what is known at the start of the span: after the first
        recording span, that includes the response's model and usage."""
        seen: list[dict[str, Any]] = []

        class Seeing(Sampler):
            def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
                attributes = kwargs.get("attributes")
                if attributes is None and len(args) > 4:
                    attributes = args[4]
                seen.append(dict(attributes or {}))
                return ALWAYS_ON.should_sample(*args, **kwargs)

            def get_description(self) -> str:
                return "seeing"

        telemetry = Telemetry(tmp_path)
        telemetry.tracer_provider = TracerProvider(sampler=Seeing())
        telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(telemetry.spans))
        recorder = oaitrace.Recorder(
            database_url=f"sqlite:///{tmp_path / 'sampled.db'}",
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,
        )
        telemetry.recorder.close()
        telemetry.recorder = recorder
        client = telemetry.client()
        for _ in range(2):
            client.chat.completions.create(**CHAT_ARGS)
        assert len(telemetry.finished()) == 2
        recorder.close()
        assert [
            ("gpt-4o-mini", None),
            ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ] == [
            (each.get("gen_ai.request.model"), each.get("gen_ai.response.model")) for each in seen
        ]

    def test_azure_provider(self, otel: Telemetry) -> None:
        """Requests to an Azure OpenAI host name the provider azure.ai.openai."""
        client = openai.AzureOpenAI(
            api_key="0123456789abcdef",
            api_version="2024-10-21",
            azure_endpoint="https://example.openai.azure.com",
            http_client=otel.recorder.client(
                transport=httpx2.MockTransport(openai_handler(httpx2))
            ),
        )
        client.chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.attributes is not None
        assert ("azure.ai.openai", "example.openai.azure.com") == (
            span.attributes["gen_ai.provider.name"],
            span.attributes["server.address"],
        )

    def test_cost_is_a_float_when_known(self, otel: Telemetry) -> None:
        """oaitrace.cost_usd is set exactly when the record has a cost."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        (record,) = otel.records()
        assert span.attributes is not None
        expected = None if record.cost_usd is None else float(record.cost_usd)
        assert expected == span.attributes.get("oaitrace.cost_usd")

    def test_schema_url_is_a_known_semconv_schema(self, otel: Telemetry) -> None:
        """Spans carry the pinned schema URL, one the semantic-conventions package knows."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.instrumentation_scope is not None
        assert names.SCHEMA_URL == span.instrumentation_scope.schema_url
        assert names.SCHEMA_URL in {schema.value for schema in Schemas}

    def test_replayed_span_has_the_live_attributes(self, otel: Telemetry) -> None:
        """A span replayed from the database carries the same attributes as the live one."""
        otel.client().chat.completions.create(**CHAT_ARGS, temperature=0.3, max_tokens=9)
        (live,) = otel.finished()
        with Query(otel.recorder.database_url) as query:
            detail = query.detail(otel.records()[0].id)
        assert detail is not None
        replay = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(replay))
        replay_span(provider.get_tracer("t"), detail.record, detail.extra, detail.usage_details)
        (replayed,) = replay.get_finished_spans()
        assert (live.name, dict(live.attributes or {})) == (
            replayed.name,
            dict(replayed.attributes or {}),
        )
        assert replayed.parent is None


class TestParent:
    def test_span_is_a_child_of_the_application_span(self, otel: Telemetry) -> None:
        """The span of a request made inside an application span is its child."""
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("app") as app:
            otel.client().chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.parent is not None
        context = app.get_span_context()
        assert (context.trace_id, context.span_id) == (span.context.trace_id, span.parent.span_id)

    def test_concurrent_async_requests_keep_their_parents(self, otel: Telemetry) -> None:
        """With asyncio.gather each task's request is the child of that task's own span."""
        tracer = otel.tracer_provider.get_tracer("app")
        client = otel.async_client()
        parents: set[int] = set()

        async def call(index: int) -> None:
            with tracer.start_as_current_span("app") as app:
                parents.add(app.get_span_context().span_id)
                await client.embeddings.create(model="text-embedding-3-small", input=str(index))

        async def run() -> None:
            await asyncio.gather(*(call(index) for index in range(10)))

        asyncio.run(run())
        spans = otel.finished()
        assert 10 == len(spans)
        assert parents == {span.parent.span_id for span in spans if span.parent is not None}

    def test_without_application_span_it_is_a_root(self, otel: Telemetry) -> None:
        """Outside any span the request's span starts a trace of its own."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert span.parent is None


class TestContent:
    def test_off_by_default(self, otel: Telemetry) -> None:
        """Without opting in no message content reaches the span."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        (span,) = otel.finished()
        assert set() == {
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.system_instructions",
        } & set(span.attributes or {})

    def test_chat_messages(self, tmp_path: Path) -> None:
        """Opted in, a chat span carries input and output messages in the semconv shape."""
        otel = Telemetry(tmp_path, capture_message_content=True)
        with otel.recorder:
            otel.client().chat.completions.create(**CHAT_ARGS)
            (span,) = otel.finished()
        assert span.attributes is not None
        assert [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]},
        ] == json.loads(str(span.attributes["gen_ai.input.messages"]))
        assert [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "Hello there"}],
                "finish_reason": "stop",
            }
        ] == json.loads(str(span.attributes["gen_ai.output.messages"]))

    def test_streamed_chat_output_is_joined_from_deltas(self, tmp_path: Path) -> None:
        """A streamed chat's output message is the text of all its deltas."""
        otel = Telemetry(tmp_path, capture_message_content=True)
        with otel.recorder:
            for _ in otel.client().chat.completions.create(**CHAT_ARGS, stream=True):
                pass
            (span,) = otel.finished()
        assert span.attributes is not None
        expected_text = "".join(f"w{index} " for index in range(20))
        assert [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": expected_text}],
                "finish_reason": "stop",
            }
        ] == json.loads(str(span.attributes["gen_ai.output.messages"]))

    def test_responses_instructions_are_system_instructions(self, tmp_path: Path) -> None:
        """Responses `instructions` become gen_ai.system_instructions, `input` the user message."""
        otel = Telemetry(tmp_path, capture_message_content=True)
        with otel.recorder:
            otel.client().responses.create(model="gpt-4.1", input="Hi", instructions="Be kind.")
            (span,) = otel.finished()
        assert span.attributes is not None
        assert (
            [{"type": "text", "content": "Be kind."}],
            [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}],
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "Hi"}],
                    "finish_reason": "completed",
                }
            ],
        ) == tuple(
            json.loads(str(span.attributes[name]))
            for name in (
                "gen_ai.system_instructions",
                "gen_ai.input.messages",
                "gen_ai.output.messages",
            )
        )

    @pytest.mark.parametrize(("value", "captured"), [("true", True), ("false", False)])
    def test_environment_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, captured: bool
    ) -> None:
        """With no argument $OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT decides."""
        monkeypatch.setenv(CAPTURE_CONTENT_ENV, value)
        otel = Telemetry(tmp_path, capture_message_content=None)
        with otel.recorder:
            otel.client().chat.completions.create(**CHAT_ARGS)
            (span,) = otel.finished()
        assert captured == ("gen_ai.input.messages" in (span.attributes or {}))


class TestPropagation:
    def test_traceparent_is_injected_when_asked(self, tmp_path: Path) -> None:
        """With propagate_trace_context the server receives the application span's traceparent."""
        otel = Telemetry(tmp_path, propagate_trace_context=True)
        tracer = otel.tracer_provider.get_tracer("app")
        with otel.recorder, tracer.start_as_current_span("app") as app:
            otel.client().chat.completions.create(**CHAT_ARGS)
        (headers,) = otel.seen_headers
        context = app.get_span_context()
        version, trace_id, parent_id, _flags = headers["traceparent"].split("-")
        assert ("00", f"{context.trace_id:032x}", f"{context.span_id:016x}") == (
            version,
            trace_id,
            parent_id,
        )

    def test_no_traceparent_by_default(self, otel: Telemetry) -> None:
        """By default the request goes out without a traceparent header."""
        tracer = otel.tracer_provider.get_tracer("app")
        with tracer.start_as_current_span("app"):
            otel.client().chat.completions.create(**CHAT_ARGS)
        (headers,) = otel.seen_headers
        assert "traceparent" not in headers


def points(metric: Metric) -> list[Any]:
    return list(metric.data.data_points)


class TestMetrics:
    def test_token_usage_and_duration(self, otel: Telemetry) -> None:
        """A chat call records input and output tokens and its duration with common attributes."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        (record,) = otel.records()
        common = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "server.address": "api.openai.com",
            "server.port": 443,
        }
        usage = otel.metric("gen_ai.client.token.usage")
        assert "{token}" == usage.unit
        assert {("input", 12), ("output", 3)} == {
            (point.attributes["gen_ai.token.type"], point.sum) for point in points(usage)
        }
        assert list(names.TOKEN_BUCKETS) == list(points(usage)[0].explicit_bounds)
        (duration,) = points(otel.metric("gen_ai.client.operation.duration"))
        assert (common, 1, list(names.DURATION_BUCKETS)) == (
            dict(duration.attributes),
            duration.count,
            list(duration.explicit_bounds),
        )
        assert abs(record.duration_ms / 1000 - duration.sum) < 1e-6

    def test_stream_chunk_timings(self, otel: Telemetry) -> None:
        """A stream records its time to first chunk and time per output chunk, once each."""
        for _ in otel.client().chat.completions.create(**CHAT_ARGS, stream=True):
            pass
        (record,) = otel.records()
        (first,) = points(otel.metric("gen_ai.client.operation.time_to_first_chunk"))
        (per_chunk,) = points(otel.metric("gen_ai.client.operation.time_per_output_chunk"))
        assert record.ttft_ms is not None
        assert (1, 1) == (first.count, per_chunk.count)
        assert abs(record.ttft_ms / 1000 - first.sum) < 1e-9
        assert 0 <= per_chunk.sum <= record.duration_ms / 1000

    def test_errors_carry_error_type(self, otel: Telemetry) -> None:
        """A failed call's duration is recorded with its error.type."""
        with pytest.raises(openai.NotFoundError):
            otel.client(max_retries=0).models.retrieve("gpt-nothing")
        otel.finished()
        (duration,) = points(otel.metric("gen_ai.client.operation.duration"))
        assert "invalid_request_error" == duration.attributes["error.type"]

    def test_rate_limit_gauges(self, otel: Telemetry) -> None:
        """The latest remaining requests and tokens are observable per model and organization."""
        otel.client().chat.completions.create(**CHAT_ARGS)
        otel.finished()
        key = {
            "server.address": "api.openai.com",
            "gen_ai.request.model": "gpt-4o-mini",
            "openai.organization": "org-test",
        }
        for name, value in (
            ("openai.ratelimit.remaining_requests", 9999),
            ("openai.ratelimit.remaining_tokens", 1999950),
        ):
            (point,) = points(otel.metric(name))
            assert (key, value) == (dict(point.attributes), point.value)

    def test_dropped_records_are_counted(self, tmp_path: Path) -> None:
        """Exchanges dropped because the queue was full show in oaitrace.records.dropped."""
        otel = Telemetry(tmp_path)
        otel.recorder.close()
        otel.recorder.emit(object())  # type: ignore[arg-type]
        counts = {
            point.attributes["oaitrace.drop.reason"]: point.value
            for point in points(otel.metric("oaitrace.records.dropped"))
        }
        assert {"queue_full": 1, "lost": 0} == counts


class TestRobustness:
    def test_a_failing_span_processor_does_not_stop_recording(self, tmp_path: Path) -> None:
        """A span processor that raises is counted as an internal error; records still stored."""

        class Broken(SpanProcessor):
            def on_end(self, span: ReadableSpan) -> None:
                msg = "exporter down"
                raise RuntimeError(msg)

        otel = Telemetry(tmp_path)
        otel.tracer_provider.add_span_processor(Broken())
        with otel.recorder:
            client = otel.client()
            client.chat.completions.create(**CHAT_ARGS)
            client.chat.completions.create(**CHAT_ARGS)
            assert 2 == len(otel.records())
            assert otel.recorder.internal_error_count >= 1

    def test_without_an_sdk_nothing_is_emitted(self, tmp_path: Path) -> None:
        """With only the API's global no-op providers oaitrace records and never loads the SDK."""
        script = textwrap.dedent(
            f"""
            import sys
            import httpx2, openai, oaitrace
            from opentelemetry import trace
            from tests.openai_edge import openai_handler
            with oaitrace.Recorder({str(tmp_path / "api.db")!r}) as recorder:
                transport = httpx2.MockTransport(openai_handler(httpx2))
                client = openai.OpenAI(
                    api_key="sk-x", http_client=recorder.client(transport=transport)
                )
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}]
                )
                assert recorder.flush(10)
                assert (1, 0) == (recorder.stored_count, recorder.internal_error_count)
            assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
            assert not [name for name in sys.modules if name.startswith("opentelemetry.sdk")]
            """
        )
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert 0 == result.returncode, result.stderr


class TestLogEvent:
    def test_one_debug_event_per_exchange(self, otel: Telemetry) -> None:
        """Each stored exchange logs one `oaitrace.exchange` debug event with its key fields."""
        with capture_logs() as logs:
            otel.client().chat.completions.create(**CHAT_ARGS)
            (record,) = otel.records()
        events = [log for log in logs if log["event"] == "oaitrace.exchange"]
        assert [
            {
                "event": "oaitrace.exchange",
                "log_level": "debug",
                "record_id": record.id,
                "request_id": "req_0123456789abcdef",
                "operation": "chat",
                "model": "gpt-4o-mini-2024-07-18",
                "status_code": 200,
                "duration_ms": round(record.duration_ms, 3),
                "input_tokens": 12,
                "output_tokens": 3,
                "cost_usd": None if record.cost_usd is None else float(record.cost_usd),
                "error_type": None,
            }
        ] == events
