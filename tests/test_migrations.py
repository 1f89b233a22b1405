"""Tests for the Alembic migrations: from an empty database to the models, safely and once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from oaitrace.exceptions import DatabaseError
from oaitrace.query import Query
from oaitrace.storage import Store, current_revision, head_revision, upgrade
from oaitrace.storage._engine import create_engine, resolve_database_url
from oaitrace.storage._migrate import migrations_directory
from oaitrace.storage._models import Base
from tests.conftest import PostgresServer
from tests.factories import make_record

REPOSITORY = Path(__file__).resolve().parent.parent


def schema_differences(database: Path) -> list[object]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (ix_requests_model_report);
            # `index_names` checks those by name instead.
            warnings.filterwarnings("ignore", message=".*expression-based index")
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def index_names(database: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                )
            )
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def set_revision(database: Path, revision: str) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text("UPDATE alembic_version SET version_num = :revision"),
                {"revision": revision},
            )
    finally:
        engine.dispose()


class TestMigrationsDirectory:
    def test_source_checkout(self) -> None:
        """From a source checkout the scripts are the repository's migrations/ directory."""
        expected = REPOSITORY / "migrations"

        actual = migrations_directory()

        assert expected == actual


class TestUpgrade:
    def test_empty_database_matches_models(self, tmp_path: Path) -> None:
        """Upgrading an empty database produces exactly the schema the models describe."""
        database = tmp_path / "traces.db"
        upgrade(str(database))

        expected: list[object] = []

        assert expected == schema_differences(database)

    def test_indexes_match_models(self, tmp_path: Path) -> None:
        """Every index of the models exists after an upgrade, expression indexes included."""
        database = tmp_path / "traces.db"
        upgrade(str(database))

        expected = {
            str(index.name) for table in Base.metadata.tables.values() for index in table.indexes
        }

        assert expected == index_names(database)

    def test_revision_after_upgrade_is_head(self, tmp_path: Path) -> None:
        """After an upgrade the database is at the newest revision."""
        database = tmp_path / "traces.db"
        upgrade(str(database))

        expected = head_revision()

        assert expected == current_revision(str(database))

    def test_upgrade_twice_is_a_no_op(self, tmp_path: Path) -> None:
        """A second upgrade changes nothing and keeps the stored data."""
        database = tmp_path / "traces.db"
        record = make_record()
        upgrade(str(database))
        with Store(str(database)) as store:
            store.insert([record])
        upgrade(str(database))

        expected: tuple[str | None, list[object], str | None] = (head_revision(), [], record.id)

        with Store(str(database)) as store:
            store.ensure_schema()
        with Query(str(database)) as query:
            stored = query.get(record.id)
        actual = (
            current_revision(str(database)),
            schema_differences(database),
            stored.id if stored else None,
        )
        assert expected == actual

    def test_current_revision_of_missing_database(self, tmp_path: Path) -> None:
        """A database that does not exist has no revision and is not created by asking."""
        database = tmp_path / "traces.db"

        expected = (None, False)

        assert expected == (current_revision(str(database)), database.exists())

    def test_database_from_a_newer_oaitrace(self, tmp_path: Path) -> None:
        """A database at a revision this oaitrace does not know is not touched."""
        database = tmp_path / "traces.db"
        upgrade(str(database))
        set_revision(database, "9999")

        with pytest.raises(DatabaseError, match="newer oaitrace"):
            Store(str(database)).ensure_schema()

    def test_unknown_target_revision(self, tmp_path: Path) -> None:
        """Asking for a revision that does not exist raises DatabaseError."""
        with pytest.raises(DatabaseError, match="cannot migrate"):
            upgrade(str(tmp_path / "traces.db"), revision="nonexistent")

    def test_concurrent_first_use(self, tmp_path: Path) -> None:
        """Processes that start together on a new database all succeed, and migrate it once."""
        database = tmp_path / "traces.db"
        start_at = time.time() + 1.0
        script = (
            "import sys, time\n"
            "from oaitrace.storage import Store\n"
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
            "store = Store(sys.argv[1])\n"
            "store.ensure_schema()\n"
            "store.close()\n"
        )
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(database), str(start_at)],
                cwd=REPOSITORY,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        failures = [
            process.communicate(timeout=60)[1] for process in processes if process.wait(60) != 0
        ]

        expected: tuple[list[str], str | None, list[object]] = ([], head_revision(), [])

        actual = (failures, current_revision(str(database)), schema_differences(database))
        assert expected == actual

    def test_new_file_held_by_another_writer(self, tmp_path: Path) -> None:
        """A new file another connection writes to (rollback journal still) is waited for.

        SQLite refuses the switch to WAL at once there, busy timeout or not;
        the race `test_concurrent_first_use` runs into now and then.
        """
        database = tmp_path / "traces.db"
        holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        holder.execute("CREATE TABLE other (x)")
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("INSERT INTO other VALUES (1)")
        release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
        release.start()
        try:
            with Store(str(database)) as store:
                store.ensure_schema()
        finally:
            release.join()
            holder.execute("DROP TABLE other")  # not oaitrace's: out of the comparison
            holder.close()

        assert (current_revision(str(database)), schema_differences(database)) == (
            head_revision(),
            [],
        )


