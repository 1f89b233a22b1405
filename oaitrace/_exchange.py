"""The two values that flow through oaitrace: the raw Exchange and the parsed Record.

An `Exchange` is what the transport saw, taken on the request path with as
little work as possible: references, timestamps and raw bytes. A `Record` is
what the writer thread makes of it off the request path: every field a user
queries, with secrets already removed.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate, chain
from typing import Any, Final, overload

__all__ = [
    "USAGE_TOKEN_FIELDS",
    "Exchange",
    "JoinedChunks",
    "RawHeaders",
    "Record",
    "Usage",
    "chunk_ends",
    "fill_in",
    "flat_headers",
    "header_pairs",
    "joined_body",
]

# Header names and values as they went over the wire, flat:
# (name, value, name, value, ...). One tuple per message rather than one per
# header: the garbage collector counts every new tuple until its first pass,
# and forty per queued Exchange made young collections (and, through them,
# full ones) several times as frequent.
RawHeaders = tuple[bytes, ...]


def flat_headers(pairs: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """`RawHeaders` from (name, value) pairs, such as httpx's `headers.raw`."""
    return tuple(chain.from_iterable(pairs))


def header_pairs(raw: RawHeaders) -> Iterator[tuple[bytes, bytes]]:
    """The (name, value) pairs of `RawHeaders`, in order."""
    values = iter(raw)
    return zip(values, values, strict=False)


class JoinedChunks(Sequence[bytes]):
    """Chunks already put together in one bytes object, and where each ended.

    The transport gathers a large body this way as it arrives (see
    `oaitrace._gather`), so that parsing reads one object instead of
    joining the chunks into a second copy of the whole capture.
    """

    __slots__ = ("content", "ends")

    def __init__(self, content: bytes, ends: tuple[int, ...]) -> None:
        self.content = content
        # The offset just past each chunk, in order; the last is len(content).
        self.ends = ends

    def __len__(self) -> int:
        return len(self.ends)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self.ends)))]
        end = self.ends[index]  # raises IndexError like a tuple
        position = index % len(self.ends)
        return self.content[self.ends[position - 1] if position else 0 : end]

    def __repr__(self) -> str:
        return f"JoinedChunks({len(self.content)} bytes in {len(self.ends)} chunks)"


def joined_body(chunks: Sequence[bytes]) -> bytes:
    """The chunks as one bytes object; gathered chunks are not copied again."""
    if type(chunks) is JoinedChunks:
        return chunks.content
    return b"".join(chunks)


def chunk_ends(chunks: Sequence[bytes]) -> Sequence[int]:
    """The offset just past each chunk in `joined_body(chunks)`."""
    if type(chunks) is JoinedChunks:
        return chunks.ends
    return list(accumulate(map(len, chunks)))


@dataclass(slots=True)
class Exchange:
    """One HTTP attempt as the transport saw it, unparsed; never changed once made.

    Times on the request path are taken with `time.perf_counter_ns()` and are
    relative to `started_perf_ns`; `started_at_ns` is the wall clock
    (`time.time_ns()`) at the same instant.

    Not a frozen dataclass because one is made inside every request: frozen,
    its 20 fields cost 3 µs to set instead of 1.
    """

    started_at_ns: int
    method: str
    url: str
    request_headers: RawHeaders
    # None when the request body was a stream (multipart upload) that
    # oaitrace must not consume; `request_body_size` then comes from
    # content-length when the client sent one.
    request_body: bytes | None
    status_code: int | None
    response_headers: RawHeaders
    # The response body as it came off the wire (still gzip/br compressed),
    # chunk by chunk, up to the capture cap: a tuple, or `JoinedChunks`
    # for a large body. Read it whole with `joined_body`.
    response_chunks: Sequence[bytes]
    # For each captured chunk: nanoseconds after the start when it arrived.
    chunk_arrival_ns: Sequence[int]
    response_bytes: int
    response_truncated: bool
    # True when the body was read to its end and the stream closed normally.
    complete: bool
    # Nanoseconds from the start until the response headers were received.
    headers_ns: int | None
    duration_ns: int
    # The exception that ended the attempt (network failure, cut stream),
    # by class name, and its message.
    error_type: str | None = None
    error_message: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # When the body outgrew the capture cap: its last bytes (raw, up to
    # 64 KiB, and within the cap: see `Capture`). Large JSON bodies
    # (base64 images) put `usage` at the end.
    response_tail: bytes = b""
    # The OpenTelemetry context current when the request was sent (an
    # `opentelemetry.context.Context`): the parent of the attempt's span.
    otel_context: object | None = None
    # A streamed multipart body's short text fields and file names, as
    # `oaitrace._multipart.snapshot_form` takes them without reading any
    # file: (("model", "whisper-1"), ("filename", "talk.wav") ...).
    request_form: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as the API reported it, in one shape for every endpoint.

    A field the response did not carry is None, never 0.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    # Everything else the usage object said (audio tokens, prediction tokens,
    # transcription seconds ...), flattened to dotted keys.
    details: Mapping[str, int | float] = field(default_factory=dict)


