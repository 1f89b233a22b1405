"""The spool: exact Record round trip, ordered replay, torn lines, size bound, locks, faults."""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import stat
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oaitrace._exchange import Record
from oaitrace._spool import (
    ReplayResult,
    Spool,
    decode_record,
    encode_record,
    spool_directory,
)
from oaitrace.query import Query
from oaitrace.storage import Store
from tests.factories import make_record

# --- a strategy for every Record field, from its type ----------------------------

_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
_TIMEZONES = st.just(datetime.timezone.utc) | st.builds(
    datetime.timezone,
    st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
        lambda minutes: datetime.timedelta(minutes=minutes)
    ),
)


def _strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return st.one_of([_strategy_for(member) for member in typing.get_args(hint)])
    origin = typing.get_origin(hint)
    arguments = typing.get_args(hint)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        type(None): st.none(),
        str: st.text(),
        bool: st.booleans(),
        int: st.integers(),
        float: st.floats(allow_nan=False),
        datetime.datetime: st.datetimes(timezones=_TIMEZONES),
        Decimal: st.decimals(allow_nan=False),
        Any: _JSON_VALUES,
    }
    if hint in simple:
        return simple[hint]
    if origin is tuple:
        return st.lists(_strategy_for(arguments[0]), max_size=4).map(tuple)
    if origin is Mapping:
        return st.dictionaries(st.text(), _strategy_for(arguments[1]), max_size=4)
    msg = f"no strategy for {hint}"
    raise AssertionError(msg)


_HINTS = typing.get_type_hints(Record)
RECORDS = st.builds(
    Record, **{field.name: _strategy_for(_HINTS[field.name]) for field in fields(Record)}
)


def _typed(record: Record) -> list[tuple[str, type, object]]:
    # Equality alone would take 1 == 1.0 == True; the types must survive too.
    return [
        (f.name, type(getattr(record, f.name)), getattr(record, f.name)) for f in fields(Record)
    ]


def store_into(target: list[list[Record]]) -> Any:
    def store(records: list[Record]) -> None:
        target.append(list(records))

    return store


def flatten(batches: list[list[Record]]) -> list[str]:
    return [record.id for batch in batches for record in batch]


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool")
    yield spool
    spool.close()


class TestRecordCodec:
    @settings(max_examples=300, deadline=None)
    @given(record=RECORDS)
    def test_every_field_round_trips_exactly(self, record: Record) -> None:
        """Any Record comes back from its spool line equal, field by field and type by type."""
        decoded = decode_record(encode_record(record))
        assert record == decoded
        expected = [(n, t, v) for n, t, v in _typed(record) if not isinstance(v, Mapping)]
        actual = [(n, t, v) for n, t, v in _typed(decoded) if not isinstance(v, Mapping)]
        assert expected == actual

    def test_a_line_is_json_without_pickle(self) -> None:
        """A spool line is one ASCII JSON object and a newline; datetimes and costs as text."""
        record = make_record(cost_usd=Decimal("0.000123450"), finish_reasons=("stop",))
        line = encode_record(record)
        document = json.loads(line)
        assert line.endswith(b"\n")
        assert line.count(b"\n") == 1
        assert "0.000123450" == document["cost_usd"]
        assert "2025-01-15T12:30:45.123456+00:00" == document["started_at"]
        assert ["stop"] == document["finish_reasons"]

    def test_decimal_keeps_its_exponent(self) -> None:
        """A cost is decoded to the same Decimal digits, not a float."""
        decoded = decode_record(encode_record(make_record(cost_usd=Decimal("1.50"))))
        assert "1.50" == str(decoded.cost_usd)

    @pytest.mark.parametrize(
        "line",
        [b"", b"{", b"[]", b'{"_v":2}', b'{"_v":1}', b'{"_v":1,"id":"x","started_at":"nope"}'],
    )
    def test_unreadable_lines_raise_value_error(self, line: bytes) -> None:
        """Anything that is not a spooled record is one ValueError, whatever broke."""
        with pytest.raises(ValueError, match="unreadable spool line"):
            decode_record(line)


