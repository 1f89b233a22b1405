"""A PostgreSQL server for the writer benchmark: the one given, or a throwaway local cluster."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["postgres_url"]

_SERVER_USER = "postgres"


def _find(program: str) -> str | None:
    found = shutil.which(program)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{program}"), reverse=True):
        return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(_SERVER_USER)
    except KeyError:
        msg = "running as root and there is no 'postgres' user to run a server as"
        raise RuntimeError(msg) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        msg = "running as root and runuser is missing"
        raise RuntimeError(msg)
    return [runuser, "-u", _SERVER_USER, "--"]


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if completed.returncode != 0:
        lines = (completed.stderr or completed.stdout).strip().splitlines()
        msg = f"{Path(command[0 if len(command) < 5 else 4]).name} failed: {lines[-1:]}"
        raise RuntimeError(msg)


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[str]:
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    if initdb is None or pg_ctl is None:
        msg = "no server given (--postgres-url) and no initdb/pg_ctl to start one"
        raise RuntimeError(msg)
    prefix = _as_server_user()
    directory = Path(tempfile.mkdtemp(prefix="oaitrace-bench-pg-"))
    if prefix:
        record = pwd.getpwnam(_SERVER_USER)
        os.chown(directory, record.pw_uid, record.pw_gid)
    data, port = directory / "data", _free_port()
    try:
        _run([*prefix, initdb, "-A", "trust", "-U", "postgres", "-D", str(data)])
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {directory} -c fsync=on"
        _run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(directory / "log"),
                "-w",
                "start",
            ]
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"])
    finally:
        # Give the server a moment to release its files before they go.
        time.sleep(0.2)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_url(given: str | None) -> Iterator[str]:
    """Yields a server URL; raises RuntimeError with the reason when there is none."""
    if given:
        yield given
        return
    with _throwaway_cluster() as url:
        yield url