# The token counts of a Usage, each also a field of Record under the same name.
USAGE_TOKEN_FIELDS: Final = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
)


@dataclass(slots=True)
class Record:
    """One parsed HTTP attempt: exactly what is stored, with secrets removed.

    The attributes up to `tags` are the public `RequestRecord` contract; the
    rest are stored alongside (headers, bodies, parse notes).

    Not frozen, for speed alone: a frozen dataclass sets each of its 61
    fields through `object.__setattr__`, about 10 µs per record on the
    writer. Only the writer's steps change a Record (`fill_in`), before it
    is stored; treat it as read-only everywhere else.
    """

    id: str
    started_at: datetime.datetime
    method: str
    url: str
    host: str
    path: str
    endpoint: str
    operation: str
    stream: bool
    status_code: int | None
    complete: bool
    request_model: str | None
    response_model: str | None
    response_id: str | None
    request_id: str | None
    processing_ms: float | None
    openai_version: str | None
    organization: str | None
    project: str | None
    ratelimit_limit_requests: int | None
    ratelimit_remaining_requests: int | None
    ratelimit_reset_requests_s: float | None
    ratelimit_limit_tokens: int | None
    ratelimit_remaining_tokens: int | None
    ratelimit_reset_tokens_s: float | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    duration_ms: float
    ttfb_ms: float | None
    ttft_ms: float | None
    finish_reasons: tuple[str, ...] | None
    error_type: str | None
    error_code: str | None
    error_message: str | None
    retry_attempt: int | None
    cost_usd: Decimal | None
    tags: Mapping[str, str]
    # --- stored alongside, not part of RequestRecord ---
    usage_details: Mapping[str, int | float]
    retry_after_s: float | None
    api_key_fingerprint: str | None
    response_content_type: str | None
    request_bytes: int | None
    response_bytes: int
    # Why the body could not be parsed (malformed JSON, broken SSE ...).
    parse_error: str | None
    # Redacted headers, lower-case names.
    request_headers: Mapping[str, str]
    response_headers: Mapping[str, str]
    # Redacted bodies as text; None when not captured or binary.
    request_body: str | None
    response_body: str | None
    response_truncated: bool
    # Anything else worth keeping, stored as JSON. Among it, for the
    # OpenTelemetry attributes: "request_params" (temperature, max tokens,
    # stop, seed, n, service tier, response format ... as the request set
    # them) and "response_params" (service tier, system fingerprint).
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The service tier that served the request, as the response body said
    # ("default", "flex", "priority" ...); None when it did not say.
    service_tier: str | None = None
    # Price provenance (oaitrace.pricing): why `cost_usd` is None
    # ("unknown_model", "no_usage" ...), where the price came from
    # ("genai-prices 0.2.3", "price file prices.toml", "not billed"), and
    # the model and provider the price was matched to.
    cost_reason: str | None = None
    price_source: str | None = None
    price_model: str | None = None
    price_provider: str | None = None
    # Who served the request, named from its host and path
    # (oaitrace._providers): "openai", "azure.ai.openai", "groq", "ollama",
    # "openai_compatible" ...; None only for a record that has no URL.
    provider: str | None = None
    # The API objects the request created or acted on, by kind, from the
    # path and the response object: {"file_id": "file-abc", "batch_id": ...}.
    object_ids: Mapping[str, str] = field(default_factory=dict)
    # The logical SDK call this attempt belongs to: the record id of its
    # first attempt (oaitrace._calls). Retries of one call share it.
    call_id: str | None = None


def fill_in(record: Record, name: str, value: Any) -> None:
    """Set a field of a Record the writer made a moment ago on this thread.

    The writer's later steps (pricing, polled usage, content policy) fill
    fields after `parse`; `dataclasses.replace` would copy all 61 fields per
    step (about 19 µs each), and the record is not shared with anyone yet.
    """
    setattr(record, name, value)