class TestAppendAndReplay:
    def test_replay_gives_every_record_in_order_then_deletes(self, spool: Spool) -> None:
        """Batches come back in the order they were spooled, in batches, and the files go."""
        records = [make_record() for _ in range(25)]
        for start in range(0, 25, 5):
            assert 5 == spool.append(records[start : start + 5])
        stored: list[list[Record]] = []
        result = spool.replay(store_into(stored), batch_size=10)
        assert ReplayResult(replayed=25) == result
        assert [record.id for record in records] == flatten(stored)
        assert [10, 10, 5] == [len(batch) for batch in stored]
        assert [] == segments(spool.directory)
        assert not spool.has_segments()

    def test_segments_rotate_and_replay_oldest_first(self, tmp_path: Path) -> None:
        """Past segment_max_bytes a new segment starts; names sort in creation order."""
        spool = Spool(tmp_path / "spool", segment_max_bytes=4096)
        records = [make_record() for _ in range(20)]
        for record in records:
            spool.append([record])
        assert len(segments(spool.directory)) > 3
        stored: list[list[Record]] = []
        spool.replay(store_into(stored), batch_size=500)
        assert [record.id for record in records] == flatten(stored)

    def test_files_and_directory_are_owner_only(self, spool: Spool) -> None:
        """Spooled prompts are private: directory 0700, segments 0600."""
        spool.append([make_record()])
        assert 0o700 == stat.S_IMODE(spool.directory.stat().st_mode)
        (segment,) = segments(spool.directory)
        assert 0o600 == stat.S_IMODE(segment.stat().st_mode)

    def test_failed_store_keeps_the_segment_for_next_time(self, spool: Spool) -> None:
        """A store that fails stops the replay; the segment stays and replays whole later."""
        records = [make_record() for _ in range(6)]
        spool.append(records)
        calls: list[int] = []

        def failing_second_batch(batch: list[Record]) -> None:
            calls.append(len(batch))
            if len(calls) == 2:
                msg = "database went away"
                raise ConnectionError(msg)

        result = spool.replay(failing_second_batch, batch_size=3)
        assert 3 == result.replayed
        assert isinstance(result.error, ConnectionError)
        assert 1 == len(segments(spool.directory))
        stored: list[list[Record]] = []
        assert ReplayResult(replayed=6) == spool.replay(store_into(stored), batch_size=3)
        assert [record.id for record in records] == flatten(stored)

    def test_appending_after_replay_starts_a_new_segment(self, spool: Spool) -> None:
        """The segment being written is closed by replay, so new records go to a fresh one."""
        spool.append([make_record()])
        spool.replay(store_into([]), batch_size=10)
        later = make_record()
        spool.append([later])
        stored: list[list[Record]] = []
        spool.replay(store_into(stored), batch_size=10)
        assert [later.id] == flatten(stored)


class TestTornAndCorruptLines:
    def test_torn_last_line_is_skipped_and_counted(self, spool: Spool) -> None:
        """A process killed mid-write leaves half a line: it is counted, the rest replays."""
        records = [make_record() for _ in range(3)]
        spool.append(records)
        spool.close()
        (segment,) = segments(spool.directory)
        with segment.open("ab") as file:
            file.write(encode_record(make_record())[:40])
        stored: list[list[Record]] = []
        result = spool.replay(store_into(stored), batch_size=10)
        assert ReplayResult(replayed=3, skipped_lines=1) == result
        assert [record.id for record in records] == flatten(stored)
        assert [] == segments(spool.directory)

    def test_corrupt_line_in_the_middle_does_not_block(self, spool: Spool) -> None:
        """A garbled line is skipped and counted; the lines around it are replayed."""
        first, second = make_record(), make_record()
        spool.append([first])
        spool.close()
        (segment,) = segments(spool.directory)
        with segment.open("ab") as file:
            file.write(b"\x00garbage\n" + encode_record(second))
        stored: list[list[Record]] = []
        result = spool.replay(store_into(stored), batch_size=10)
        assert ReplayResult(replayed=2, skipped_lines=1) == result
        assert [first.id, second.id] == flatten(stored)