class TestCostsRevision:
    def insert_at_0001(self, database: Path) -> str:
        """One request and its body, written the way oaitrace 0.1 (revision 0001) wrote them."""
        upgrade(str(database), revision="0001")
        record = make_record()
        engine = sqlalchemy.create_engine(f"sqlite:///{database}")
        try:
            with engine.begin() as connection:
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO requests (id, started_at, method, url, host, path, endpoint,"
                        " operation, stream, status_code, complete, request_model, request_id,"
                        " duration_ms, cost_usd, tags, usage_details, response_bytes,"
                        " response_truncated, input_tokens)"
                        " VALUES (:id, '2025-01-15 12:30:45.123456', 'POST', 'u', 'api.openai.com',"
                        " '/v1/chat/completions', '/v1/chat/completions', 'chat', 0, 200, 1,"
                        " 'gpt-4o-mini', 'req_old', 431.25, 0.000006, '{}', '{}', 640, 0, 12)"
                    ),
                    {"id": record.id},
                )
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO bodies (request_pk, request_headers, response_headers,"
                        " request_body, response_body, extra)"
                        " VALUES (:id, '{}', '{}', 'hello', 'world', '{}')"
                    ),
                    {"id": record.id},
                )
        finally:
            engine.dispose()
        return record.id

    def test_upgrade_from_0001_keeps_data(self, tmp_path: Path) -> None:
        """Upgrading a 0001 database with data to 0002 keeps every row and makes the cost exact."""
        database = tmp_path / "traces.db"
        record_id = self.insert_at_0001(database)

        upgrade(str(database))

        with Query(str(database)) as query:
            detail = query.detail(record_id)
        assert detail is not None
        expected: tuple[object, ...] = (
            "req_old",
            12,
            Decimal("0.000006000000"),
            "hello",
            "world",
            None,
            [],
        )
        actual = (
            detail.record.request_id,
            detail.record.input_tokens,
            detail.record.cost_usd,
            detail.request_body,
            detail.response_body,
            detail.record.cost_reason,
            schema_differences(database),
        )
        assert expected == actual

    def test_cost_round_trips_exactly(self, tmp_path: Path) -> None:
        """A cost with twelve decimal places comes back from SQLite exactly, not as a float."""
        database = tmp_path / "traces.db"
        record = make_record(cost_usd=Decimal("1234.000000000001"))
        with Store(str(database)) as store:
            store.insert([record])

        with Query(str(database)) as query:
            stored = query.get(record.id)

        expected = Decimal("1234.000000000001")

        assert expected == (stored.cost_usd if stored else None)


class TestPostgreSQL:
    def test_empty_database_matches_models(self, postgres_server: PostgresServer) -> None:
        """On PostgreSQL too, upgrading an empty database gives exactly the models' schema."""
        url = postgres_server.new_database()
        upgrade(url)
        engine = create_engine(resolve_database_url(url))
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                differences = list(compare_metadata(context, Base.metadata))
        finally:
            engine.dispose()

        expected: list[object] = []

        assert expected == differences


class TestWithoutAlembic:
    def test_head_is_alembics_head(self) -> None:
        """The head read from the scripts' text is the one Alembic computes."""
        from alembic.config import Config  # noqa: PLC0415
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        config = Config()
        config.set_main_option("script_location", str(migrations_directory()))

        assert ScriptDirectory.from_config(config).get_current_head() == head_revision()

    def test_revision_is_alembics_reading(self, tmp_path: Path) -> None:
        """The revision read with one SELECT is what Alembic reads, before and after."""
        database = tmp_path / "traces.db"
        engine = create_engine(resolve_database_url(str(database)))
        readings = []
        for revision in (None, "0002"):
            if revision is not None:
                upgrade(str(database), revision)
            with engine.connect() as connection:
                readings.append(
                    (
                        MigrationContext.configure(connection).get_current_revision(),
                        current_revision(str(database)),
                    )
                )
        engine.dispose()

        assert [(None, None), ("0002", "0002")] == readings

    def test_a_current_database_is_written_without_importing_alembic(self, tmp_path: Path) -> None:
        """Alembic (some 40,000 objects every full GC walks) is loaded only to migrate."""
        database = tmp_path / "traces.db"
        upgrade(str(database))
        script = (
            "import sys\n"
            "from oaitrace.storage import Store\n"
            "from tests.factories import make_record\n"
            f"with Store({str(database)!r}) as store:\n"
            "    store.insert([make_record()])\n"
            "print('alembic' in sys.modules)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

        assert "False" == result.stdout.strip()
