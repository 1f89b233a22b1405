"""Tests for the Alembic migrations: from an empty database to the models, safely and once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from oaitrace.exceptions import DatabaseError
from oaitrace.query import Query
from oaitrace.storage import Store, current_revision, head_revision, upgrade
from oaitrace.storage._engine import create_engine
from oaitrace.storage._migrate import migrations_directory
from oaitrace.storage._models import Base
from tests.factories import make_record

REPOSITORY = Path(__file__).resolve().parent.parent


def schema_differences(database: Path) -> list[object]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
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