class TestSizeBound:
    def test_records_past_max_bytes_are_not_written(self, tmp_path: Path) -> None:
        """Only what fits is written; append says how many, the caller counts the rest."""
        line_size = len(encode_record(make_record()))
        spool = Spool(tmp_path / "spool", max_bytes=line_size * 3 + line_size // 2)
        assert 3 == spool.append([make_record() for _ in range(5)])
        assert 0 == spool.append([make_record()])
        assert spool.size() <= spool.max_bytes
        stored: list[list[Record]] = []
        spool.replay(store_into(stored), batch_size=10)
        assert 3 == len(flatten(stored))
        assert 1 == spool.append([make_record()])  # room again after replay
        spool.close()


class TestDiskFull:
    def test_enospc_raises_and_leaves_no_partial_line(
        self, spool: Spool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write that fails half way is taken back; the spool keeps working afterwards."""
        before = make_record()
        spool.append([before])
        real_write = os.write

        def half_then_enospc(descriptor: int, data: Any) -> int:
            monkeypatch.setattr(os, "write", fail_enospc)
            return real_write(descriptor, bytes(data)[: len(data) // 2])

        def fail_enospc(_descriptor: int, _data: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", half_then_enospc)
        with pytest.raises(OSError, match="No space left"):
            spool.append([make_record()])
        monkeypatch.setattr(os, "write", real_write)
        after = make_record()
        assert 1 == spool.append([after])
        stored: list[list[Record]] = []
        result = spool.replay(store_into(stored), batch_size=10)
        assert ReplayResult(replayed=2) == result
        assert [before.id, after.id] == flatten(stored)


class TestSharedDirectory:
    def test_a_locked_segment_is_left_to_its_owner(self, tmp_path: Path) -> None:
        """A segment another process is writing (locked) is skipped and kept."""
        writer = Spool(tmp_path / "spool")
        replayer = Spool(tmp_path / "spool")
        writer.append([make_record()])  # the writer holds the lock on its open segment
        result = replayer.replay(store_into([]), batch_size=10)
        assert ReplayResult(busy_segments=1) == result
        assert 1 == len(segments(writer.directory))
        writer.close()
        stored: list[list[Record]] = []
        assert 1 == replayer.replay(store_into(stored), batch_size=10).replayed

    def test_segments_of_a_dead_process_are_replayed(self, tmp_path: Path) -> None:
        """A segment with no lock holder (its process died) is replayed by anyone."""
        directory = tmp_path / "spool"
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which dies without closing
            Spool(directory).append([make_record(request_id="from_the_dead")])
            os._exit(0)
        os.waitpid(pid, 0)
        stored: list[list[Record]] = []
        result = Spool(directory).replay(store_into(stored), batch_size=10)
        assert 1 == result.replayed
        assert ["from_the_dead"] == [record.request_id for record in stored[0]]

    def test_segment_name_has_pid_and_sequence(self, spool: Spool) -> None:
        """Each process writes its own files: time, pid and sequence in the name."""
        spool.append([make_record()])
        (segment,) = segments(spool.directory)
        _time, pid, sequence = segment.stem.split("-")
        assert (str(os.getpid()), "000001") == (pid, sequence)

    def test_lock_is_exclusive_while_writing(self, spool: Spool) -> None:
        """The writer's flock is what keeps replayers away from an open segment."""
        spool.append([make_record()])
        (segment,) = segments(spool.directory)
        descriptor = os.open(segment, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(descriptor)


class TestSpoolDirectory:
    def test_one_directory_per_database_whatever_the_password(self, tmp_path: Path) -> None:
        """The same database (password aside) gets the same directory, another one another."""
        root = tmp_path / "root"
        first = spool_directory("postgresql+psycopg://u:one@db/traces", root)
        assert first == spool_directory("postgresql+psycopg://u:two@db/traces", root)
        assert first != spool_directory("postgresql+psycopg://u:one@db/other", root)
        assert root == first.parent
        assert "one" not in first.name

    def test_sqlite_paths_are_made_absolute(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A relative SQLite path names the same file as its absolute spelling."""
        monkeypatch.chdir(tmp_path)
        relative = spool_directory("sqlite:///traces.db", tmp_path)
        assert relative == spool_directory(f"sqlite:///{tmp_path / 'traces.db'}", tmp_path)

    def test_environment_variable_then_user_cache(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """$OAITRACE_SPOOL_DIR is the root when set; otherwise the per-user cache."""
        monkeypatch.setenv("OAITRACE_SPOOL_DIR", "/srv/spool")
        assert Path("/srv/spool") == spool_directory("sqlite:////a.db").parent
        monkeypatch.delenv("OAITRACE_SPOOL_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", "/home/u/.cache")
        expected = Path("/home/u/.cache/oaitrace/spool")
        assert expected == spool_directory("sqlite:////a.db").parent


class TestReplayIntoTheDatabase:
    def test_replay_stores_exactly_and_twice_is_harmless(
        self, spool: Spool, tmp_path: Path
    ) -> None:
        """Spooled records land in SQLite as they were; replaying a copy again adds nothing."""
        records = [make_record(request_id=f"req_{index}") for index in range(10)]
        spool.append(records)
        spool.close()
        (segment,) = segments(spool.directory)
        copy = segment.read_bytes()
        database = f"sqlite:///{tmp_path / 't.db'}"
        with Store(database) as store:
            assert 10 == spool.replay(store.insert, batch_size=4).replayed
            # A crash between commit and delete: the same segment comes back.
            segment.write_bytes(copy)
            assert 10 == spool.replay(store.insert, batch_size=4).replayed
        with Query(database) as query:
            stored = query.requests(limit=100)
        expected = sorted(record.request_id or "" for record in records)
        assert expected == sorted(record.request_id or "" for record in stored)
