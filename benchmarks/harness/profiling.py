"""Where oaitrace's time goes: py-spy samples of the overhead worker, by thread and function.

Run when a budget is missed. py-spy samples every thread (the request path
on the main thread, parsing and storage on the writer thread) without
instrumenting the code, so small functions are not inflated the way a
deterministic profiler inflates them. It attaches after the worker's warm-up
(imports and schema creation stay out) and samples only the thread holding
the GIL (`--gil`), so the figures are time spent running Python, per thread.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .procs import WORKERS_DIR, WorkerError

__all__ = ["Profile", "profile_oaitrace"]

_RATE_HZ = 1000
_WARMUP = 100
_READY_MARKER = "@@oaitrace-bench-ready"
_ATTACH_WAIT_S = 1.0


@dataclass
class ThreadProfile:
    """Samples of one thread: in total, inclusive per function, and per own (leaf) function."""

    samples: int = 0
    inclusive: Counter[str] = field(default_factory=Counter)
    leaf: Counter[str] = field(default_factory=Counter)


@dataclass
class Profile:
    """One scenario's profile, with what is needed to turn samples into µs per call."""

    scenario: str
    calls: int
    threads: dict[str, ThreadProfile]

    def us_per_call(self, samples: int) -> float:
        """Approximate µs per call that `samples` samples stand for."""
        return samples / _RATE_HZ * 1e6 / self.calls


def _is_oaitrace(frame: str) -> bool:
    return "oaitrace/" in frame and "benchmarks/" not in frame


def _function(frame: str) -> str:
    # "Capture.on_chunk (oaitrace/_transport.py:123)" -> "Capture.on_chunk (oaitrace/_transport.py)"
    name, _, location = frame.partition(" (")
    path = location.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def parse_raw(text: str) -> dict[str, ThreadProfile]:
    """py-spy's `--format raw` output (collapsed stacks) grouped by thread name."""
    threads: dict[str, ThreadProfile] = {}
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # "thread (0x7f…): MainThread;frame;frame…"
        head, _, rest = stack.partition(";")
        name = head.split(": ", 1)[-1]
        frames = [_function(frame) for frame in rest.split(";") if frame]
        if not frames:
            continue
        thread = threads.setdefault(name, ThreadProfile())
        thread.samples += count
        for function in set(frames):
            thread.inclusive[function] += count
        thread.leaf[frames[-1]] += count
    return threads


def _record(pyspy: Path, pid: int, output: Path) -> subprocess.Popen[bytes]:
    command = [
        str(pyspy),
        "record",
        "--pid",
        str(pid),
        "--rate",
        str(_RATE_HZ),
        "--format",
        "raw",
        "--threads",
        "--gil",
        "--nonblocking",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603


def profile_oaitrace(
    python: Path, pyspy: Path, *, scenario: str, calls: int, lib: str = "httpx2"
) -> Profile:
    """Run the full oaitrace configuration of one scenario, py-spy attached after the warm-up."""
    arguments = [
        "--config",
        "oaitrace",
        "--lib",
        lib,
        "--scenarios",
        scenario,
        f"--{scenario}-calls",
        str(calls),
        "--warmup",
        str(_WARMUP),
        "--wait-for-profiler",
    ]
    worker = subprocess.Popen(  # noqa: S603 - our interpreter and script
        [str(python), str(WORKERS_DIR / "overhead.py"), *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=WORKERS_DIR,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert worker.stdin is not None  # noqa: S101 - Popen was given PIPEs
    assert worker.stdout is not None  # noqa: S101
    with tempfile.TemporaryDirectory(prefix="oaitrace-bench-profile-") as directory:
        output = Path(directory) / "profile.txt"
        if worker.stdout.readline().strip() != _READY_MARKER:
            worker.kill()
            msg = f"the profiled worker did not start: {worker.communicate()[1][-300:]}"
            raise WorkerError(msg)
        recorder = _record(pyspy, worker.pid, output)
        time.sleep(_ATTACH_WAIT_S)
        worker.stdin.write("go\n")
        worker.stdin.flush()
        _, errors = worker.communicate()
        _, spy_errors = recorder.communicate(timeout=60)
        if worker.returncode != 0 or not output.exists():
            msg = f"profiling failed: {errors[-300:]} {spy_errors.decode(errors='replace')[-300:]}"
            raise WorkerError(msg)
        threads = parse_raw(output.read_text(encoding="utf-8"))
    return Profile(scenario=scenario, calls=calls, threads=threads)


def oaitrace_functions(thread: ThreadProfile, limit: int) -> list[tuple[str, int]]:
    """The heaviest functions of this thread that belong to oaitrace (inclusive samples)."""
    return [
        (function, samples)
        for function, samples in thread.inclusive.most_common()
        if _is_oaitrace(function)
    ][:limit]


def heaviest(counter: Counter[str], limit: int) -> list[tuple[str, int]]:
    """The `limit` largest entries."""
    return counter.most_common(limit)
