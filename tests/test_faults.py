"""No record lost under faults: a database that goes away and comes back, a full spool, signals.

Every test sends requests through the real openai SDK over
`recorder.client(transport=httpx2.MockTransport(edge))`; each request carries
its own x-request-id, so "sent == stored, each exactly once" compares ids.
The faults are real where the machine allows it: PostgreSQL stopped with
`pg_ctl stop -m fast`, a SQLite file made immutable with `chattr +i` (which
stops root too, unlike chmod), a spool on a 64 KiB tmpfs. Where it does not,
the test skips and says why; the ENOSPC test also runs without mounts by
failing `os.write` on the spool's own files, at the OS edge.
"""

from __future__ import annotations

import collections
import errno
import itertools
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

import oaitrace
from oaitrace.query import Query
from oaitrace.storage import Store
from tests.conftest import PostgresServer
from tests.corpus import build_exchange
from tests.openai_edge import openai_handler

httpx2 = pytest.importorskip("httpx2")
openai = pytest.importorskip("openai")

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk-proj-Zx81TESTKEYdoNotLeak0123456789abcdefABCDEF"
_IDS = itertools.count()


def edge(request: Any) -> Any:
    """OpenAI's answers, each with the x-request-id the caller asked for."""
    response = openai_handler(httpx2)(request)
    response.headers["x-request-id"] = request.headers["x-test-request-id"]
    return response


def openai_client(recorder: oaitrace.Recorder) -> Any:
    """The real openai SDK, recording through `recorder`, answered by `edge`."""
    http_client = recorder.client(transport=httpx2.MockTransport(edge))
    return openai.OpenAI(
        api_key=API_KEY, base_url="https://api.openai.com/v1", http_client=http_client
    )


def call(client: Any, request_id: str) -> None:
    """One chat completion whose record will carry `request_id`."""
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello"}],
        extra_headers={"x-test-request-id": request_id},
    )
    assert "Hello there" == completion.choices[0].message.content


def send(client: Any, count: int, prefix: str = "req") -> list[str]:
    """`count` calls from four threads at once; the ids sent. Any call that fails fails the test."""
    ids = [f"{prefix}_{next(_IDS)}" for _ in range(count)]
    errors: list[BaseException] = []

    def send_chunk(chunk: list[str]) -> None:
        try:
            for request_id in chunk:
                call(client, request_id)
        except BaseException as exc:  # reported in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=send_chunk, args=(ids[index::4],)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [] == errors
    return ids


class LoadGenerator:
    """Threads sending requests without pause until stopped; what they sent, in order."""

    def __init__(self, client: Any, threads: int = 4, pause_s: float = 0.001) -> None:
        self._client = client
        self._pause_s = pause_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.sent: list[str] = []
        self.errors: list[BaseException] = []
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        while not self._stop.is_set():
            request_id = f"load_{next(_IDS)}"
            try:
                call(self._client, request_id)
            except BaseException as exc:  # the caller must never see oaitrace's trouble
                self.errors.append(exc)
                return
            with self._lock:
                self.sent.append(request_id)
            time.sleep(self._pause_s)

    def __enter__(self) -> LoadGenerator:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def stored_ids(database_url: str) -> collections.Counter[str]:
    """How many rows each x-request-id has in the database."""
    with Query(database_url) as query:
        return collections.Counter(
            record.request_id or "" for record in query.requests(limit=1_000_000)
        )


