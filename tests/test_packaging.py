"""The built wheel: it ships the migrations, and `oaitrace db upgrade` works from it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import oaitrace
from oaitrace.storage import head_revision

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built into a wheel with the build backend from pyproject.toml."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("oaitrace-*.whl")
    return built


class TestWheel:
    def test_wheel_ships_migrations_and_type_marker(self, wheel: Path) -> None:
        """The Alembic environment and every revision are inside the package, with py.typed."""
        names = set(zipfile.ZipFile(wheel).namelist())
        revisions = {path.name for path in (ROOT / "migrations" / "versions").glob("*.py")}
        expected = {"oaitrace/_migrations/env.py", "oaitrace/py.typed"} | {
            f"oaitrace/_migrations/versions/{name}" for name in revisions
        }
        assert expected <= names

    def test_db_upgrade_runs_from_the_installed_layout(self, wheel: Path, tmp_path: Path) -> None:
        """Unpacked away from the source tree, the package migrates a new database to head."""
        site = tmp_path / "site"
        zipfile.ZipFile(wheel).extractall(site)
        database = tmp_path / "fresh.db"
        script = (
            "import oaitrace, oaitrace.storage as s, sys;"
            f"assert oaitrace.__file__.startswith({str(site)!r}), oaitrace.__file__;"
            f"s.upgrade({str(database)!r}); print(s.current_revision({str(database)!r}))"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        assert head_revision() == result.stdout.strip()
        assert oaitrace.__version__ in wheel.name
