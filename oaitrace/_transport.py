"""The request path shared by the httpx and httpx2 transports.

Everything here runs inside the application's request, so it does as little
as possible: timestamps, references, the raw chunks as they pass. Parsing,
pricing and storage happen later on the recorder's writer thread.

httpx and httpx2 have the same transport interface but distinct classes, and
`Response.iter_raw` insists that a response stream is an instance of the
library's own `SyncByteStream` / `AsyncByteStream`. So the behaviour lives
here in mixins, and `oaitrace.httpx` / `oaitrace.httpx2` combine each mixin
with the library's base class in a line or two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from time import perf_counter_ns, time_ns
from typing import TYPE_CHECKING, Any, Protocol, cast

from opentelemetry import context as otel_context

from ._exchange import Exchange, JoinedChunks, flat_headers
from ._gather import LIST_LIMIT, BodyTail, GatheredBody, head_limit, tail_limit
from ._multipart import snapshot_form
from ._prepare import RequestPreparer

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "AsyncRecordingCore",
    "AsyncTeeStreamCore",
    "Capture",
    "SyncRecordingCore",
    "SyncTeeStreamCore",
]


class ExchangeSink(Protocol):
    """What the request path needs from a Recorder."""

    @property
    def capture_limit(self) -> int: ...

    def emit(self, exchange: Exchange) -> None: ...

    def report_internal_error(self, error: BaseException) -> None: ...


class Capture:
    """The mutable state of one HTTP attempt while its response streams.

    It becomes an `Exchange` exactly once, in `finish()`, whichever way
    the stream ends: read to the end, closed early, cut by an error, or
    garbage-collected unread.
    """

    __slots__ = (
        "_capture_limit",
        "_captured_bytes",
        "_chunk_arrival_ns",
        "_chunks",
        "_finished",
        "_gathered",
        "_head",
        "_headers_ns",
        "_list_limit",
        "_method",
        "_otel_context",
        "_request_body",
        "_request_form",
        "_request_headers",
        "_response_bytes",
        "_response_headers",
        "_sink",
        "_start_ns",
        "_started_at_ns",
        "_status_code",
        "_tags",
        "_tail",
        "_truncated",
        "_url",
    )

    def __init__(
        self,
        sink: ExchangeSink,
        request: Any,
        started_at_ns: int,
        start_ns: int,
        tags: Mapping[str, str],
    ) -> None:
        self._sink = sink
        self._started_at_ns = started_at_ns
        self._start_ns = start_ns
        self._tags = tags
        # One contextvar read: the span made later on the writer thread is
        # parented to whatever span the application had open here.
        self._otel_context = otel_context.get_current()
        self._method: str = request.method
        self._url = str(request.url)
        self._request_headers: list[tuple[bytes, bytes]] = request.headers.raw
        self._request_body = _request_body(request)
        # A streamed (multipart) body is never read, but its text fields
        # (model, purpose, n, size) and file names are already in memory.
        self._request_form = (
            None if self._request_body is not None else snapshot_form(request.stream)
        )
        self._status_code: int | None = None
        self._response_headers: list[tuple[bytes, bytes]] = []
        self._headers_ns: int | None = None
        self._chunks: list[bytes] = []
        self._chunk_arrival_ns: list[int] = []
        self._capture_limit = capture_limit = sink.capture_limit
        # Chunks stay in `_chunks` up to this many bytes; past it they are
        # gathered into one buffer (-1 once they are: see `oaitrace._gather`).
        self._list_limit = min(LIST_LIMIT, capture_limit)
        self._captured_bytes = 0
        self._gathered: GatheredBody | None = None
        # A body cut at the cap: its head, frozen, and its tail, sliding.
        self._head: JoinedChunks | None = None
        self._tail: BodyTail | None = None
        self._response_bytes = 0
        self._truncated = False
        self._finished = False

    @property
    def finished(self) -> bool:
        """True once the Exchange was handed to the recorder."""
        return self._finished

    def on_response(self, response: Any) -> None:
        """Note the status and headers the moment the response head arrived."""
        self._headers_ns = perf_counter_ns() - self._start_ns
        self._status_code = response.status_code
        self._response_headers = response.headers.raw

    def on_chunk(self, chunk: bytes) -> None:
        """Keep a raw chunk and its arrival time, up to the capture limit."""
        # Runs for every chunk of every response: attribute reads only, the
        # limit read once per response.
        size = len(chunk)
        self._response_bytes += size
        captured = self._captured_bytes + size
        if captured <= self._list_limit:
            self._chunks.append(chunk)
            self._chunk_arrival_ns.append(perf_counter_ns() - self._start_ns)
            self._captured_bytes = captured
        else:
            try:
                self._on_large_body(chunk)
            except Exception as exc:
                self._drop_body(exc)

    def _on_large_body(self, chunk: bytes) -> None:
        """A chunk past `LIST_LIMIT`: gather it, or cut the body at the cap."""
        tail = self._tail
        if tail is not None:
            # Past the cut only the byte count and the tail move, so a 100 MB
            # download costs at most the cap in memory.
            tail.add(chunk)
            return
        arrived_ns = perf_counter_ns() - self._start_ns
        gathered = self._gathered
        if gathered is None:
            gathered = self._gathered = GatheredBody(self._chunks, self._capture_limit)
            self._chunks = []
            self._list_limit = -1
        # From here the gathered size is the count: `_captured_bytes` stays
        # behind, only ever compared with the -1 of `_list_limit`.
        if gathered.size + len(chunk) <= self._capture_limit:
            gathered.add(chunk)
            self._chunk_arrival_ns.append(arrived_ns)
        else:
            self._cut(gathered, chunk, arrived_ns)

    def _cut(self, gathered: GatheredBody, chunk: bytes, arrived_ns: int) -> None:
        """The body outgrew the cap: freeze its head, and from here keep only a tail."""
        self._truncated = True
        tail = self._tail = BodyTail(tail_limit(self._capture_limit))
        head_size = head_limit(self._capture_limit)
        size = gathered.size
        if size < head_size:
            piece = chunk[: head_size - size]
            gathered.add(piece)
            self._chunk_arrival_ns.append(arrived_ns)
            chunk = chunk[len(piece) :]
            size = head_size
        if len(chunk) < tail.limit:
            # The tail, the body's last bytes, begins in what was gathered.
            tail.add(gathered.read(max(0, size - (tail.limit - len(chunk))), size))
        head = self._head = gathered.take(head_size)
        self._gathered = None
        del self._chunk_arrival_ns[len(head) :]
        tail.add(chunk)

    def _drop_body(self, error: Exception) -> None:
        """Give up the body when gathering it failed (out of memory, a bug).

        The caller's stream goes on untouched; the record keeps its byte
        count and timings, without a body, and the error is reported.
        """
        self._sink.report_internal_error(error)
        self._truncated = True
        self._list_limit = -1
        self._tail = BodyTail(0)
        self._gathered = self._head = None
        self._chunks = []
        self._chunk_arrival_ns = []

    def _taken_head(self) -> Sequence[bytes]:
        """The captured body, handed over: chunks as a tuple, or gathered in one piece."""
        head = self._head
        if head is not None:
            self._head = None  # the record owns it now, however long the stream lives
            return head
        gathered = self._gathered
        if gathered is not None:
            self._gathered = None
            return gathered.take()
        # A tuple, not a list: a tuple of bytes leaves the garbage
        # collector's books at its first pass (see `finish`).
        return tuple(self._chunks)

    def finish(self, *, complete: bool, error: BaseException | None = None) -> None:
        """Freeze what was seen into an Exchange and hand it to the recorder, once."""
        if self._finished:
            return
        self._finished = True
        try:
            self._sink.emit(
                Exchange(
                    started_at_ns=self._started_at_ns,
                    method=self._method,
                    url=self._url,
                    # Tuples, not lists: a tuple of bytes or ints leaves the
                    # garbage collector's books at its first pass, so queued
                    # exchanges do not push the application into full
                    # collections (a list stays tracked for good). Headers
                    # flat, so that httpx's pairs die here (see RawHeaders).
                    request_headers=flat_headers(self._request_headers),
                    request_body=self._request_body,
                    status_code=self._status_code,
                    response_headers=flat_headers(self._response_headers),
                    response_chunks=self._taken_head(),
                    chunk_arrival_ns=tuple(self._chunk_arrival_ns),
                    response_bytes=self._response_bytes,
                    response_truncated=self._truncated,
                    complete=complete,
                    headers_ns=self._headers_ns,
                    duration_ns=perf_counter_ns() - self._start_ns,
                    error_type=None if error is None else type(error).__name__,
                    error_message=None if error is None else str(error),
                    tags=self._tags,
                    response_tail=b"" if self._tail is None else self._tail.take(),
                    otel_context=self._otel_context,
                    request_form=self._request_form,
                )
            )
        except Exception as exc:
            self._sink.report_internal_error(exc)


def _request_body(request: Any) -> bytes | None:
    """The request body if it is already in memory; None for streamed bodies.

    A multipart upload is a stream the client reads once while sending;
    touching it here would consume the caller's file, so it is left alone.
    """
    try:
        content: bytes = request.content
    except Exception:
        return None
    return content


def _start(
    sink: ExchangeSink, preparer: RequestPreparer, request: Any
) -> tuple[Any, Capture | None]:
    """The request to send and the capture that watches it; never raises."""
    try:
        request, tags = preparer.prepare(request)
    except Exception as exc:
        sink.report_internal_error(exc)
        tags = {}
    try:
        return request, Capture(sink, request, time_ns(), perf_counter_ns(), tags)
    except Exception as exc:
        sink.report_internal_error(exc)
        return request, None


def _record_failure(sink: ExchangeSink, capture: Capture | None, error: BaseException) -> None:
    """A request that got no response (timeout, refused connection) is an attempt too."""
    if capture is not None:
        capture.finish(complete=False, error=error)


def _finish_unread(capture: Capture) -> None:
    """Record a stream that is being garbage-collected, if nothing else did."""
    # Runs for every response, so the usual case (already finished) costs
    # one attribute read and nothing more.
    if capture.finished:
        return
    with suppress(Exception):  # nothing may escape a finalizer
        capture.finish(complete=False)


class SyncTeeStreamCore:
    """Passes the response body through chunk by chunk, keeping a copy.

    Subclassed together with the HTTP library's `SyncByteStream`.
    """

    __slots__ = ("_capture", "_inner")

    def __init__(self, inner: Any, capture: Capture) -> None:
        self._inner = inner
        self._capture = capture

    def __iter__(self) -> Iterator[bytes]:
        capture = self._capture
        try:
            for chunk in self._inner:
                capture.on_chunk(chunk)
                yield chunk
        except GeneratorExit:
            # The caller stopped iterating: an early close, not a failure.
            capture.finish(complete=False)
            raise
        except BaseException as error:
            capture.finish(complete=False, error=error)
            raise
        capture.finish(complete=True)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._capture.finish(complete=False)

    def __del__(self) -> None:
        # A response that was never read nor closed is still an attempt.
        _finish_unread(self._capture)


class AsyncTeeStreamCore:
    """The async twin of `SyncTeeStreamCore`."""

    __slots__ = ("_capture", "_inner")

    def __init__(self, inner: Any, capture: Capture) -> None:
        self._inner = inner
        self._capture = capture

    async def __aiter__(self) -> AsyncIterator[bytes]:
        capture = self._capture
        try:
            async for chunk in self._inner:
                capture.on_chunk(chunk)
                yield chunk
        except GeneratorExit:
            capture.finish(complete=False)
            raise
        except BaseException as error:
            # Includes asyncio.CancelledError: a task cancelled mid-stream.
            capture.finish(complete=False, error=error)
            raise
        capture.finish(complete=True)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._capture.finish(complete=False)

    def __del__(self) -> None:
        _finish_unread(self._capture)


def _attach(
    sink: ExchangeSink,
    capture: Capture | None,
    response: Any,
    tee_class: type[SyncTeeStreamCore] | type[AsyncTeeStreamCore],
    byte_stream_class: type,
) -> None:
    """Start watching the response body; never raises."""
    if capture is None:
        return
    try:
        capture.on_response(response)
        stream = response.stream
        if isinstance(stream, byte_stream_class):
            # A body already in memory (mock transports, cached responses)
            # is never iterated by the client, so take it now.
            for chunk in cast("Iterable[bytes]", stream):
                capture.on_chunk(chunk)
            capture.finish(complete=True)
        else:
            response.stream = tee_class(stream, capture)
    except Exception as exc:
        sink.report_internal_error(exc)


class SyncRecordingCore:
    """`handle_request` for a recording transport; see `oaitrace.httpx2.RecordingTransport`."""

    __slots__ = ("_byte_stream_class", "_preparer", "_recorder", "_tee_class", "_transport")

    def __init__(
        self,
        *,
        recorder: ExchangeSink,
        transport: Any,
        tee_class: type[SyncTeeStreamCore],
        byte_stream_class: type,
    ) -> None:
        self._recorder = recorder
        self._transport = transport
        self._tee_class = tee_class
        self._byte_stream_class = byte_stream_class
        self._preparer = RequestPreparer(recorder)

    def handle_request(self, request: Any) -> Any:
        request, capture = _start(self._recorder, self._preparer, request)
        try:
            response = self._transport.handle_request(request)
        except BaseException as error:
            _record_failure(self._recorder, capture, error)
            raise
        _attach(self._recorder, capture, response, self._tee_class, self._byte_stream_class)
        return response

    def close(self) -> None:
        self._transport.close()


class AsyncRecordingCore:
    """`handle_async_request` for a recording transport."""

    __slots__ = ("_byte_stream_class", "_preparer", "_recorder", "_tee_class", "_transport")

    def __init__(
        self,
        *,
        recorder: ExchangeSink,
        transport: Any,
        tee_class: type[AsyncTeeStreamCore],
        byte_stream_class: type,
    ) -> None:
        self._recorder = recorder
        self._transport = transport
        self._tee_class = tee_class
        self._byte_stream_class = byte_stream_class
        self._preparer = RequestPreparer(recorder)

    async def handle_async_request(self, request: Any) -> Any:
        request, capture = _start(self._recorder, self._preparer, request)
        try:
            response = await self._transport.handle_async_request(request)
        except BaseException as error:
            _record_failure(self._recorder, capture, error)
            raise
        _attach(self._recorder, capture, response, self._tee_class, self._byte_stream_class)
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()
