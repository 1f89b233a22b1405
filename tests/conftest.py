"""Shared fixtures: a throwaway PostgreSQL server when its binaries are installed.

`postgres_server` runs `initdb` and `pg_ctl` in a temporary directory,
listening only on a Unix socket there (no TCP port), as a non-root user
(PostgreSQL refuses to run as root: as root the server runs as `nobody`).
Tests that need PostgreSQL skip with the reason when it cannot start.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_COUNTER = itertools.count()


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    # The server listens on a Unix socket only, but the port names the socket file.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """A running throwaway server; `new_database()` gives a fresh empty database URL.

    `stop()` and `start()` take it down and bring it back (fault tests use
    the `restartable_postgres_server` fixture, a server of their own).
    """

    def __init__(
        self, socket_dir: Path, port: int, user: str, pg_ctl: list[str] | None = None
    ) -> None:
        self.socket_dir = socket_dir
        self.port = port
        self.user = user
        # `pg_ctl -D data`, run as the server's user, and the options it starts with.
        self._pg_ctl = pg_ctl or []

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: sessions are cut, the socket goes away."""
        self._control("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start the stopped server again, on the same socket and port."""
        self._control("-w", "start")

    def _control(self, *arguments: str) -> None:
        result = _run([*self._pg_ctl, *arguments], None)
        if result.returncode != 0:
            msg = f"pg_ctl {arguments[-1]} failed: {result.stderr.strip()[-300:]}"
            raise RuntimeError(msg)

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for one database of this server."""
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        import psycopg  # noqa: PLC0415 - only when PostgreSQL tests run

        name = f"oaitrace_test_{os.getpid()}_{next(_COUNTER)}"
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run(command: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test session; skips when it cannot be started."""
    with _postgres_server() as server:
        yield server


@pytest.fixture
def restartable_postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test only, which it may stop and start."""
    with _postgres_server() as server:
        yield server


@contextlib.contextmanager
def _postgres_server() -> Iterator[PostgresServer]:
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg: pip install 'oaitrace[postgres]'")
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install -y postgresql)")
    run_as = "nobody" if os.geteuid() == 0 else None
    if run_as is not None and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    base = Path(tempfile.mkdtemp(prefix="oaitrace-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if run_as is not None:
        shutil.chown(data, user=run_as)
        shutil.chown(base, user=run_as)
    user = run_as or "postgres"
    port = _free_port()
    started = False
    try:
        result = _run(
            [initdb, "-D", str(data), "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8"],
            run_as,
        )
        if result.returncode != 0:
            pytest.skip(f"initdb failed: {result.stderr.strip()[-300:]}")
        options = (
            f"-k {base} -p {port} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        control = [
            *(["runuser", "-u", run_as, "--"] if run_as else []),
            *[pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log")],
        ]
        result = _run([*control, "-w", "start"], None)
        if result.returncode != 0:
            pytest.skip(f"pg_ctl start failed: {result.stderr.strip()[-300:]}")
        started = True
        yield PostgresServer(base, port, user, control)
    finally:
        if started:
            _run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], run_as)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _session_spool_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Recorders of session- and module-scoped fixtures spool in a temporary directory too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OAITRACE_SPOOL_DIR", str(tmp_path_factory.mktemp("spool")))
        yield


@pytest.fixture(autouse=True)
def _private_spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test (and its subprocesses) spools under its own tmp_path, never in ~/.cache."""
    monkeypatch.setenv("OAITRACE_SPOOL_DIR", str(tmp_path / "spool"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a SQLite file, then a PostgreSQL database (when a server runs)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'traces.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory with no $OAITRACE_DATABASE_URL: the CLI's defaults apply."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OAITRACE_DATABASE_URL", raising=False)
    return tmp_path
