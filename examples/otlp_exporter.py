"""OpenTelemetry over OTLP/HTTP: send each OpenAI call's span to a collector.

Usage: python examples/otlp_exporter.py [ENDPOINT]
ENDPOINT defaults to $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
http://localhost:4318/v1/traces (an OpenTelemetry Collector, Jaeger or
Grafana Tempo listening for OTLP/HTTP). Runs offline against oaitrace's
built-in OpenAI-compatible server; with no collector running the spans are
simply not delivered. Needs `pip install 'oaitrace[otlp]'`.

Already recorded calls can be sent later, too:
    oaitrace export otlp --endpoint http://localhost:4318 --since 24h
"""

from __future__ import annotations

import os
import sys

import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import oaitrace
from oaitrace._demo_server import DemoServer

endpoint = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://localhost:4318/v1/traces")
)
tracer_provider = TracerProvider(resource=Resource.create({"service.name": "otlp-example"}))
# A short timeout so the example ends quickly when no collector listens.
tracer_provider.add_span_processor(
    BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=2))
)

with DemoServer() as server, oaitrace.Recorder(tracer_provider=tracer_provider) as recorder:
    client = openai.OpenAI(
        base_url=server.base_url, api_key="sk-demo", http_client=recorder.client()
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Stream a short answer."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass  # the span gets gen_ai.response.time_to_first_chunk and the usage
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    recorder.flush()

tracer_provider.shutdown()  # sends what is still queued
print(f"Spans exported to {endpoint}; a delivery failure is logged above.")
