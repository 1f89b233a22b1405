"""OpenTelemetry: print the span and metrics of each OpenAI call to the console.

Shows: passing your own `tracer_provider` / `meter_provider` to the Recorder
(without them oaitrace uses the global providers, and with no SDK installed
it emits nothing), a span per HTTP attempt that is the child of your own
span, and the GenAI metrics. Runs offline against oaitrace's built-in
OpenAI-compatible server. Needs `pip install opentelemetry-sdk`.
"""

from __future__ import annotations

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import oaitrace
from oaitrace._demo_server import DemoServer

tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
# Metrics are exported when the provider shuts down (and every 60 s before that).
metric_reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
meter_provider = MeterProvider(metric_readers=[metric_reader])
tracer = tracer_provider.get_tracer("example")

with (
    DemoServer() as server,
    oaitrace.Recorder(tracer_provider=tracer_provider, meter_provider=meter_provider) as recorder,
):
    client = openai.OpenAI(
        base_url=server.base_url, api_key="sk-demo", http_client=recorder.client()
    )
    # The "chat gpt-4o-mini" span oaitrace emits is a child of this one.
    with tracer.start_as_current_span("answer question"):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is OpenTelemetry?"}],
            temperature=0.2,
        )
    # Spans are made on the recorder's writer thread: wait for them.
    recorder.flush()

tracer_provider.shutdown()
meter_provider.shutdown()
