"""The Recorder: bounded queue, writer, flush, exit, fork; failures kept from the caller."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import oaitrace
from oaitrace.query import Query
from tests.corpus import build_exchange

CHAT_BODY = (
    b'{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'
)


def chat_exchange(request_id: str = "req_1") -> object:
    return build_exchange(
        response_headers=[("content-type", "application/json"), ("x-request-id", request_id)],
        chunks=[CHAT_BODY],
        request_body=b'{"model":"gpt-4o"}',
    )


def count_rows(database: Path) -> int:
    with Query(str(database)) as query:
        return len(query.requests(limit=100_000))


class TestFlush:
    def test_flush_stores_everything_emitted_before_it(self, tmp_path: Path) -> None:
        """After flush() returns True every emitted exchange is in the database."""
        database = tmp_path / "t.db"
        with oaitrace.Recorder(str(database), flush_interval=60) as recorder:
            for index in range(1200):
                recorder.emit(chat_exchange(f"req_{index}"))  # type: ignore[arg-type]
            assert recorder.flush(timeout=30) is True
            assert 1200 == count_rows(database)
            assert (1200, 0, 0) == (
                recorder.stored_count,
                recorder.dropped_count,
                recorder.lost_count,
            )

    def test_close_is_idempotent_and_drops_later_exchanges(self, tmp_path: Path) -> None:
        """A closed recorder counts what it is still given as dropped, without raising."""
        recorder = oaitrace.Recorder(str(tmp_path / "t.db"))
        recorder.emit(chat_exchange())  # type: ignore[arg-type]
        assert recorder.close() is True
        assert recorder.close() is True
        recorder.emit(chat_exchange())  # type: ignore[arg-type]
        assert (1, 1) == (recorder.stored_count, recorder.dropped_count)


class TestBoundedQueue:
    def test_full_queue_drops_and_counts_instead_of_blocking(self, tmp_path: Path) -> None:
        """Past max_queue_size emit() returns at once and the drop is counted and logged."""
        recorder = oaitrace.Recorder(
            str(tmp_path / "t.db"), max_queue_size=10, batch_size=1000, flush_interval=60
        )
        try:
            with capture_logs() as logs:
                for _ in range(25):
                    recorder.emit(chat_exchange())  # type: ignore[arg-type]
            assert 15 == recorder.dropped_count
            assert ["oaitrace.queue_full"] == [entry["event"] for entry in logs]
            assert recorder.flush(timeout=30)
            assert 10 == recorder.stored_count
        finally:
            recorder.close()


class TestDatabaseFailure:
    def test_unwritable_database_is_spooled_not_raised(self, tmp_path: Path) -> None:
        """When the database cannot be opened, flush() says so and the records wait in the spool."""
        missing_parent = tmp_path / "no" / "such" / "dir" / "t.db"
        recorder = oaitrace.Recorder(f"sqlite:///{missing_parent}")
        try:
            with capture_logs() as logs:
                recorder.emit(chat_exchange())  # type: ignore[arg-type]
                assert recorder.flush(timeout=30) is False
            assert (0, 1, 0) == (
                recorder.stored_count,
                recorder.spooled_count,
                recorder.lost_count,
            )
            events = {entry["event"] for entry in logs}
            assert {"oaitrace.database_error", "oaitrace.records_spooled"} <= events
        finally:
            recorder.close()

    def test_unwritable_database_and_spool_is_counted_as_lost(self, tmp_path: Path) -> None:
        """When the spool cannot be written either, the loss is counted and logged."""
        missing_parent = tmp_path / "no" / "such" / "dir" / "t.db"
        not_a_directory = tmp_path / "file"
        not_a_directory.write_text("")
        recorder = oaitrace.Recorder(f"sqlite:///{missing_parent}", spool_dir=not_a_directory)
        try:
            with capture_logs() as logs:
                recorder.emit(chat_exchange())  # type: ignore[arg-type]
                assert recorder.flush(timeout=30) is False
            assert (0, 0, 1) == (
                recorder.stored_count,
                recorder.spooled_count,
                recorder.lost_count,
            )
            events = {entry["event"] for entry in logs}
            assert {"oaitrace.database_error", "oaitrace.records_lost"} <= events
        finally:
            recorder.close()


class TestProcessLifecycle:
    def test_interpreter_exit_flushes(self, tmp_path: Path) -> None:
        """A process that exits without flush() or close() still stores what it recorded."""
        database = tmp_path / "exit.db"
        script = textwrap.dedent(
            f"""
            import oaitrace
            from tests.test_recorder import chat_exchange
            recorder = oaitrace.Recorder({str(database)!r}, flush_interval=60)
            for index in range(50):
                recorder.emit(chat_exchange(f"req_{{index}}"))
            """
        )
        root = Path(__file__).resolve().parents[1]
        subprocess.run([sys.executable, "-c", script], check=True, cwd=root, timeout=120)
        assert 50 == count_rows(database)

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
    def test_fork_child_writes_its_own_and_nothing_twice(self, tmp_path: Path) -> None:
        """After fork the child gets a fresh writer; the parent's queued records are stored once."""
        database = tmp_path / "fork.db"
        recorder = oaitrace.Recorder(str(database), flush_interval=60, batch_size=10_000)
        try:
            for index in range(30):
                recorder.emit(chat_exchange(f"parent_{index}"))  # type: ignore[arg-type]
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                status = 0
                try:
                    for index in range(20):
                        recorder.emit(chat_exchange(f"child_{index}"))  # type: ignore[arg-type]
                    status = 0 if recorder.flush(timeout=30) else 1
                except BaseException:
                    status = 2
                os._exit(status)
            _, wait_status = os.waitpid(pid, 0)
            assert 0 == os.waitstatus_to_exitcode(wait_status)
            assert recorder.flush(timeout=30)
        finally:
            recorder.close()
        with Query(str(database)) as query:
            ids = sorted(record.request_id or "" for record in query.requests(limit=1000))
        expected = sorted([f"parent_{i}" for i in range(30)] + [f"child_{i}" for i in range(20)])
        assert expected == ids