def assert_exactly_once(sent: list[str], database_url: str) -> None:
    stored = stored_ids(database_url)
    assert sorted(sent) == sorted(stored)
    assert [] == [request_id for request_id, rows in stored.items() if rows != 1]


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class TestPostgresGoesAway:
    def test_stop_mid_run_then_restart_loses_nothing(
        self, restartable_postgres_server: PostgresServer
    ) -> None:
        """Under load the server is stopped and restarted; every record arrives exactly once."""
        server = restartable_postgres_server
        url = server.new_database()
        with oaitrace.Recorder(url, flush_interval=0.05, batch_size=200) as recorder:
            client = openai_client(recorder)
            with LoadGenerator(client) as load:
                wait_until(lambda: recorder.stored_count >= 200)
                server.stop()
                spooled_before = recorder.spooled_count
                wait_until(lambda: recorder.spooled_count >= spooled_before + 300)
                server.start()
                time.sleep(0.5)
            assert [] == load.errors
            assert recorder.flush(timeout=60) is True
            assert recorder.spooled_count >= 300
            assert (0, 0) == (recorder.lost_count, recorder.dropped_count)
            assert len(load.sent) == recorder.stored_count
        assert_exactly_once(load.sent, url)

    def test_unreachable_at_start_then_reachable(
        self, restartable_postgres_server: PostgresServer
    ) -> None:
        """Records made while nothing listens on the database's socket arrive once it does."""
        server = restartable_postgres_server
        url = server.new_database()
        server.stop()  # the URL now points where nothing listens, like a wrong port
        with oaitrace.Recorder(url, flush_interval=0.05) as recorder:
            client = openai_client(recorder)
            sent = send(client, 200)
            assert recorder.flush(timeout=30) is False  # spooled, not stored
            assert (200, 0, 0) == (
                recorder.spooled_count,
                recorder.stored_count,
                recorder.lost_count,
            )
            server.start()
            assert recorder.flush(timeout=30) is True
            sent += send(client, 50)
            assert recorder.flush(timeout=30) is True
        assert_exactly_once(sent, url)

    def test_the_next_recorder_replays_what_the_last_one_spooled(
        self, restartable_postgres_server: PostgresServer
    ) -> None:
        """close() leaves what the database refused in the spool; the next start stores it."""
        server = restartable_postgres_server
        url = server.new_database()
        server.stop()
        with oaitrace.Recorder(url) as recorder:
            sent = send(openai_client(recorder), 100)
            assert recorder.close() is False
        server.start()
        with oaitrace.Recorder(url) as successor:
            assert successor.flush(timeout=30) is True  # nothing new, only the spool
            assert 100 == successor.replayed_count
        assert_exactly_once(sent, url)

    def test_dead_database_is_not_hammered(
        self, restartable_postgres_server: PostgresServer
    ) -> None:
        """While the server is down the writer tries it about once a second, not per batch."""
        server = restartable_postgres_server
        url = server.new_database()
        server.stop()
        with oaitrace.Recorder(url, flush_interval=0.01, batch_size=5) as recorder:
            client = openai_client(recorder)
            with capture_logs() as logs:
                started = time.monotonic()
                with LoadGenerator(client, threads=2, pause_s=0.005):
                    time.sleep(2.0)
                elapsed = time.monotonic() - started
            server.start()
            assert recorder.flush(timeout=30) is True
        attempts = [entry for entry in logs if entry["event"] == "oaitrace.database_error"]
        # At most three quick attempts per retry, one retry per second or slower.
        assert len(attempts) <= 3 * (elapsed + 1)
        assert recorder.spooled_count > 20  # many more batches than attempts


class TestSqliteBecomesReadOnly:
    def test_immutable_file_then_writable_again_loses_nothing(self, tmp_path: Path) -> None:
        """`chattr +i` on the database and its WAL makes writes fail, for root too; then undone."""
        chattr = shutil.which("chattr")
        if chattr is None:
            pytest.skip("chattr not installed: cannot make a file immutable")
        database = tmp_path / "traces.db"
        url = f"sqlite:///{database}"
        with oaitrace.Recorder(url, flush_interval=0.05) as recorder:
            client = openai_client(recorder)
            sent = send(client, 100)
            assert recorder.flush(timeout=30) is True
            files = [str(path) for path in (database, tmp_path / "traces.db-wal") if path.exists()]
            result = subprocess.run([chattr, "+i", *files], capture_output=True, check=False)
            if result.returncode != 0:
                pytest.skip(f"chattr +i refused here: {result.stderr.decode().strip()}")
            try:
                with pytest.raises(sqlite3.OperationalError):
                    sqlite3.connect(database).execute("CREATE TABLE probe (x)")
                sent += send(client, 100)
                assert recorder.flush(timeout=30) is False
                assert (100, 0) == (recorder.spooled_count, recorder.lost_count)
            finally:
                subprocess.run([chattr, "-i", *files], check=True)
            assert recorder.flush(timeout=30) is True
            sent += send(client, 50)
            assert recorder.flush(timeout=30) is True
        assert_exactly_once(sent, url)

    def test_spool_is_stored_before_newer_records(self, tmp_path: Path) -> None:
        """When the database comes back, what waited in the spool is inserted first."""
        directory = tmp_path / "later"
        url = f"sqlite:///{directory / 'traces.db'}"  # its directory does not exist yet
        with oaitrace.Recorder(url, flush_interval=0.05, batch_size=20) as recorder:
            client = openai_client(recorder)
            older = send(client, 60, prefix="older")
            assert recorder.flush(timeout=30) is False
            directory.mkdir()
            newer = send(client, 60, prefix="newer")
            assert recorder.flush(timeout=30) is True
        connection = sqlite3.connect(directory / "traces.db")
        in_insert_order = [
            row[0] for row in connection.execute("SELECT request_id FROM requests ORDER BY rowid")
        ]
        connection.close()
        assert sorted(older) == sorted(in_insert_order[:60])
        assert sorted(newer) == sorted(in_insert_order[60:])


