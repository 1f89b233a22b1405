"""The Recorder: takes Exchanges from transports and stores them, off the request path.

Modelled on OpenTelemetry's BatchProcessor: a bounded queue that `emit()`
appends to without ever blocking, one daemon writer thread that parses and
batch-inserts, `flush()` and `close()`, a flush at interpreter exit, and a
fresh writer after `fork()`.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final

import structlog
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from ._calls import CallTracker
from ._exchange import Exchange, Record, fill_in
from ._ids import new_record_id
from ._log import (
    EVENT_DATABASE_ERROR,
    EVENT_EXCHANGE,
    EVENT_INTERNAL_ERROR,
    EVENT_PARSE_FAILED,
    EVENT_QUEUE_FULL,
    EVENT_RECORDS_LOST,
    EVENT_RECORDS_SPOOLED,
    EVENT_SPOOL_REPLAYED,
    EVENT_SPOOL_SKIPPED_LINES,
    logger,
)
from ._otel import Telemetry, capture_content_from_env
from ._parse import parse
from ._policy import ContentPolicy, PolledUsage, RedactHook
from ._spool import DEFAULT_SPOOL_MAX_BYTES, Spool, spool_directory
from ._summariser import HourSummariser
from .pricing import Cost, CostReason, Pricer
from .storage import Store, resolve_database_url

if TYPE_CHECKING:
    import httpx2

__all__ = ["Recorder"]

DEFAULT_MAX_QUEUE_SIZE: Final = 10_000
DEFAULT_BATCH_SIZE: Final = 500
DEFAULT_FLUSH_INTERVAL_S: Final = 0.5
DEFAULT_CAPTURE_LIMIT: Final = 1 << 20
# A database that fails this many times in a row for one batch is taken as
# down: the batch goes to the spool so a dead database cannot grow memory.
_INSERT_ATTEMPTS: Final = 3
# While the database is down it is tried again after this long, doubling
# from the first to the last, so a dead server is not hammered.
_RETRY_FIRST_S: Final = 1.0
_RETRY_LAST_S: Final = 5.0
# How often the writer looks for segments other processes left in the spool.
_SPOOL_SCAN_INTERVAL_S: Final = 30.0
_WARNING_INTERVAL_S: Final = 10.0
# Backpressure: with this many batches waiting, the emitting thread waits
# (at most _BACKPRESSURE_WAIT_S) for the writer to catch up.
_BACKPRESSURE_BATCHES: Final = 2
_BACKPRESSURE_WAIT_S: Final = 1.0
# A batch insert taking longer than this is the database's slowness, which
# backpressure must not pass on to the caller.
_SLOW_STORE_S: Final = 0.25


class _FlushRequest:
    """A marker in the queue: everything before it has been handled when `done` is set."""

    __slots__ = ("all_stored", "done")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.all_stored = True


class Recorder:
    """Receives every exchange the recording transports see and stores it.

    Example::

        recorder = oaitrace.Recorder()                 # sqlite:///oaitrace.db
        client = openai.OpenAI(http_client=recorder.client())
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        recorder.flush()                               # wait until stored

    Args:
        database_url: SQLAlchemy URL or SQLite file path; None uses
            ``$OAITRACE_DATABASE_URL``, then ``sqlite:///oaitrace.db``.
        capture_content: False stores metadata and usage but no bodies.
        tracer_provider: OpenTelemetry tracer provider (None: the global one).
        meter_provider: OpenTelemetry meter provider (None: the global one).
        max_queue_size: exchanges held in memory before new ones are dropped
            (counted and logged). Two batches behind, `emit` already waits
            for the writer (see `emit`).
        batch_size: records per database transaction.
        flush_interval: seconds the writer waits before storing a partial batch.
        capture_limit: bytes of each response body kept (the rest is counted;
            of a longer body its start and its last bytes, together within
            the limit), and characters of each stored request body.
        price_file: a TOML file of prices that override or add to
            genai-prices' (see `oaitrace.pricing.load_price_file`); None
            reads ``$OAITRACE_PRICE_FILE`` when set.
        capture_message_content: put prompts and completions on spans as
            ``gen_ai.input.messages`` / ``gen_ai.output.messages`` /
            ``gen_ai.system_instructions`` (from the redacted bodies, so it
            needs ``capture_content=True``). None reads
            ``$OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
            (``true``/``false``; unset is false).
        tags: tags stored with every request this recorder sees (under
            those of `oaitrace.tags(...)` blocks and per-call headers).
        redact: a function ``(direction, body) -> body`` given each JSON
            request and response body (direction ``"request"`` or
            ``"response"``) after oaitrace's own redaction; what it returns
            is stored (None: no body). A hook that raises stores no body.
        inject_stream_usage: add ``stream_options.include_usage`` to
            streamed chat and completions requests that do not say, so their
            usage is recorded. The caller then sees one extra chunk with
            empty ``choices`` (the usage chunk), which the openai SDK handles.
        propagate_trace_context: add a W3C ``traceparent`` header (the
            global propagator's output) to every outgoing request, for
            OpenAI-compatible servers that join traces. Off by default.
        spool_dir: where batches the database cannot take wait for it (see
            README, "Durability"), in a subdirectory per database. None
            reads ``$OAITRACE_SPOOL_DIR``, then uses ``~/.cache/oaitrace/spool``.
        spool_max_bytes: the most the spool directory holds; records beyond
            it are counted in `lost_count` and logged.
        handle_sigterm: on the first Recorder of a process, when it is made
            in the main thread and SIGTERM has its default action, install a
            SIGTERM handler that closes (flushes) every recorder and then
            terminates the process as SIGTERM would have. False: leave
            SIGTERM alone.

    Counters: `stored_count` (records this recorder put in the database,
    replayed ones included), `spooled_count` (written to the spool),
    `replayed_count` (taken from the spool into the database),
    `dropped_count` (queue full or closed), `lost_count` (neither stored
    nor spooled), `parse_error_count`, `internal_error_count`,
    `backpressure_count` (times `emit` waited for the writer).
    """

    def __init__(
        self,
        database_url: str | None = None,
        capture_content: bool = True,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        *,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL_S,
        capture_limit: int = DEFAULT_CAPTURE_LIMIT,
        capture_message_content: bool | None = None,
        propagate_trace_context: bool = False,
        tags: Mapping[str, object] | None = None,
        inject_stream_usage: bool = False,
        redact: RedactHook | None = None,
        price_file: str | os.PathLike[str] | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        handle_sigterm: bool = True,
    ) -> None:
        self.database_url = resolve_database_url(database_url)
        self.capture_content = capture_content
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.propagate_trace_context = propagate_trace_context
        self.default_tags: Mapping[str, str] = {k: str(v) for k, v in (tags or {}).items()}
        self.inject_stream_usage = inject_stream_usage
        self._telemetry = Telemetry(
            tracer_provider,
            meter_provider,
            capture_message_content=(
                capture_content_from_env()
                if capture_message_content is None
                else capture_message_content
            ),
            recorder=self,
        )
        self._pricer = Pricer(price_file)
        self._calls = CallTracker()
        self._polled_usage = PolledUsage()
        self._content_policy = ContentPolicy(redact, capture_limit)
        self._max_queue_size = max_queue_size
        self._batch_size = batch_size
        self._backpressure_at = min(batch_size * _BACKPRESSURE_BATCHES, max_queue_size)
        self._flush_interval = flush_interval
        self._capture_limit = capture_limit
        self._store: Store | None = None
        self._summariser = HourSummariser(self.database_url)
        # When the batch being stored was started (monotonic); None between batches.
        self._storing_since: float | None = None
        self._closed = False
        self._last_warning = 0.0
        self._spool = Spool(
            spool_directory(self.database_url, spool_dir), max_bytes=spool_max_bytes
        )
        # True until a replay found nothing left: a previous run may have
        # spooled, and that goes into the database before anything new.
        self._spool_pending = True
        self._next_spool_scan = 0.0
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._spooling_logged = False
        # Counters; written by one thread each, read by anyone.
        self.stored_count = 0
        self.dropped_count = 0
        self.lost_count = 0
        self.spooled_count = 0
        self.replayed_count = 0
        self.parse_error_count = 0
        self.internal_error_count = 0
        self.backpressure_count = 0
        self._lost_at_flush = 0
        self._handle_sigterm = handle_sigterm
        self._start_writer()
        _live_recorders.add(self)
        if handle_sigterm:
            _install_sigterm_handler()

    # --- request path -------------------------------------------------

    @property
    def capture_limit(self) -> int:
        """Bytes of each response body that are kept."""
        return self._capture_limit

    def emit(self, exchange: Exchange) -> None:
        """Queue an exchange for storage. Never raises.

        It returns at once, unless the writer has fallen behind by two
        batches: then it waits (at most a second) for the writer to catch
        up, so that a process whose threads keep the GIL busy cannot starve
        the writer until the queue overflows and records are dropped.
        """
        queue = self._queue
        if self._closed or len(queue) >= self._max_queue_size:
            self.dropped_count += 1
            self._warn(EVENT_QUEUE_FULL, dropped=self.dropped_count)
            return
        queue.append(exchange)
        waiting = len(queue)
        if waiting >= self._batch_size:
            if waiting >= self._backpressure_at:
                self._wait_for_writer()
            else:
                self._wake.set()

    def _wait_for_writer(self) -> None:
        """Give the writer the GIL until it has worked the queue down below a batch.

        A thread that never blocks starves the others: CPython 3.11 hands
        the GIL over only every 5 ms, and a thread that gives it up for a
        moment (as the openai SDK does once per request, for randomness)
        takes it straight back. Waiting here lets the writer run freely.
        """
        storing_since = self._storing_since
        if (
            threading.current_thread() is self._writer
            or not self._writer.is_alive()
            # A database that is away or slow holds the writer up, not the
            # GIL: waiting would only slow the caller (the spool takes the
            # records, and the queue's bound the rest).
            or self._retry_delay > 0.0
            or (storing_since is not None and time.monotonic() - storing_since > _SLOW_STORE_S)
        ):
            return
        self.backpressure_count += 1
        self._drained.clear()
        self._wake.set()
        self._drained.wait(_BACKPRESSURE_WAIT_S)

    def report_internal_error(self, error: BaseException) -> None:
        """Count and log a failure inside oaitrace that the caller must not see."""
        self.internal_error_count += 1
        self._warn(EVENT_INTERNAL_ERROR, error=repr(error))

    # --- control ------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything emitted so far is stored.

        Returns True only when it all reached the database (what waited in
        the spool included: a flush tries to replay it at once). False on
        timeout, when some of it is still in the spool because the database
        cannot be written (it is stored when the database is back, by this
        recorder or the next one for the same database: see
        `spooled_count`), or when some was lost (see `lost_count`) since
        the previous flush, whichever thread found it out.
        """
        if not self._writer.is_alive():
            return not self._queue and not self._spool_pending and not self._lost_since_flush()
        request = _FlushRequest()
        self._queue.append(request)
        self._wake.set()
        done = request.done.wait(timeout)
        # Losses the writer met before this request reached it (the records
        # were emitted before the flush, so they are part of "everything").
        lost = self._lost_since_flush()
        return done and request.all_stored and not lost

    def _lost_since_flush(self) -> bool:
        lost, self._lost_at_flush = self.lost_count != self._lost_at_flush, self.lost_count
        return lost

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop the writer and release the database. Idempotent.

        What the database could not take stays in the spool; the next
        Recorder for the same database replays it.
        """
        if self._closed:
            return True
        stored = self.flush(timeout)
        self._closed = True
        self._stopping = True
        self._wake.set()
        self._writer.join(timeout)
        if self._store is not None:
            self._store.close()
            self._store = None
        _live_recorders.discard(self)
        return stored

    def client(self, **kwargs: Any) -> httpx2.Client:
        """An `httpx2.Client` (for openai >= 3) whose requests are recorded.

        Takes the same arguments as `httpx2.Client`; `transport` becomes the
        inner transport. Defaults match the openai SDK's own client.
        """
        import httpx2  # noqa: PLC0415 - httpx2 needs Python 3.11+; only load it when asked

        from .httpx2 import RecordingTransport  # noqa: PLC0415

        inner = kwargs.pop("transport", None) or httpx2.HTTPTransport(
            limits=kwargs.pop("limits", _sdk_limits(httpx2))
        )
        kwargs.setdefault("timeout", httpx2.Timeout(600.0, connect=5.0))
        kwargs.setdefault("follow_redirects", True)
        return httpx2.Client(transport=RecordingTransport(recorder=self, transport=inner), **kwargs)

    def async_client(self, **kwargs: Any) -> httpx2.AsyncClient:
        """An `httpx2.AsyncClient` whose requests are recorded; see `client()`."""
        import httpx2  # noqa: PLC0415

        from .httpx2 import AsyncRecordingTransport  # noqa: PLC0415

        inner = kwargs.pop("transport", None) or httpx2.AsyncHTTPTransport(
            limits=kwargs.pop("limits", _sdk_limits(httpx2))
        )
        kwargs.setdefault("timeout", httpx2.Timeout(600.0, connect=5.0))
        kwargs.setdefault("follow_redirects", True)
        return httpx2.AsyncClient(
            transport=AsyncRecordingTransport(recorder=self, transport=inner), **kwargs
        )

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writer thread ------------------------------------------------

    def _start_writer(self) -> None:
        self._queue: deque[Exchange | _FlushRequest] = deque()
        self._wake = threading.Event()
        # Set each time the writer has emptied the queue (see `emit`).
        self._drained = threading.Event()
        self._stopping = False
        self._writer = threading.Thread(
            target=self._run_writer, name="oaitrace-writer", daemon=True
        )
        self._writer.start()

    def _run_writer(self) -> None:
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            try:
                self._drain()
                self._drained.set()
                self._replay_when_due()
                if not self._spool_pending:
                    # Only while the database takes records: during an outage a
                    # connection attempt could hold the writer up; the hours
                    # missed are summarised once it is back.
                    self._summariser.after_store()
            except Exception as exc:
                self.report_internal_error(exc)
                self._drained.set()
            if self._stopping and not self._queue:
                self._spool.close()
                return

    def _drain(self) -> None:
        batch: list[Record] = []
        waiting: list[_FlushRequest] = []
        queue = self._queue
        while queue:
            item = queue.popleft()
            if isinstance(item, _FlushRequest):
                waiting.append(item)
                continue
            record = self._parse(item)
            if record is not None:
                self._observe(record, item)
                batch.append(record)
            if len(batch) >= self._batch_size:
                self._store_batch(batch, waiting)
                batch = []
                if len(queue) < self._batch_size:
                    self._drained.set()  # an emitter waiting for room may go on
        self._store_batch(batch, waiting)
        if waiting and self._spool_pending:
            # A flush asks now: one attempt, whatever the retry delay says.
            lost_before = self.lost_count
            self._replay_spool()
            if self.lost_count != lost_before:
                for request in waiting:
                    request.all_stored = False
        for request in waiting:
            if self._spool_pending:
                request.all_stored = False
            request.done.set()

    def _parse(self, exchange: Exchange) -> Record | None:
        try:
            record_id = new_record_id(exchange.started_at_ns)
            record = parse(
                exchange,
                record_id=record_id,
                capture_content=self.capture_content,
                call_id=self._calls.call_id(exchange, record_id),
            )
        except Exception as exc:
            self.lost_count += 1
            self.report_internal_error(exc)
            return None
        if record.parse_error is not None:
            self.parse_error_count += 1
            logger.warning(
                EVENT_PARSE_FAILED, request_id=record.request_id, parse_error=record.parse_error
            )
        self._polled_usage.account(record)
        self._content_policy.apply(record)
        _set_cost(record, self._pricer.price(record))
        return record

    def _observe(self, record: Record, exchange: Exchange) -> None:
        """Span, metrics and the debug event of one record; a broken exporter is only counted."""
        try:
            self._telemetry.record(record, exchange)
        except Exception as exc:
            self.report_internal_error(exc)
        # An application that never configured structlog would get this
        # event printed for every request: only those that did receive it.
        if structlog.is_configured():
            logger.debug(
                EVENT_EXCHANGE,
                record_id=record.id,
                request_id=record.request_id,
                operation=record.operation,
                model=record.response_model or record.request_model,
                status_code=record.status_code,
                duration_ms=round(record.duration_ms, 3),
                input_tokens=record.input_tokens,
                output_tokens=record.output_tokens,
                cost_usd=None if record.cost_usd is None else float(record.cost_usd),
                error_type=record.error_type,
            )

    def _store_batch(self, batch: list[Record], waiting: list[_FlushRequest]) -> None:
        if not batch:
            return
        lost_before = self.lost_count
        self._storing_since = started = time.monotonic()
        try:
            if started >= self._retry_at:
                # What waits in the spool is older: it goes in first, to keep the order.
                if self._spool_pending:
                    self._replay_spool()
                if not self._spool_pending and self._insert(batch):
                    return
            self._spool_batch(batch)
        finally:
            self._storing_since = None
            if self.lost_count != lost_before:
                for request in waiting:
                    request.all_stored = False

    def _insert(self, batch: list[Record]) -> bool:
        for attempt in range(1, _INSERT_ATTEMPTS + 1):
            try:
                self.stored_count += self._write(batch)
            except Exception as exc:
                logger.warning(EVENT_DATABASE_ERROR, attempt=attempt, error=repr(exc))
                self._discard_store()
                if attempt < _INSERT_ATTEMPTS:
                    time.sleep(0.05 * attempt)
                continue
            self._retry_delay = 0.0
            return True
        self._database_failed()
        return False

    def _write(self, records: list[Record]) -> int:
        """Insert records and return how many were stored; raises when the database is away.

        Records the database refuses as data (a number too large for its
        column, say) are found by halving the batch, counted as lost and
        logged: they would fail the same way forever, and must neither
        block the records around them nor poison the spool.
        """
        try:
            self._open_store().insert(records)
        except Exception as exc:
            if not _refused_as_data(exc):
                raise
            if len(records) > 1:
                middle = len(records) // 2
                return self._write(records[:middle]) + self._write(records[middle:])
            self.lost_count += 1
            logger.error(
                EVENT_RECORDS_LOST,
                count=1,
                lost_total=self.lost_count,
                reason="refused_by_database",
                record_id=records[0].id,
                error=repr(exc),
            )
            return 0
        return len(records)

    def _database_failed(self) -> None:
        self._retry_delay = min(max(self._retry_delay * 2, _RETRY_FIRST_S), _RETRY_LAST_S)
        self._retry_at = time.monotonic() + self._retry_delay

    def _spool_batch(self, batch: list[Record]) -> None:
        error: OSError | None = None
        try:
            spooled = self._spool.append(batch)
        except OSError as exc:
            spooled, error = 0, exc
        if spooled:
            if not self._spooling_logged:  # once per outage, not per batch
                self._spooling_logged = True
                directory = str(self._spool.directory)
                logger.warning(EVENT_RECORDS_SPOOLED, count=spooled, spool=directory)
            self.spooled_count += spooled
            self._spool_pending = True
        lost = len(batch) - spooled
        if lost:
            self.lost_count += lost
            reason = "spool_full" if error is None else repr(error)
            logger.error(EVENT_RECORDS_LOST, count=lost, lost_total=self.lost_count, reason=reason)

    def _replay_when_due(self) -> None:
        now = time.monotonic()
        if not self._spool_pending and now >= self._next_spool_scan:
            # Segments of a process that died while this one ran.
            self._next_spool_scan = now + _SPOOL_SCAN_INTERVAL_S
            self._spool_pending = self._spool.has_segments()
        if self._spool_pending and now >= self._retry_at:
            self._replay_spool()

    def _replay_spool(self) -> None:
        try:
            result = self._spool.replay(self._store_replayed, self._batch_size)
        except OSError as exc:
            # An unreadable spool must not keep new records from the database.
            self.report_internal_error(exc)
            self._spool_pending = False
            return
        if result.skipped_lines:
            self.lost_count += result.skipped_lines
            logger.error(EVENT_SPOOL_SKIPPED_LINES, count=result.skipped_lines)
        if result.replayed:
            logger.info(EVENT_SPOOL_REPLAYED, count=result.replayed)
        if result.error is not None:
            logger.warning(EVENT_DATABASE_ERROR, error=repr(result.error), replaying=True)
            self._database_failed()
            return
        self._spool_pending = False
        self._spooling_logged = False

    def _store_replayed(self, records: list[Record]) -> None:
        try:
            stored = self._write(records)
        except Exception:
            self._discard_store()
            raise
        self._retry_delay = 0.0
        self.stored_count += stored
        self.replayed_count += stored

    def _open_store(self) -> Store:
        if self._store is None:
            store = Store(self.database_url)
            store.ensure_schema()
            self._store = store
        return self._store

    def _discard_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            with suppress(Exception):  # closing a broken connection may fail too
                store.close()

    def _warn(self, event: str, **fields: object) -> None:
        # Rate-limited so a flood of drops cannot turn into a flood of logs.
        now = time.monotonic()
        if now - self._last_warning >= _WARNING_INTERVAL_S:
            self._last_warning = now
            logger.warning(event, **fields)

    def _after_fork_in_child(self) -> None:
        # The parent's queue belongs to the parent (its writer stores it);
        # the child starts empty with its own writer and its own connections.
        if self._closed:
            return
        store, self._store = self._store, None
        if store is not None:
            with suppress(Exception):  # the child must start whatever happens
                store.abandon_after_fork()
        self._spool.abandon_after_fork()
        self._start_writer()


def _refused_as_data(error: BaseException) -> bool:
    """Whether the database (or its driver) refused the records themselves, not being away.

    A constraint or data error, or a value the driver cannot convert
    (OverflowError for an integer past 64 bits, a string it cannot encode),
    fails the same way however often it is retried. Anything else, a lost
    connection or an unwritable file, is the database being away.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, DBAPIError):
            return isinstance(seen, (DataError, IntegrityError))
        if isinstance(seen, (OverflowError, ValueError, TypeError)):
            return True
        seen = seen.__cause__
    return False


