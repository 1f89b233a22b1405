"""One function per configuration: instrument the process, say how to wrap a transport.

A `Setup` is what the overhead, first-chunk and memory workers need to know
about a configuration: which `openai` module to build the client from (a
wrapper may hand out its own), how to wrap the mock transport, what to run
after a timed block (a flush, so deferred work is counted) and what was on.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

from telemetry import Telemetry, counting_exporter, in_memory_telemetry

__all__ = ["SETUPS", "Setup"]

_FLUSH_TIMEOUT_S = 300.0


def _no_wrap(lib_name: str, inner: Any) -> Any:
    return inner


def _nothing() -> None:
    return None


@dataclass
class Setup:
    """How one configuration is wired into a process."""

    openai: ModuleType
    wrap_transport: Callable[[str, Any], Any] = _no_wrap
    finish: Callable[[], None] = _nothing
    telemetry: Telemetry | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    describe: Callable[[], dict[str, Any]] = dict


def bare() -> Setup:
    """The floor: the openai SDK over the mock transport, nothing else."""
    return Setup(openai=import_module("openai"))


def _database_url() -> str:
    directory = tempfile.mkdtemp(prefix="oaitrace-bench-")
    return f"sqlite:///{os.path.join(directory, 'bench.db')}"


def oaitrace_full() -> Setup:
    """oaitrace as shipped: SQLite, the writer's work flushed inside the timing, telemetry on."""
    import oaitrace  # noqa: PLC0415 - only in oaitrace's environment

    telemetry = in_memory_telemetry()
    database_url = _database_url()
    recorder = oaitrace.Recorder(
        database_url=database_url,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
    )

    def wrap(lib_name: str, inner: Any) -> Any:
        module = import_module(f"oaitrace.{lib_name}")
        return module.RecordingTransport(recorder=recorder, transport=inner)

    def finish() -> None:
        if not recorder.flush(timeout=_FLUSH_TIMEOUT_S):
            msg = "recorder.flush() timed out or lost records"
            raise RuntimeError(msg)

    def describe() -> dict[str, Any]:
        return {
            "stored": recorder.stored_count,
            "dropped": recorder.dropped_count,
            "internal_errors": recorder.internal_error_count,
            "cost_recorded": _cost_recorded(database_url),
        }

    return Setup(
        openai=import_module("openai"),
        wrap_transport=wrap,
        finish=finish,
        telemetry=telemetry,
        notes={"database": "SQLite file (WAL), default batch size"},
        describe=describe,
    )


def _cost_recorded(database_url: str) -> bool | str:
    """Whether stored records carry a cost (the pricing work may not have landed yet)."""
    try:
        from oaitrace.query import Query  # noqa: PLC0415

        records = Query(database_url=database_url).requests(limit=1)
    except Exception as exc:  # the query layer is changing concurrently; report, don't fail
        return f"unknown ({type(exc).__name__})"
    return bool(records) and getattr(records[0], "cost_usd", None) is not None


class CountingSink:
    """A recorder whose writer does nothing: what remains is oaitrace's request path."""

    capture_limit = 1 << 20

    def __init__(self) -> None:
        self.emitted = 0
        self.errors = 0

    def emit(self, exchange: Any) -> None:
        self.emitted += 1

    def report_internal_error(self, error: BaseException) -> None:
        self.errors += 1


def oaitrace_request_path() -> Setup:
    """oaitrace's transport handing each exchange to a sink that only counts."""
    sink = CountingSink()

    def wrap(lib_name: str, inner: Any) -> Any:
        module = import_module(f"oaitrace.{lib_name}")
        return module.RecordingTransport(recorder=sink, transport=inner)

    def describe() -> dict[str, Any]:
        return {"emitted": sink.emitted, "internal_errors": sink.errors}

    return Setup(openai=import_module("openai"), wrap_transport=wrap, describe=describe)


def otel_openai_v2() -> Setup:
    """opentelemetry-instrumentation-openai-v2, content capture at its default (off)."""
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: PLC0415

    telemetry = in_memory_telemetry()
    OpenAIInstrumentor().instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return Setup(openai=import_module("openai"), telemetry=telemetry)


def otel_genai_openai() -> Setup:
    """opentelemetry-instrumentation-genai-openai (openai-v2's successor), defaults."""
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor  # noqa: PLC0415

    telemetry = in_memory_telemetry()
    OpenAIInstrumentor().instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return Setup(openai=import_module("openai"), telemetry=telemetry)


def traceloop() -> Setup:
    """traceloop's opentelemetry-instrumentation-openai (OpenLLMetry), defaults (content on)."""
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor  # noqa: PLC0415

    telemetry = in_memory_telemetry()
    OpenAIInstrumentor().instrument(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    return Setup(openai=import_module("openai"), telemetry=telemetry)


def langfuse() -> Setup:
    """langfuse's drop-in `langfuse.openai`, offline: own batch processor, counting exporter."""
    from langfuse import Langfuse  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    exporter = counting_exporter()
    client = Langfuse(
        public_key="pk-lf-benchmark",
        secret_key="sk-lf-benchmark",  # noqa: S106 - not a secret: nothing is sent
        # Nothing listens there; the span exporter below replaces the OTLP one.
        base_url="http://127.0.0.1:9",
        tracer_provider=TracerProvider(),
        span_exporter=exporter,
    )
    telemetry = Telemetry(tracer_provider=None, meter_provider=None, exporter=exporter)

    def finish() -> None:
        client.flush()

    return Setup(
        openai=import_module("langfuse.openai"),
        finish=finish,
        telemetry=telemetry,
        notes={"span processor": "langfuse's own BatchSpanProcessor, flushed inside the timing"},
    )


def openlit() -> Setup:
    """openlit, with our providers (it reuses an existing global one) and a local price file."""
    os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
    telemetry = in_memory_telemetry()
    import openlit as openlit_module  # noqa: PLC0415

    pricing = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openlit_pricing.json")
    openlit_module.init(
        pricing_json=pricing,
        collect_gpu_stats=False,
        disabled_instrumentors=None,
    )
    return Setup(
        openai=import_module("openai"),
        telemetry=telemetry,
        notes={"events": "OTEL_LOGS_EXPORTER=none", "pricing": "local file"},
    )


SETUPS: dict[str, Callable[[], Setup]] = {
    "bare": bare,
    "oaitrace": oaitrace_full,
    "oaitrace-request-path": oaitrace_request_path,
    "otel-openai-v2": otel_openai_v2,
    "otel-genai-openai": otel_genai_openai,
    "traceloop": traceloop,
    "langfuse": langfuse,
    "openlit": openlit,
}
