"""OpenTelemetry SDK providers that keep spans and metrics in memory.

Every configuration that emits telemetry gets the same providers: spans go
through a `SimpleSpanProcessor` into an exporter that only counts them
(exported on the request path, so their whole cost is counted, and nothing
piles up in memory over a long run), metrics into an `InMemoryMetricReader`.
Nothing leaves the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Telemetry", "counting_exporter", "in_memory_telemetry"]


@dataclass
class Telemetry:
    """The providers and the exporter that counts what they produced."""

    tracer_provider: Any
    meter_provider: Any
    exporter: Any

    def take_span_count(self) -> int:
        """Spans exported since the last call."""
        count: int = self.exporter.take_count()
        return count


def counting_exporter() -> Any:
    """A span exporter that keeps nothing but the number of spans it was given."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: PLC0415

    class CountingSpanExporter(SpanExporter):  # type: ignore[misc]
        def __init__(self) -> None:
            self._count = 0

        def export(self, spans: Any) -> Any:
            self._count += len(spans)
            return SpanExportResult.SUCCESS

        def take_count(self) -> int:
            count, self._count = self._count, 0
            return count

    return CountingSpanExporter()


def in_memory_telemetry(*, set_global: bool = True) -> Telemetry:
    """Fresh providers; also installed as the global ones unless told otherwise."""
    from opentelemetry import metrics, trace  # noqa: PLC0415 - only in environments with the SDK
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415

    exporter = counting_exporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, exporter)
