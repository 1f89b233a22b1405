"""OpenTelemetry spans and metrics of recorded exchanges, by the GenAI semantic conventions.

Everything here runs on the recorder's writer thread, after parsing: one
CLIENT span per HTTP attempt, with the exchange's own start and end times,
parented to the context that was current when the request was sent. Spans
replayed from the database (`oaitrace export otlp`) get their attributes
from the same `span_attributes`, so live and replayed spans agree.

Only `opentelemetry-api` is needed at run time; with no SDK configured the
tracer and meter are the API's no-ops and the work stops at
`span.is_recording()`.
"""

from __future__ import annotations

import datetime
import os
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode

from . import _otel_names as names
from ._otel_content import message_content
from ._providers import provider_for

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.util.types import AttributeValue

    from ._exchange import Exchange, Record

__all__ = [
    "CAPTURE_CONTENT_ENV",
    "RecordLike",
    "Telemetry",
    "capture_content_from_env",
    "replay_span",
    "span_attributes",
    "span_name",
]

CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND: Final = datetime.timedelta(microseconds=1)
# openai.api.type by the end of the endpoint template.
_API_TYPES: Final = (
    ("/chat/completions", "chat_completions"),
    ("/responses", "responses"),
    ("/completions", "completions"),
    ("/embeddings", "embeddings"),
)
_JSON_FORMATS: Final = frozenset({"json_object", "json_schema"})
_CACHE_CREATION_KEYS: Final = (
    "input_tokens_details.cache_creation_tokens",
    "prompt_tokens_details.cache_creation_tokens",
    "cache_creation_input_tokens",
)
# (name in request_params, attribute, accepted types)
_REQUEST_PARAM_ATTRIBUTES: Final = (
    ("temperature", names.GEN_AI_REQUEST_TEMPERATURE, (int, float)),
    ("top_p", names.GEN_AI_REQUEST_TOP_P, (int, float)),
    ("frequency_penalty", names.GEN_AI_REQUEST_FREQUENCY_PENALTY, (int, float)),
    ("presence_penalty", names.GEN_AI_REQUEST_PRESENCE_PENALTY, (int, float)),
    ("seed", names.GEN_AI_REQUEST_SEED, (int,)),
    ("n", names.GEN_AI_REQUEST_CHOICE_COUNT, (int,)),
    ("service_tier", names.OPENAI_REQUEST_SERVICE_TIER, (str,)),
)
_MAX_TOKENS_PARAMS: Final = ("max_completion_tokens", "max_tokens", "max_output_tokens")


