"""The Recorder: takes Exchanges from transports and stores them, off the request path.

Modelled on OpenTelemetry's BatchProcessor: a bounded queue that `emit()`
appends to without ever blocking, one daemon writer thread that parses and
batch-inserts, `flush()` and `close()`, a flush at interpreter exit, and a
fresh writer after `fork()`.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections import deque
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final

from ._exchange import Exchange, Record
from ._ids import new_record_id
from ._log import (
    EVENT_DATABASE_ERROR,
    EVENT_INTERNAL_ERROR,
    EVENT_PARSE_FAILED,
    EVENT_QUEUE_FULL,
    EVENT_RECORDS_LOST,
    logger,
)
from ._parse import parse
from .storage import Store, resolve_database_url

if TYPE_CHECKING:
    import httpx2

__all__ = ["Recorder"]

DEFAULT_MAX_QUEUE_SIZE: Final = 10_000
DEFAULT_BATCH_SIZE: Final = 500
DEFAULT_FLUSH_INTERVAL_S: Final = 0.5
DEFAULT_CAPTURE_LIMIT: Final = 1 << 20
# A database that fails this many times in a row for one batch gives up on
# it (counted and logged as lost) so a dead database cannot grow memory.
_INSERT_ATTEMPTS: Final = 3
_WARNING_INTERVAL_S: Final = 10.0


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
            (counted and logged; the request itself is never slowed).
        batch_size: records per database transaction.
        flush_interval: seconds the writer waits before storing a partial batch.
        capture_limit: bytes of each response body kept (the rest is counted).
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
    ) -> None:
        self.database_url = resolve_database_url(database_url)
        self.capture_content = capture_content
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._max_queue_size = max_queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._capture_limit = capture_limit
        self._store: Store | None = None
        self._closed = False
        self._last_warning = 0.0
        # Counters; written by one thread each, read by anyone.
        self.stored_count = 0
        self.dropped_count = 0
        self.lost_count = 0
        self.parse_error_count = 0
        self.internal_error_count = 0
        self._start_writer()
        _live_recorders.add(self)

    # --- request path -------------------------------------------------

    @property
    def capture_limit(self) -> int:
        """Bytes of each response body that are kept."""
        return self._capture_limit

    def emit(self, exchange: Exchange) -> None:
        """Queue an exchange for storage. Never blocks, never raises."""
        queue = self._queue
        if self._closed or len(queue) >= self._max_queue_size:
            self.dropped_count += 1
            self._warn(EVENT_QUEUE_FULL, dropped=self.dropped_count)
            return
        queue.append(exchange)
        if len(queue) >= self._batch_size:
            self._wake.set()

    def report_internal_error(self, error: BaseException) -> None:
        """Count and log a failure inside oaitrace that the caller must not see."""
        self.internal_error_count += 1
        self._warn(EVENT_INTERNAL_ERROR, error=repr(error))

    # --- control ------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything emitted so far is stored.

        Returns True when it all reached the database, False on timeout or
        when some of it could not be stored (see `lost_count`).
        """
        if not self._writer.is_alive():
            return not self._queue
        request = _FlushRequest()
        self._queue.append(request)
        self._wake.set()
        return request.done.wait(timeout) and request.all_stored

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop the writer and release the database. Idempotent."""
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
            except Exception as exc:
                self.report_internal_error(exc)
            if self._stopping and not self._queue:
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
                batch.append(record)
            if len(batch) >= self._batch_size:
                self._store_batch(batch, waiting)
                batch = []
        self._store_batch(batch, waiting)
        for request in waiting:
            request.done.set()

    def _parse(self, exchange: Exchange) -> Record | None:
        try:
            record = parse(
                exchange,
                record_id=new_record_id(exchange.started_at_ns),
                capture_content=self.capture_content,
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
        return record

    def _store_batch(self, batch: list[Record], waiting: list[_FlushRequest]) -> None:
        if not batch:
            return
        for attempt in range(1, _INSERT_ATTEMPTS + 1):
            try:
                self._open_store().insert(batch)
            except Exception as exc:
                logger.warning(EVENT_DATABASE_ERROR, attempt=attempt, error=repr(exc))
                self._discard_store()
                if attempt < _INSERT_ATTEMPTS:
                    time.sleep(0.05 * attempt)
                continue
            self.stored_count += len(batch)
            return
        self.lost_count += len(batch)
        for request in waiting:
            request.all_stored = False
        logger.error(EVENT_RECORDS_LOST, count=len(batch), lost_total=self.lost_count)

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
        self._start_writer()


def _sdk_limits(httpx2_module: Any) -> Any:
    # The openai SDK's own client allows 1000 connections, 100 kept alive.
    return httpx2_module.Limits(max_connections=1000, max_keepalive_connections=100)


_live_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for recorder in list(_live_recorders):
        with suppress(Exception):  # interpreter exit: nothing left to tell
            recorder.close()


def _reinit_all_after_fork() -> None:
    for recorder in list(_live_recorders):
        recorder._after_fork_in_child()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_all_after_fork)
