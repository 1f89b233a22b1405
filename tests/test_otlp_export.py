"""Real OTLP/HTTP export to a receiver on 127.0.0.1: live spans and `oaitrace export otlp`."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import oaitrace
from oaitrace._otel import span_attributes, to_ns
from oaitrace.cli import cli
from oaitrace.query import Query, RequestDetail
from tests.openai_edge import openai_handler

CHAT_ARGS: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "Say hello"}],
}


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver decoded it from the wire."""

    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    schema_url: str


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    return getattr(value, kind) if kind else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


class Receiver:
    """An OTLP/HTTP traces endpoint (protobuf) on a free loopback port."""

    def __init__(self, status: int = 200) -> None:
        self.spans: list[ReceivedSpan] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.take(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(receiver.status)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            resource=resource,
                            scope=scope_spans.scope.name,
                            schema_url=scope_spans.schema_url,
                        )
                    )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def client(recorder: oaitrace.Recorder) -> openai.OpenAI:
    transport = httpx2.MockTransport(openai_handler(httpx2))
    return openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.openai.com/v1",
        http_client=recorder.client(transport=transport),
    )


def record_calls(database: Path) -> list[RequestDetail]:
    """A database with a chat, a streamed chat and an embedding; their stored details."""
    with oaitrace.Recorder(str(database)) as recorder:
        openai_client = client(recorder)
        openai_client.chat.completions.create(**CHAT_ARGS, temperature=0.2)
        for _ in openai_client.chat.completions.create(
            **CHAT_ARGS, stream=True, stream_options={"include_usage": True}
        ):
            pass
        openai_client.embeddings.create(model="text-embedding-3-small", input="x")
        assert recorder.flush(timeout=10)
    with Query(str(database)) as query:
        return list(reversed(query.details(limit=100)))


def as_received(value: Any) -> Any:
    # Protobuf has no tuples of one type only: lists come back as tuples here too.
    return tuple(value) if isinstance(value, list) else value


class TestLiveSpans:
    def test_spans_arrive_intact(self, receiver: Receiver, tmp_path: Path) -> None:
        """Spans from a Recorder with BatchSpanProcessor(OTLPSpanExporter) arrive whole."""
        provider = TracerProvider(resource=Resource.create({"service.name": "app"}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.base_url}/v1/traces"))
        )
        tracer = provider.get_tracer("app")
        with oaitrace.Recorder(str(tmp_path / "live.db"), tracer_provider=provider) as recorder:
            with tracer.start_as_current_span("handle request") as app:
                client(recorder).chat.completions.create(**CHAT_ARGS, temperature=0.2)
            assert recorder.flush(timeout=10)
        provider.force_flush()
        provider.shutdown()
        with Query(str(tmp_path / "live.db")) as query:
            (detail,) = query.details()
        spans = {span.name: span for span in receiver.spans}
        assert {"handle request", "chat gpt-4o-mini"} == set(spans)
        span = spans["chat gpt-4o-mini"]
        context = app.get_span_context()
        record = detail.record
        assert (
            f"{context.trace_id:032x}",
            f"{context.span_id:016x}",
            3,  # SPAN_KIND_CLIENT
            "oaitrace",
            "app",
        ) == (
            span.trace_id,
            span.parent_span_id,
            span.kind,
            span.scope,
            span.resource["service.name"],
        )
        assert oaitrace._otel_names.SCHEMA_URL == span.schema_url
        assert abs(to_ns(record.started_at) - span.start_ns) < 1000
        assert abs(record.duration_ms * 1e6 - (span.end_ns - span.start_ns)) < 1000
        expected = {
            key: as_received(value)
            for key, value in span_attributes(record, detail.extra, detail.usage_details).items()
        }
        assert expected == span.attributes
        assert 0.2 == span.attributes["gen_ai.request.temperature"]
        assert 12 == span.attributes["gen_ai.usage.input_tokens"]


class TestExportCommand:
    def test_replayed_spans_arrive_intact(self, receiver: Receiver, tmp_path: Path) -> None:
        """`export otlp` sends one root span per stored attempt, times and attributes kept."""
        details = record_calls(tmp_path / "stored.db")
        result = CliRunner().invoke(
            cli,
            [
                "export",
                "otlp",
                "--endpoint",
                receiver.base_url,
                "-d",
                str(tmp_path / "stored.db"),
                "--service-name",
                "replay",
            ],
        )
        assert 0 == result.exit_code, result.output
        assert "Exported 3 spans" in result.output
        assert ["chat gpt-4o-mini", "chat gpt-4o-mini", "embeddings text-embedding-3-small"] == [
            span.name for span in receiver.spans
        ]
        for detail, span in zip(details, receiver.spans, strict=True):
            record = detail.record
            start = to_ns(record.started_at)
            expected = {
                key: as_received(value)
                for key, value in span_attributes(
                    record, detail.extra, detail.usage_details
                ).items()
            }
            assert (expected, "", start, start + round(record.duration_ms * 1e6), "replay") == (
                span.attributes,
                span.parent_span_id,
                span.start_ns,
                span.end_ns,
                span.resource["service.name"],
            )
        assert len({span.trace_id for span in receiver.spans}) == 3
        assert 0.2 == receiver.spans[0].attributes["gen_ai.request.temperature"]
        assert receiver.spans[1].attributes["gen_ai.response.time_to_first_chunk"] > 0

    def test_since_filters(self, receiver: Receiver, tmp_path: Path) -> None:
        """--since in the future exports nothing and says so."""
        record_calls(tmp_path / "stored.db")
        result = CliRunner().invoke(
            cli,
            [
                "export",
                "otlp",
                "--endpoint",
                receiver.base_url,
                "-d",
                str(tmp_path / "stored.db"),
                "--since",
                "2999-01-01",
            ],
        )
        assert (0, [], True) == (
            result.exit_code,
            receiver.spans,
            "Exported 0 spans" in result.output,
        )

    def test_rejected_export_is_an_error(self, tmp_path: Path) -> None:
        """When the endpoint refuses the spans the command fails and says how many were lost."""
        record_calls(tmp_path / "stored.db")
        receiver = Receiver(status=400)
        try:
            result = CliRunner().invoke(
                cli,
                [
                    "export",
                    "otlp",
                    "--endpoint",
                    receiver.base_url,
                    "-d",
                    str(tmp_path / "stored.db"),
                ],
            )
        finally:
            receiver.close()
        assert 1 == result.exit_code
        assert "3 of 3 spans could not be delivered" in result.output

    def test_bad_endpoint_is_a_clean_error(self, tmp_path: Path) -> None:
        """An endpoint that is not an http(s) URL is a one-line usage error."""
        result = CliRunner().invoke(
            cli, ["export", "otlp", "--endpoint", "localhost:4318", "-d", str(tmp_path / "x.db")]
        )
        assert 2 == result.exit_code
        assert "must be an http(s) URL" in result.output

    def test_missing_exporter_says_what_to_install(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the OTLP exporter installed the command names the extra to install."""
        record_calls(tmp_path / "stored.db")
        monkeypatch.setitem(
            sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None
        )
        result = CliRunner().invoke(
            cli,
            [
                "export",
                "otlp",
                "--endpoint",
                "http://127.0.0.1:9",
                "-d",
                str(tmp_path / "stored.db"),
            ],
        )
        assert 1 == result.exit_code
        assert "pip install 'oaitrace[otlp]'" in result.output
        assert "Traceback" not in result.output
