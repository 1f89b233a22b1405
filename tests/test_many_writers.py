"""Many processes, each with threads and an asyncio loop, recording into one database.

Three processes start together on a fresh database (so they also race to
migrate it) and record through the real transports; every request carries a
unique tag. Afterwards each tag is stored exactly once, nothing was dropped
or lost, and no `database is locked` reached any process's logs or stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from oaitrace.query import Query

REPOSITORY = Path(__file__).resolve().parent.parent
PROCESSES = 3
THREADS = 3
# Requests per thread and per asyncio loop.
PER_TASK = 60
EXPECTED_TOTAL = PROCESSES * (THREADS + 1) * PER_TASK
TIME_LIMIT_S = 30.0


def run_writers(database_url: str) -> tuple[list[dict[str, object]], list[str], float]:
    """Start the writer processes together; their counters, their stderr, the wall time."""
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.many_writers_worker",
                database_url,
                f"p{number}",
                str(THREADS),
                str(PER_TASK),
            ],
            cwd=REPOSITORY,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in range(PROCESSES)
    ]
    outputs = [process.communicate(timeout=TIME_LIMIT_S * 2) for process in processes]
    elapsed = time.monotonic() - started
    codes = [process.returncode for process in processes]
    assert [0] * PROCESSES == codes, [stderr[-2000:] for _, stderr in outputs]
    counters = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    return counters, [stderr for _, stderr in outputs], elapsed


def stored_tags(database_url: str) -> Counter[str]:
    with Query(database_url) as query:
        records = query.requests(limit=EXPECTED_TOTAL * 2)
    return Counter(record.tags.get("seq", "") for record in records)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_every_record_arrives_exactly_once(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """3 processes x (3 threads + 1 asyncio loop) x 60 requests: each stored once, no locks."""
    if database == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        database_url = request.getfixturevalue("postgres_server").new_database()

    counters, stderrs, elapsed = run_writers(database_url)
    tags = stored_tags(database_url)

    expected_tags = {
        f"p{p}-{task}-{i}"
        for p in range(PROCESSES)
        for task in [*(f"t{t}" for t in range(THREADS)), "async"]
        for i in range(PER_TASK)
    }
    duplicates = {tag: count for tag, count in tags.items() if count != 1}
    everything_said = "\n".join(stderrs) + json.dumps(counters)
    expected = {
        "stored_tags": expected_tags,
        "duplicates": {},
        "stored_by_writers": EXPECTED_TOTAL,
        "dropped_lost_internal_parse": [0, 0, 0, 0],
        "all_flushed": True,
        "database_is_locked": False,
        "warnings": [],
        "in_time": True,
    }
    actual = {
        "stored_tags": set(tags),
        "duplicates": duplicates,
        "stored_by_writers": sum(int(str(c["stored"])) for c in counters),
        "dropped_lost_internal_parse": [
            sum(int(str(c[key])) for c in counters)
            for key in ("dropped", "lost", "internal_errors", "parse_errors")
        ],
        "all_flushed": all(c["stored_all"] for c in counters),
        "database_is_locked": "database is locked" in everything_said,
        "warnings": [
            entry
            for c in counters
            for entry in c["logs"]  # type: ignore[attr-defined]
            if entry["log_level"] != "debug"
        ],
        "in_time": elapsed < TIME_LIMIT_S,
    }
    assert expected == actual, f"took {elapsed:.1f}s"