def fill_the_spools_disk(monkeypatch: pytest.MonkeyPatch, spool_root: Path) -> None:
    """Writes under `spool_root` fail with ENOSPC; every other write goes through."""
    real_write = os.write

    def write_or_enospc(descriptor: int, data: Any) -> int:
        # Only the spool's own files see a full disk: the OS edge, nothing else.
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            target = ""
        if target.startswith(str(spool_root)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(descriptor, data)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to tell the spool's files from others")
    monkeypatch.setattr(os, "write", write_or_enospc)


class TestSpoolDiskFull:
    def test_enospc_is_counted_logged_and_the_caller_unaffected(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the spool's disk is full, requests still succeed; the loss is counted and logged."""
        url = f"sqlite:///{tmp_path / 'missing' / 'traces.db'}"  # unreachable database
        spool_root = tmp_path / "spool-root"
        fill_the_spools_disk(monkeypatch, spool_root)
        with oaitrace.Recorder(url, spool_dir=spool_root, flush_interval=0.05) as recorder:
            with capture_logs() as logs:
                send(openai_client(recorder), 40)
                assert recorder.flush(timeout=30) is False
            assert (0, 0, 40) == (
                recorder.stored_count,
                recorder.spooled_count,
                recorder.lost_count,
            )
        lost = [entry for entry in logs if entry["event"] == "oaitrace.records_lost"]
        assert 40 == sum(entry["count"] for entry in lost)
        assert all("No space left" in entry["reason"] for entry in lost)

    def test_a_loss_before_the_flush_makes_it_false(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Records the writer lost before a flush was asked for were emitted before
        it: that flush returns False; the next one, with nothing new lost, True."""
        url = f"sqlite:///{tmp_path / 'missing' / 'traces.db'}"  # unreachable database
        spool_root = tmp_path / "spool-root"
        fill_the_spools_disk(monkeypatch, spool_root)
        with oaitrace.Recorder(url, spool_dir=spool_root, flush_interval=0.01) as recorder:
            send(openai_client(recorder), 10)
            deadline = time.monotonic() + 20
            while recorder.lost_count < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert (10, False, True) == (
                recorder.lost_count,
                recorder.flush(timeout=30),
                recorder.flush(timeout=30),
            )

    def test_real_full_tmpfs(self, tmp_path: Path) -> None:
        """A spool on a 64 KiB tmpfs: what fits is replayed later, the rest is counted lost."""
        mount_point = tmp_path / "tiny"
        mount_point.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        try:
            directory = tmp_path / "later"
            url = f"sqlite:///{directory / 'traces.db'}"
            recorder = oaitrace.Recorder(
                url, spool_dir=mount_point, flush_interval=0.05, batch_size=5
            )
            with recorder, capture_logs() as logs:
                sent = send(openai_client(recorder), 200)
                assert recorder.flush(timeout=30) is False
                spooled, lost = recorder.spooled_count, recorder.lost_count
                assert 200 == spooled + lost
                assert spooled > 0
                assert lost > 0
                directory.mkdir()
                assert recorder.flush(timeout=30) is True
            assert spooled == sum(stored_ids(url).values())
            assert set(stored_ids(url)) <= set(sent)
            events = {entry["event"] for entry in logs}
            assert {"oaitrace.records_spooled", "oaitrace.records_lost"} <= events
        finally:
            subprocess.run(["umount", str(mount_point)], check=False)

    def test_spool_max_bytes_bounds_the_spool(self, tmp_path: Path) -> None:
        """Past spool_max_bytes records are counted lost (reason spool_full), not written."""
        url = f"sqlite:///{tmp_path / 'missing' / 'traces.db'}"
        spool_root = tmp_path / "spool-root"
        with oaitrace.Recorder(url, spool_dir=spool_root, spool_max_bytes=20_000) as recorder:
            with capture_logs() as logs:
                send(openai_client(recorder), 60)
                assert recorder.flush(timeout=30) is False
            assert 60 == recorder.spooled_count + recorder.lost_count
            assert recorder.lost_count > 0
            size = sum(path.stat().st_size for path in spool_root.rglob("*.jsonl"))
            assert size <= 20_000
        reasons = {entry.get("reason") for entry in logs if entry["event"].endswith("lost")}
        assert {"spool_full"} == reasons


def chat_exchange(request_id: str) -> Any:
    body = b'{"id":"chatcmpl-1","model":"gpt-4o","usage":{"prompt_tokens":3}}'
    return build_exchange(
        response_headers=[("content-type", "application/json"), ("x-request-id", request_id)],
        chunks=[body],
        request_body=b'{"model":"gpt-4o"}',
    )


def refuse_poison(database: Path) -> None:
    """A SQLite database whose constraint refuses the record with x-request-id `poison`."""
    with Store(f"sqlite:///{database}") as store:
        store.ensure_schema()
    connection = sqlite3.connect(database)
    connection.execute(
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON requests "
        "WHEN NEW.request_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    connection.commit()
    connection.close()


class TestRecordsTheDatabaseRefuses:
    def test_a_refused_record_is_lost_alone(self, tmp_path: Path) -> None:
        """A record the database refuses as data is counted lost; its batch-mates are stored."""
        database = tmp_path / "traces.db"
        refuse_poison(database)
        url = f"sqlite:///{database}"
        with oaitrace.Recorder(url, flush_interval=60) as recorder:
            with capture_logs() as logs:
                for index in range(7):
                    recorder.emit(chat_exchange("poison" if index == 3 else f"batch_{index}"))
                assert recorder.flush(timeout=30) is False
            assert (6, 1, 0) == (
                recorder.stored_count,
                recorder.lost_count,
                recorder.spooled_count,
            )
            recorder.emit(chat_exchange("after"))
            assert recorder.flush(timeout=30) is True  # the database was never blocked
        refused = [entry for entry in logs if entry.get("reason") == "refused_by_database"]
        assert 1 == len(refused)
        expected = [f"batch_{index}" for index in range(7) if index != 3] + ["after"]
        assert_exactly_once(expected, url)

    def test_a_refused_record_does_not_poison_the_spool(self, tmp_path: Path) -> None:
        """Spooled while the database was away, a refused record is dropped from the replay."""
        directory = tmp_path / "later"
        url = f"sqlite:///{directory / 'traces.db'}"
        with oaitrace.Recorder(url, flush_interval=60) as recorder:
            for request_id in ("spooled_0", "poison", "spooled_2"):
                recorder.emit(chat_exchange(request_id))
            assert recorder.flush(timeout=30) is False
            assert 3 == recorder.spooled_count
            directory.mkdir()
            refuse_poison(directory / "traces.db")
            assert recorder.flush(timeout=30) is False  # one of them could not be stored
            assert (2, 1) == (recorder.replayed_count, recorder.lost_count)
            recorder.emit(chat_exchange("after"))
            assert recorder.flush(timeout=30) is True
        assert_exactly_once(["spooled_0", "spooled_2", "after"], url)


# --- signals: the recorder in a child process -------------------------------------

_CHILD = """
import sys, time
import oaitrace
from tests.test_faults import call, openai_client

url, handle_sigterm = sys.argv[1], sys.argv[2] == "1"
recorder = oaitrace.Recorder(
    url, flush_interval=60, batch_size=100_000, handle_sigterm=handle_sigterm
)
client = openai_client(recorder)
{body}
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a recording child process and wait until it says it is ready."""
    processes: list[subprocess.Popen[str]] = []

    def start(url: str, body: str, handle_sigterm: bool = True) -> subprocess.Popen[str]:
        script = _CHILD.format(body=textwrap.dedent(body))
        process = subprocess.Popen(
            [sys.executable, "-c", script, url, "1" if handle_sigterm else "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        # structlog, unconfigured in the child, prints its warnings there too.
        for line in process.stdout:
            if line == "ready\n":
                return process
        pytest.fail(f"the child exited with {process.wait(timeout=30)} before it was ready")

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


class TestSignals:
    def test_sigterm_flushes_then_terminates_as_sigterm(
        self, database_url: str, child: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """A process stopped by SIGTERM stores what it recorded and still dies of SIGTERM."""
        process = child(database_url, "for n in range(50):\n    call(client, f'term_{n}')")
        process.send_signal(signal.SIGTERM)
        assert -signal.SIGTERM == process.wait(timeout=60)
        assert_exactly_once([f"term_{n}" for n in range(50)], database_url)

    def test_sigterm_opt_out_leaves_the_default(
        self, tmp_path: Path, child: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """With handle_sigterm=False SIGTERM kills at once: what was queued is not stored."""
        url = f"sqlite:///{tmp_path / 'traces.db'}"
        body = """
        import signal
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        for n in range(50):
            call(client, f"term_{n}")
        """
        with Store(url) as store:
            store.ensure_schema()
        process = child(url, body, handle_sigterm=False)
        process.send_signal(signal.SIGTERM)
        assert -signal.SIGTERM == process.wait(timeout=60)
        assert 0 == sum(stored_ids(url).values())

    def test_an_application_handler_is_left_alone(self, tmp_path: Path) -> None:
        """A SIGTERM handler the application set is never replaced."""
        script = textwrap.dedent(
            """
            import signal
            import oaitrace
            def mine(signum, frame):
                pass
            signal.signal(signal.SIGTERM, mine)
            oaitrace.Recorder(sys_argv := __import__("sys").argv[1]).close()
            print(signal.getsignal(signal.SIGTERM) is mine)
            """
        )
        url = f"sqlite:///{tmp_path / 'traces.db'}"
        result = subprocess.run(
            [sys.executable, "-c", script, url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert "True" == result.stdout.strip()

    def test_sigkill_keeps_what_was_spooled_or_stored(
        self, tmp_path: Path, child: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """SIGKILL loses only the in-memory queue: spooled records arrive with the next start."""
        directory = tmp_path / "later"
        url = f"sqlite:///{directory / 'traces.db'}"  # unreachable until mkdir
        body = """
        for n in range(50):
            call(client, f"spooled_{n}")
        assert recorder.flush(timeout=30) is False  # the database is not there: spooled
        assert 50 == recorder.spooled_count
        for n in range(20):
            call(client, f"queued_{n}")  # only in memory: flush_interval is 60 s
        """
        process = child(url, body)
        process.kill()
        assert -signal.SIGKILL == process.wait(timeout=60)
        directory.mkdir()
        with oaitrace.Recorder(url) as successor:
            assert successor.flush(timeout=30) is True
        assert_exactly_once([f"spooled_{n}" for n in range(50)], url)

    def test_sigkill_after_a_flush_keeps_what_was_stored(
        self, tmp_path: Path, child: Callable[..., subprocess.Popen[str]]
    ) -> None:
        """What flush() stored survives SIGKILL; what was only queued is the window lost."""
        url = f"sqlite:///{tmp_path / 'traces.db'}"
        body = """
        for n in range(30):
            call(client, f"stored_{n}")
        assert recorder.flush(timeout=30) is True
        for n in range(20):
            call(client, f"queued_{n}")
        """
        process = child(url, body)
        process.kill()
        assert -signal.SIGKILL == process.wait(timeout=60)
        assert_exactly_once([f"stored_{n}" for n in range(30)], url)
