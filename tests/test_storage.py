"""Tests for oaitrace.storage: database URLs, SQLite settings and the batched Store."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy
from hypothesis import given, settings

from oaitrace.exceptions import ConfigurationError, DatabaseError, MissingDependencyError
from oaitrace.query import Query
from oaitrace.storage import (
    BodyRow,
    RequestRow,
    Store,
    current_revision,
    record_to_rows,
    resolve_database_url,
    upgrade,
)
from oaitrace.storage._engine import create_engine, encode_json
from oaitrace.storage._store import _MultiRowInsert
from tests.factories import make_record
from tests.strategies import JSON_VALUES


def count_rows(database: Path) -> tuple[int, int]:
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            requests = connection.execute(sqlalchemy.text("SELECT count(*) FROM requests"))
            bodies = connection.execute(sqlalchemy.text("SELECT count(*) FROM bodies"))
            return requests.scalar_one(), bodies.scalar_one()
    finally:
        engine.dispose()


def raw_rows(database: Path) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(database)
    try:
        requests = connection.execute("SELECT * FROM requests").fetchall()
        bodies = connection.execute("SELECT * FROM bodies").fetchall()
        return requests + bodies
    finally:
        connection.close()


def pragma(database: Path, name: str) -> object:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
    finally:
        engine.dispose()


class TestResolveDatabaseUrl:
    def test_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without an argument or environment variable the URL is sqlite:///oaitrace.db."""
        monkeypatch.delenv("OAITRACE_DATABASE_URL", raising=False)

        expected = "sqlite:///oaitrace.db"

        assert expected == resolve_database_url(None)

    def test_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without an argument the URL comes from $OAITRACE_DATABASE_URL."""
        monkeypatch.setenv("OAITRACE_DATABASE_URL", "sqlite:////var/tmp/env.db")

        expected = "sqlite:////var/tmp/env.db"

        assert expected == resolve_database_url(None)

    def test_argument_wins_over_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An explicit URL is used even when the environment variable is set."""
        monkeypatch.setenv("OAITRACE_DATABASE_URL", "sqlite:////var/tmp/env.db")

        expected = "sqlite:///given.db"

        assert expected == resolve_database_url("sqlite:///given.db")

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("traces.db", "sqlite:///traces.db"),
            ("/tmp/x.db", "sqlite:////tmp/x.db"),
            ("data/traces.db", "sqlite:///data/traces.db"),
        ],
    )
    def test_plain_path_means_sqlite(self, given: str, expected: str) -> None:
        """A filesystem path, as the CLI's --database passes it, becomes a SQLite URL."""
        assert expected == resolve_database_url(given)

    def test_home_directory_is_expanded(self) -> None:
        """A path starting with ~ is taken relative to the home directory."""
        expected = "sqlite:///" + os.path.expanduser("~/traces.db")

        assert expected == resolve_database_url("~/traces.db")

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("postgresql://u:p@db/traces", "postgresql+psycopg://u:p@db/traces"),
            ("postgres://u:p@db:5433/traces", "postgresql+psycopg://u:p@db:5433/traces"),
            ("postgresql+psycopg://u@db/traces", "postgresql+psycopg://u@db/traces"),
        ],
    )
    def test_postgresql_uses_psycopg(self, given: str, expected: str) -> None:
        """PostgreSQL URLs are pointed at the psycopg 3 driver."""
        assert expected == resolve_database_url(given)

    @pytest.mark.parametrize(
        "given",
        [
            "",
            "   ",
            "mysql://u@db/traces",
            "postgresql+psycopg2://u@db/traces",
            "sqlite://user@host/x.db",
            "not a url://",
        ],
    )
    def test_bad_url(self, given: str) -> None:
        """A URL oaitrace cannot use raises ConfigurationError saying what to write."""
        with pytest.raises(ConfigurationError, match=r"sqlite:///|postgresql://"):
            resolve_database_url(given)

    def test_postgresql_without_psycopg(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A PostgreSQL URL without psycopg installed says what to install."""
        monkeypatch.setitem(sys.modules, "psycopg", None)

        with pytest.raises(MissingDependencyError) as raised:
            resolve_database_url("postgresql://u@db/traces")

        expected = "PostgreSQL needs psycopg 3: pip install 'oaitrace[postgres]'"
        assert expected == str(raised.value)


class TestSqliteFile:
    def test_created_owner_only(self, tmp_path: Path) -> None:
        """A new database file is readable and writable by its owner only."""
        path = tmp_path / "traces.db"
        Store(str(path)).close()

        expected = 0o600

        assert expected == stat.S_IMODE(path.stat().st_mode)

    def test_settings(self, tmp_path: Path) -> None:
        """Connections use WAL, a busy timeout, synchronous=NORMAL and foreign keys."""
        path = tmp_path / "traces.db"
        expected = ("wal", 30000, 1, 1)

        actual = (
            pragma(path, "journal_mode"),
            pragma(path, "busy_timeout"),
            pragma(path, "synchronous"),
            pragma(path, "foreign_keys"),
        )

        assert expected == actual

    def test_missing_directory(self, tmp_path: Path) -> None:
        """A database in a directory that does not exist fails with a clear message."""
        path = tmp_path / "missing" / "traces.db"

        with pytest.raises(DatabaseError, match="does not exist; create it first"):
            Store(str(path))

    def test_existing_file_mode_is_kept(self, tmp_path: Path) -> None:
        """An existing database file keeps the permissions its owner gave it."""
        path = tmp_path / "traces.db"
        path.touch(mode=0o640)
        path.chmod(0o640)
        Store(str(path)).close()

        expected = 0o640

        assert expected == stat.S_IMODE(path.stat().st_mode)


class TestRecordToRows:
    def test_rows_fill_every_column(self) -> None:
        """The two rows of a Record have a value for every column of both tables."""
        expected = (set(RequestRow.__table__.columns.keys()), set(BodyRow.__table__.columns.keys()))

        request_row, body_row = record_to_rows(make_record())

        assert expected == (set(request_row), set(body_row))

    def test_json_values_are_plain(self) -> None:
        """Tuples and mappings become lists and dicts, as the database returns them."""
        record = make_record(finish_reasons=("stop", "length"))
        expected = (["stop", "length"], {"user": "u-42", "feature": "search"})

        request_row, _ = record_to_rows(record)

        assert expected == (request_row["finish_reasons"], request_row["tags"])


class TestEncodeJson:
    @settings(max_examples=300, deadline=None)
    @given(JSON_VALUES)
    def test_reads_back_as_the_standard_library_reads_its_own(self, value: object) -> None:
        """Whatever encoder writes it, the text reads back as the value itself."""
        assert json.loads(json.dumps(value)) == json.loads(encode_json(value))

    def test_compact_and_unescaped(self) -> None:
        """No spaces, non-ASCII kept as UTF-8 text: what the `json` encoder wrote before."""
        value = {"text": "café ☕", "list": [1, 2.5, None, True]}
        expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))

        assert expected == encode_json(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"n": 2**70}, '{"n":1180591620717411303424}'),
            ({"s": "\ud800"}, '{"s":"\ud800"}'),
            ({1: "a"}, '{"1":"a"}'),
        ],
    )
    def test_what_orjson_refuses_is_written_by_json(self, value: object, expected: str) -> None:
        """Integers past 64 bits, lone surrogates and non-string keys are kept exactly."""
        assert expected == encode_json(value)

    def test_nan_is_null(self) -> None:
        """NaN and infinity, which are not JSON, are written as null."""
        assert '{"a":null,"b":null}' == encode_json({"a": float("nan"), "b": float("inf")})

    def test_a_huge_integer_in_extra_is_stored_exactly(self, tmp_path: Path) -> None:
        """A body field past 64 bits goes through storage unchanged."""
        path = tmp_path / "traces.db"
        record = make_record(extra={"object_usage": {"bytes": 2**70}})
        with Store(str(path)) as store:
            store.insert([record])
        with Query(str(path)) as query:
            detail = query.detail(record.id)

        assert {"object_usage": {"bytes": 2**70}} == (detail.extra if detail else None)


class TestStore:
    def test_insert_creates_schema(self, tmp_path: Path) -> None:
        """The first insert into a new file migrates it and stores the batch."""
        path = tmp_path / "traces.db"
        with Store(str(path)) as store:
            store.insert([make_record(), make_record()])

        expected = (2, 2)

        assert expected == count_rows(path)

    def test_reinsert_is_idempotent(self, tmp_path: Path) -> None:
        """Storing the same records again neither fails nor duplicates them."""
        path = tmp_path / "traces.db"
        first, second, third = make_record(), make_record(), make_record()
        with Store(str(path)) as store:
            store.insert([first, second])
            store.insert([first, second])
            store.insert([second, third, third])

        expected = (3, 3)

        assert expected == count_rows(path)

    def test_reinsert_keeps_the_first_version(self, tmp_path: Path) -> None:
        """A record stored again under the same id does not overwrite the stored one."""
        path = tmp_path / "traces.db"
        record = make_record(status_code=200)
        with Store(str(path)) as store:
            store.insert([record])
            store.insert([make_record(id=record.id, status_code=500)])
        with Query(str(path)) as query:
            stored = query.get(record.id)

        expected = 200

        assert expected == (stored.status_code if stored else None)

    def test_sqlite_inserts_a_batch_in_a_few_statements_per_table(self, tmp_path: Path) -> None:
        """A batch is a few INSERTs per table (chunks of powers of two), not one per
        row: sqlite3 gives the GIL up per statement it steps, and each time the
        writer may wait 5 ms for it."""
        path = tmp_path / "traces.db"
        records = [make_record() for _ in range(300)]
        statements: list[str] = []
        with Store(str(path)) as store:
            store.ensure_schema()
            with store._engine.connect() as connection:
                dbapi = connection.connection.dbapi_connection
                assert dbapi is not None
                dbapi.set_trace_callback(statements.append)
            store.insert(records)
        inserts = Counter(sql.split(" (", 1)[0] for sql in statements if sql.startswith("INSERT"))

        # 300 rows = 256 + 32 + 8 + 4; two tags a record: 600 = 512 + 64 + 16 + 8;
        # one version bump for the records' one hour.
        assert (
            {
                "INSERT INTO requests": 4,
                "INSERT INTO bodies": 4,
                "INSERT INTO request_tags": 4,
                "INSERT INTO request_hours": 1,
            },
            (300, 300),
        ) == (dict(inserts), count_rows(path))

    def test_few_distinct_statements_whatever_the_batch_sizes(self, tmp_path: Path) -> None:
        """Batches of every size from 1 to 40 build at most one statement per power of
        two (and the largest size): the statement cache stays small."""
        path = tmp_path / "traces.db"
        with Store(str(path)) as store:
            for size in range(1, 41):
                store.insert([make_record() for _ in range(size)])
            built = store._insert_requests._multi_row
            assert built is not None
            sizes = sorted(built._statements)

        assert ([1, 2, 4, 8, 16, 32], 820) == (sizes, count_rows(path)[0])

    def test_statements_stay_under_the_parameter_limit(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A batch larger than one statement may bind is split, and all of it is stored."""
        monkeypatch.setattr(_MultiRowInsert, "_MAX_PARAMETERS", 200)
        path = tmp_path / "traces.db"
        records = [make_record() for _ in range(50)]
        with Store(str(path)) as store:
            store.insert(records)
        with Query(str(path)) as query:
            stored = {record.id for record in query.requests(limit=100)}

        assert ((50, 50), {record.id for record in records}) == (count_rows(path), stored)

    def test_empty_batch(self, tmp_path: Path) -> None:
        """An empty batch does nothing, not even create the tables."""
        path = tmp_path / "traces.db"
        with Store(str(path)) as store:
            store.insert([])

        assert current_revision(str(path)) is None

    def test_failed_batch_stores_nothing(self, tmp_path: Path) -> None:
        """A batch the database rejects raises DatabaseError and none of it is stored."""
        path = tmp_path / "traces.db"
        with Store(str(path)) as store:
            store.ensure_schema()
            with pytest.raises(DatabaseError, match="cannot store 2 records"):
                store.insert([make_record(), make_record(method=None)])

        expected = (0, 0)

        assert expected == count_rows(path)

    def test_stores_what_sqlalchemy_core_stores(self, tmp_path: Path) -> None:
        """The prepared insert writes exactly the raw values a plain Core insert writes."""
        record = make_record(finish_reasons=None, cost_usd=Decimal("0.1234567891"), ttft_ms=None)
        request_row, body_row = record_to_rows(record)
        core_path = tmp_path / "core.db"
        upgrade(str(core_path))
        engine = create_engine(f"sqlite:///{core_path}")
        with engine.begin() as connection:
            connection.execute(sqlalchemy.insert(RequestRow), [request_row])
            connection.execute(sqlalchemy.insert(BodyRow), [body_row])
        engine.dispose()
        store_path = tmp_path / "store.db"
        with Store(str(store_path)) as store:
            store.insert([record])

        expected = raw_rows(core_path)

        assert expected == raw_rows(store_path)

    def test_url_hides_password(self) -> None:
        """The Store's url is safe to log: the password is masked."""
        store = Store("postgresql://user:secret@localhost/traces")

        expected = "postgresql+psycopg://user:***@localhost/traces"

        assert expected == store.url

    def test_many_batches(self, tmp_path: Path) -> None:
        """Several thousand records over many batches are all stored."""
        path = tmp_path / "traces.db"
        records = [make_record() for _ in range(3000)]
        with Store(str(path)) as store:
            for start in range(0, len(records), 500):
                store.insert(records[start : start + 500])

        expected = (3000, 3000)

        assert expected == count_rows(path)