def _set_cost(record: Record, cost: Cost) -> None:
    """Put a cost on a record that `parse` just made on this thread (see `fill_in`)."""
    if cost.usd is None and cost.reason is None:  # pragma: no cover - Cost always has one
        cost = Cost(usd=None, reason=CostReason.PRICING_ERROR)
    fill_in(record, "cost_usd", cost.usd)
    fill_in(record, "cost_reason", cost.reason)
    fill_in(record, "price_source", cost.source)
    fill_in(record, "price_model", cost.model)
    fill_in(record, "price_provider", cost.provider)


def _sdk_limits(httpx2_module: Any) -> Any:
    # The openai SDK's own client allows 1000 connections, 100 kept alive.
    return httpx2_module.Limits(max_connections=1000, max_keepalive_connections=100)


_live_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for recorder in list(_live_recorders):
        with suppress(Exception):  # interpreter exit: nothing left to tell
            recorder.close()


_sigterm_handler_installed = False


def _install_sigterm_handler() -> None:
    """Flush every recorder on SIGTERM, once per process, only where it is safe to.

    Python allows handlers only in the main thread, and a handler the
    application set (or SIG_IGN) is its business: then nothing is installed.
    """
    global _sigterm_handler_installed  # noqa: PLW0603 - one handler per process
    if _sigterm_handler_installed or threading.current_thread() is not threading.main_thread():
        return
    with suppress(ValueError, OSError):  # embedded interpreters may refuse signals
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _close_all_on_sigterm)
            _sigterm_handler_installed = True


def _close_all_on_sigterm(signum: int, _frame: object) -> None:
    for recorder in list(_live_recorders):
        if recorder._handle_sigterm:
            with suppress(Exception):  # terminating: nothing left to tell
                recorder.close()
    # Die as SIGTERM would have (exit status, parent's view), not by exiting.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _reinit_all_after_fork() -> None:
    for recorder in list(_live_recorders):
        recorder._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_all_after_fork)
