"""Every script in examples/ runs to success against the built-in OpenAI-compatible server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from oaitrace._demo_server import DemoServer
from oaitrace.query import Query
from tests.conftest import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
# postgres.py needs a PostgreSQL server: its own test below.
POSTGRES_EXAMPLE = ROOT / "examples" / "postgres.py"
EXAMPLES = sorted(path for path in (ROOT / "examples").glob("*.py") if path != POSTGRES_EXAMPLE)


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(chunk_delay_s=0.001) as server:
        yield server


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(script: Path, server: DemoServer, tmp_path: Path) -> None:
    """The example exits 0 and stores what it made into its own database."""
    database = tmp_path / "example.db"
    result = _run_example(script, server, tmp_path, f"sqlite:///{database}")
    assert 0 == result.returncode, result.stderr
    assert database.exists()


def test_postgres_example(
    postgres_server: PostgresServer, server: DemoServer, tmp_path: Path
) -> None:
    """examples/postgres.py records into the PostgreSQL database named by its argument."""
    database_url = postgres_server.new_database()
    result = _run_example(POSTGRES_EXAMPLE, server, tmp_path, None, database_url)
    assert 0 == result.returncode, result.stderr
    assert "gpt-4o-mini: 1 requests" in result.stdout
    with Query(database_url) as query:
        assert 2 == query.usage(by=None).total.requests


def _run_example(
    script: Path,
    server: DemoServer,
    cwd: Path,
    database_url: str | None,
    *arguments: str,
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-example-not-a-real-key",
        "OAITRACE_EXAMPLE_SERVER": server.base_url,
    }
    env.pop("OAITRACE_DATABASE_URL", None)
    if database_url is not None:
        env["OAITRACE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("sigint_ignored", [False, True])
def test_demo_server_command_serves_until_stopped(sigint_ignored: bool) -> None:
    """`oaitrace demo-server` prints its URL, answers the SDK, and stops on SIGINT.

    Also when started with SIGINT ignored, as a background job of a script
    (`oaitrace demo-server &`) is.
    """
    command = [sys.executable, "-m", "oaitrace", "demo-server", "--port", "0"]
    if sigint_ignored:
        # `trap "" INT` ignores it, and exec keeps an ignored signal ignored.
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.split(" at ")[1].split()[0]
        client = openai.OpenAI(base_url=base_url, api_key="sk-example-not-a-real-key")
        assert "gpt-4o-mini" in [model.id for model in client.models.list()]
    finally:
        process.send_signal(signal.SIGINT)
        assert 0 == process.wait(timeout=30)