def sdk_client(recorder: oaitrace.Recorder) -> Any:
    """The real openai SDK over the recorder's client and a mock of the API."""
    import httpx2  # noqa: PLC0415
    import openai  # noqa: PLC0415

    from tests.openai_edge import openai_handler  # noqa: PLC0415

    return openai.OpenAI(
        api_key="sk-test-0123456789",
        base_url="https://api.openai.com/v1",
        http_client=recorder.client(transport=httpx2.MockTransport(openai_handler(httpx2))),
        max_retries=0,
    )


def chat_calls(client: Any, calls: int) -> None:
    for _ in range(calls):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )


def test_a_busy_caller_does_not_starve_the_writer(tmp_path: Path) -> None:
    """SDK calls back to back keep the GIL busy (the openai SDK gives it up for a
    moment per request and takes it straight back). A writer that also gave it
    up per record (kernel randomness for ids, sqlite3 stepping row by row) got
    a turn only every few milliseconds and the queue overflowed."""
    database = tmp_path / "busy.db"
    recorder = oaitrace.Recorder(
        str(database), batch_size=50, max_queue_size=120, handle_sigterm=False
    )
    chat_calls(sdk_client(recorder), 600)
    assert recorder.close(timeout=30)

    assert (0, 600) == (recorder.dropped_count, count_rows(database))


def test_emit_waits_for_a_writer_two_batches_behind(tmp_path: Path) -> None:
    """A writer slower than the caller (here a redact hook that sleeps) is
    waited for once two batches queue up, instead of dropping what overflows."""
    database = tmp_path / "slow.db"

    def slow_redact(direction: str, body: Any) -> Any:
        time.sleep(0.002)
        return body

    recorder = oaitrace.Recorder(
        str(database),
        batch_size=20,
        max_queue_size=50,
        redact=slow_redact,
        handle_sigterm=False,
    )
    chat_calls(sdk_client(recorder), 200)
    assert recorder.close(timeout=30)

    assert (0, 200, True) == (
        recorder.dropped_count,
        count_rows(database),
        recorder.backpressure_count > 0,
    )


def test_a_slow_database_is_not_passed_on_to_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a batch insert hangs (a database that stopped answering), emit does
    not wait for the writer however far behind it is: the records wait in the
    queue, and what overflows it is counted as dropped, as before."""
    from oaitrace.storage import Store  # noqa: PLC0415

    real_insert = Store.insert
    hanging = threading.Event()

    def hanging_insert(self: Store, records: Any) -> None:
        hanging.set()
        time.sleep(3)
        real_insert(self, records)

    monkeypatch.setattr(Store, "insert", hanging_insert)
    database = tmp_path / "hung.db"
    recorder = oaitrace.Recorder(
        str(database), batch_size=20, max_queue_size=200, handle_sigterm=False
    )
    client = sdk_client(recorder)
    chat_calls(client, 20)  # the first batch: its insert hangs
    assert hanging.wait(5)
    time.sleep(0.3)  # longer than a batch insert may take before it counts as slow
    chat_calls(client, 100)
    waited_while_hung = recorder.backpressure_count
    assert recorder.close(timeout=30)

    assert (0, 0, 120) == (waited_while_hung, recorder.dropped_count, count_rows(database))