class RecordLike(Protocol):
    """What the attribute builders read: a live `Record` or a stored `RequestRecord`."""

    @property
    def id(self) -> str: ...
    @property
    def started_at(self) -> datetime.datetime: ...
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def stream(self) -> bool: ...
    @property
    def status_code(self) -> int | None: ...
    @property
    def request_model(self) -> str | None: ...
    @property
    def response_model(self) -> str | None: ...
    @property
    def response_id(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def processing_ms(self) -> float | None: ...
    @property
    def openai_version(self) -> str | None: ...
    @property
    def organization(self) -> str | None: ...
    @property
    def project(self) -> str | None: ...
    @property
    def ratelimit_limit_requests(self) -> int | None: ...
    @property
    def ratelimit_remaining_requests(self) -> int | None: ...
    @property
    def ratelimit_reset_requests_s(self) -> float | None: ...
    @property
    def ratelimit_limit_tokens(self) -> int | None: ...
    @property
    def ratelimit_remaining_tokens(self) -> int | None: ...
    @property
    def ratelimit_reset_tokens_s(self) -> float | None: ...
    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def cached_input_tokens(self) -> int | None: ...
    @property
    def reasoning_tokens(self) -> int | None: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def ttft_ms(self) -> float | None: ...
    @property
    def finish_reasons(self) -> tuple[str, ...] | None: ...
    @property
    def error_type(self) -> str | None: ...
    @property
    def error_message(self) -> str | None: ...
    @property
    def retry_attempt(self) -> int | None: ...
    @property
    def cost_usd(self) -> Decimal | None: ...


def capture_content_from_env() -> bool:
    """True when `$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` says "true"."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"


# --- attributes (one source of truth for live and replayed spans) -------------


def span_name(record: RecordLike) -> str:
    """``"{operation} {request model}"``, or just the operation when no model was asked for."""
    model = record.request_model
    return f"{record.operation} {model}" if model else record.operation


def _server(record: RecordLike) -> tuple[str, int]:
    """`server.address` and `server.port`; the port is the scheme's default when not given."""
    host = record.host
    address, colon, port = host.rpartition(":")
    # "[::1]:8080" has a port; a bare IPv6 address "[::1]" has none.
    if colon and port.isdigit() and (address.endswith("]") or ":" not in address):
        return address, int(port)
    return host, 80 if record.url.startswith("http://") else 443


def error_type(record: RecordLike) -> str | None:
    """The `error.type` of a failed attempt, None for a success.

    The API's error type or the exception that ended the attempt (a stream
    cut mid-way fails too), else the HTTP status of a 4xx/5xx, else `_OTHER`
    when no response arrived.
    """
    if record.error_type:
        return record.error_type
    status = record.status_code
    if status is None:
        return names.ERROR_TYPE_OTHER
    return str(status) if status >= 400 else None


def _output_type(record: RecordLike, params: Mapping[str, Any]) -> str | None:
    operation = record.operation
    if operation in ("chat", "text_completion"):
        return "json" if params.get("response_format") in _JSON_FORMATS else "text"
    if operation.startswith("images."):
        return "image"
    if operation == "audio.speech":
        return "speech"
    return None


def _api_type(endpoint: str) -> str | None:
    for suffix, api_type in _API_TYPES:
        if endpoint.endswith(suffix):
            return api_type
    return None


def common_attributes(record: RecordLike) -> dict[str, AttributeValue]:
    """The attributes spans and metrics share; known before the span starts."""
    address, port = _server(record)
    attributes: dict[str, AttributeValue] = {
        names.GEN_AI_OPERATION_NAME: record.operation,
        # Stored records know who served them; a replayed old row may not.
        names.GEN_AI_PROVIDER_NAME: getattr(record, "provider", None)
        or provider_for(record.host, record.path),
        names.SERVER_ADDRESS: address,
        names.SERVER_PORT: port,
    }
    if record.request_model:
        attributes[names.GEN_AI_REQUEST_MODEL] = record.request_model
    return attributes


def span_attributes(
    record: RecordLike,
    extra: Mapping[str, Any],
    usage_details: Mapping[str, int | float] | None = None,
) -> dict[str, AttributeValue]:
    """Every span attribute of one attempt, from its record and stored `extra`."""
    attributes = common_attributes(record)
    attributes.update(detail_attributes(record, extra, usage_details))
    return attributes


def detail_attributes(
    record: RecordLike,
    extra: Mapping[str, Any],
    usage_details: Mapping[str, int | float] | None = None,
) -> dict[str, AttributeValue]:
    """The span attributes beyond `common_attributes`: set only on a recording span.

    An attribute whose value is unknown (None) is left out, never given a
    made-up default.
    """
    params = extra.get("request_params") or {}
    response_params = extra.get("response_params") or {}
    ttft_ms = record.ttft_ms
    cost = record.cost_usd
    # One tuple and one comprehension: this runs for every record.
    known: tuple[tuple[str, Any], ...] = (
        (names.HTTP_REQUEST_METHOD, record.method),
        (names.HTTP_RESPONSE_STATUS_CODE, record.status_code),
        (names.GEN_AI_REQUEST_STREAM, record.stream),
        *_request_param_attributes(params),
        (names.GEN_AI_REQUEST_MAX_TOKENS, _max_tokens(params)),
        (names.GEN_AI_REQUEST_STOP_SEQUENCES, _stop_sequences(params.get("stop"))),
        (names.GEN_AI_OUTPUT_TYPE, _output_type(record, params)),
        (names.OPENAI_API_TYPE, _api_type(record.endpoint)),
        (names.GEN_AI_RESPONSE_ID, record.response_id),
        (names.GEN_AI_RESPONSE_MODEL, record.response_model),
        (names.GEN_AI_RESPONSE_FINISH_REASONS, record.finish_reasons),
        (names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, None if ttft_ms is None else ttft_ms / 1000),
        (names.GEN_AI_USAGE_INPUT_TOKENS, record.input_tokens),
        (names.GEN_AI_USAGE_OUTPUT_TOKENS, record.output_tokens),
        (names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, record.cached_input_tokens),
        (names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, _cache_creation(usage_details)),
        (names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, record.reasoning_tokens),
        (names.OPENAI_RESPONSE_SERVICE_TIER, response_params.get("service_tier")),
        (names.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, response_params.get("system_fingerprint")),
        (names.OPENAI_REQUEST_ID, record.request_id),
        (names.OPENAI_RESPONSE_PROCESSING_MS, record.processing_ms),
        (names.OPENAI_API_VERSION, record.openai_version),
        (names.OPENAI_ORGANIZATION, record.organization),
        (names.OPENAI_PROJECT, record.project),
        (names.OPENAI_RATELIMIT_LIMIT_REQUESTS, record.ratelimit_limit_requests),
        (names.OPENAI_RATELIMIT_REMAINING_REQUESTS, record.ratelimit_remaining_requests),
        (names.OPENAI_RATELIMIT_RESET_REQUESTS_S, record.ratelimit_reset_requests_s),
        (names.OPENAI_RATELIMIT_LIMIT_TOKENS, record.ratelimit_limit_tokens),
        (names.OPENAI_RATELIMIT_REMAINING_TOKENS, record.ratelimit_remaining_tokens),
        (names.OPENAI_RATELIMIT_RESET_TOKENS_S, record.ratelimit_reset_tokens_s),
        (names.OPENAI_REQUEST_RETRY_ATTEMPT, record.retry_attempt),
        (names.OAITRACE_COST_USD, None if cost is None else float(cost)),
        (names.OAITRACE_RECORD_ID, record.id),
        (names.ERROR_TYPE, error_type(record)),
    )
    return {name: value for name, value in known if value is not None}


def _request_param_attributes(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The request's generation settings that have an attribute, when of the expected type."""
    found = []
    for key, attribute, types in _REQUEST_PARAM_ATTRIBUTES:
        value = params.get(key)
        if isinstance(value, types) and not isinstance(value, bool):
            found.append((attribute, value))
    return found


def _max_tokens(params: Mapping[str, Any]) -> int | None:
    for key in _MAX_TOKENS_PARAMS:
        value = params.get(key)
        if type(value) is int:
            return value
    return None


def _stop_sequences(stop: Any) -> tuple[str, ...] | None:
    if type(stop) is str:
        return (stop,)
    if type(stop) is list and stop and all(type(item) is str for item in stop):
        return tuple(stop)
    return None


def _cache_creation(usage_details: Mapping[str, int | float] | None) -> int | None:
    if not usage_details:
        return None
    for key in _CACHE_CREATION_KEYS:
        value = usage_details.get(key)
        if type(value) is int:
            return value
    return None


def _set_outcome(span: trace.Span, record: RecordLike) -> None:
    if error_type(record) is not None:
        span.set_status(Status(StatusCode.ERROR, record.error_message))


def to_ns(moment: datetime.datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, without float rounding."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


def replay_span(
    tracer: trace.Tracer,
    record: RecordLike,
    extra: Mapping[str, Any],
    usage_details: Mapping[str, int | float] | None = None,
) -> None:
    """Emit the span of a stored attempt, as a root span with its recorded times."""
    start_ns = to_ns(record.started_at)
    span = tracer.start_span(
        span_name(record),
        context=Context(),
        kind=SpanKind.CLIENT,
        start_time=start_ns,
    )
    if span.is_recording():
        span.set_attributes(span_attributes(record, extra, usage_details))
        _set_outcome(span, record)
    span.end(end_time=start_ns + round(record.duration_ms * 1e6))


# --- the live side --------------------------------------------------------------


class Telemetry:
    """Spans and metrics for the records of one Recorder; called by its writer thread.

    Args:
        tracer_provider: None uses the global provider.
        meter_provider: None uses the global provider.
        capture_message_content: put message content on spans.
        recorder: an object with `dropped_count` and `lost_count`, observed
            (through a weak reference) as `oaitrace.records.dropped`.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        *,
        capture_message_content: bool,
        recorder: object | None = None,
    ) -> None:
        from oaitrace import __version__  # noqa: PLC0415 - the package imports this module

        self.capture_message_content = capture_message_content
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer(
            names.INSTRUMENTATION_NAME, __version__, schema_url=names.SCHEMA_URL
        )
        meters = meter_provider or metrics.get_meter_provider()
        meter = meters.get_meter(
            names.INSTRUMENTATION_NAME, __version__, schema_url=names.SCHEMA_URL
        )
        # The API's no-op meter: every metric call would be thrown away.
        self._metrics_on = not isinstance(meter, metrics.NoOpMeter)
        self._ratelimits: dict[tuple[tuple[str, str], ...], tuple[int | None, int | None]] = {}
        self._recorder = None if recorder is None else weakref.ref(recorder)
        # Whether the last span recorded: the next one is likely to as well.
        self._spans_record = False
        self._create_instruments(meter)

    def _create_instruments(self, meter: metrics.Meter) -> None:
        self._token_usage = meter.create_histogram(
            names.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(names.TOKEN_BUCKETS),
        )
        self._duration = meter.create_histogram(
            names.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )
        self._time_to_first_chunk = meter.create_histogram(
            names.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )
        self._time_per_output_chunk = meter.create_histogram(
            names.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Mean time between output chunks of a streamed response, after the first.",
            explicit_bucket_boundaries_advisory=list(names.DURATION_BUCKETS),
        )
        meter.create_observable_gauge(
            names.METRIC_RATELIMIT_REMAINING_REQUESTS,
            callbacks=[self._observe_remaining_requests],
            unit="{request}",
            description="Requests left in the rate-limit window, as last reported.",
        )
        meter.create_observable_gauge(
            names.METRIC_RATELIMIT_REMAINING_TOKENS,
            callbacks=[self._observe_remaining_tokens],
            unit="{token}",
            description="Tokens left in the rate-limit window, as last reported.",
        )
        meter.create_observable_counter(
            names.METRIC_RECORDS_DROPPED,
            callbacks=[self._observe_dropped],
            unit="{record}",
            description="Exchanges dropped (queue full) or lost (not storable).",
        )

    def record(self, record: Record, exchange: Exchange) -> None:
        """The span and the metrics of one parsed attempt. May raise: the caller counts it."""
        common = common_attributes(record)
        self._span(record, exchange, common)
        if self._metrics_on:
            self._metrics(record, exchange, common)

    def _span(self, record: Record, exchange: Exchange, common: dict[str, AttributeValue]) -> None:
        start_ns = exchange.started_at_ns
        context = exchange.otel_context
        # While spans record, every attribute goes in at the start: the SDK
        # cleans a dict it is given once, but takes later attributes one by
        # one under its lock (about 6 µs a span). With no SDK (or a sampler
        # that drops) only what samplers see is built.
        detail = (
            detail_attributes(record, record.extra, record.usage_details)
            if self._spans_record
            else None
        )
        span = self._tracer.start_span(
            span_name(record),
            context=context if isinstance(context, Context) else None,
            kind=SpanKind.CLIENT,
            attributes=common if detail is None else {**common, **detail},
            start_time=start_ns,
        )
        self._spans_record = recording = span.is_recording()
        if recording:
            if detail is None:
                span.set_attributes(detail_attributes(record, record.extra, record.usage_details))
            if self.capture_message_content:
                span.set_attributes(
                    message_content(
                        record.endpoint,
                        record.request_body,
                        record.response_body,
                        record.finish_reasons,
                    )
                )
            _set_outcome(span, record)
        span.end(end_time=start_ns + exchange.duration_ns)

    def _metrics(
        self, record: Record, exchange: Exchange, common: dict[str, AttributeValue]
    ) -> None:
        attributes = dict(common)
        if record.response_model:
            attributes[names.GEN_AI_RESPONSE_MODEL] = record.response_model
        failure = error_type(record)
        if failure is not None:
            attributes[names.ERROR_TYPE] = failure
        duration_s = exchange.duration_ns / 1e9
        self._duration.record(duration_s, attributes)
        if record.input_tokens is not None:
            self._token_usage.record(
                record.input_tokens, {**attributes, names.GEN_AI_TOKEN_TYPE: "input"}
            )
        if record.output_tokens is not None:
            self._token_usage.record(
                record.output_tokens, {**attributes, names.GEN_AI_TOKEN_TYPE: "output"}
            )
        if record.ttft_ms is not None:
            self._stream_metrics(record.ttft_ms, duration_s, exchange, attributes)
        if (
            record.ratelimit_remaining_requests is not None
            or record.ratelimit_remaining_tokens is not None
        ):
            key = _ratelimit_key(record)
            self._ratelimits[key] = (
                record.ratelimit_remaining_requests,
                record.ratelimit_remaining_tokens,
            )

    def _stream_metrics(
        self,
        ttft_ms: float,
        duration_s: float,
        exchange: Exchange,
        attributes: Mapping[str, AttributeValue],
    ) -> None:
        ttft_s = ttft_ms / 1000
        self._time_to_first_chunk.record(ttft_s, attributes)
        # Chunks from the first content chunk on, as they came off the network.
        arrivals = exchange.chunk_arrival_ns
        chunks = len(arrivals) - bisect_left(arrivals, round(ttft_ms * 1e6))
        if chunks > 1:
            self._time_per_output_chunk.record((duration_s - ttft_s) / (chunks - 1), attributes)

    # --- observable instruments (called by the SDK's metric reader) -------

    def _observe_remaining_requests(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe_ratelimit(0)

    def _observe_remaining_tokens(self, options: CallbackOptions) -> Iterable[Observation]:
        return self._observe_ratelimit(1)

    def _observe_ratelimit(self, index: int) -> Iterator[Observation]:
        # A copy: the writer thread may add a key while the reader iterates.
        for key, values in list(self._ratelimits.items()):
            value = values[index]
            if value is not None:
                yield metrics.Observation(value, dict(key))

    def _observe_dropped(self, options: CallbackOptions) -> Iterable[Observation]:
        recorder = None if self._recorder is None else self._recorder()
        if recorder is None:
            return []
        return [
            metrics.Observation(
                getattr(recorder, "dropped_count", 0), {names.OAITRACE_DROP_REASON: "queue_full"}
            ),
            metrics.Observation(
                getattr(recorder, "lost_count", 0), {names.OAITRACE_DROP_REASON: "lost"}
            ),
        ]


def _ratelimit_key(record: Record) -> tuple[tuple[str, str], ...]:
    key = [(names.SERVER_ADDRESS, record.host)]
    if record.request_model:
        key.append((names.GEN_AI_REQUEST_MODEL, record.request_model))
    if record.organization:
        key.append((names.OPENAI_ORGANIZATION, record.organization))
    return tuple(key)
