"""Added time to first chunk: real streams over loopback from a server in another process."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .procs import WORKERS_DIR, WorkerError, run_worker
from .stats import Spread, paired_deltas, spread

__all__ = ["FirstChunkResult", "measure_first_chunk"]

CONFIGS = ("bare", "oaitrace")


@dataclass
class FirstChunkResult:
    """Per configuration: median time to first chunk per round (µs), and stream length (ms)."""

    first_chunk_us: dict[str, list[float]]
    stream_ms: dict[str, list[float]]
    chunk_delay_s: float
    streams: int
    chunks_per_stream: int
    error: str | None = None

    def first_chunk(self, config: str) -> Spread:
        """Median time to first chunk over the rounds."""
        return spread(self.first_chunk_us[config])

    def added(self) -> Spread | None:
        """oaitrace minus bare, paired by round."""
        deltas = paired_deltas(self.first_chunk_us["oaitrace"], self.first_chunk_us["bare"])
        return spread(deltas) if deltas else None


def measure_first_chunk(
    python: Path,
    *,
    rounds: int,
    streams: int,
    chunk_delay_s: float,
    say: Callable[[str], None],
) -> FirstChunkResult:
    """Bare and oaitrace, alternating, against one demo server process."""
    result = FirstChunkResult(
        {c: [] for c in CONFIGS}, {c: [] for c in CONFIGS}, chunk_delay_s, streams, 0
    )
    server = subprocess.Popen(  # noqa: S603 - our interpreter, our script
        [str(python), str(WORKERS_DIR / "demo_server.py"), "--chunk-delay", str(chunk_delay_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=WORKERS_DIR,
    )
    try:
        assert server.stdout is not None  # noqa: S101 - Popen was given stdout=PIPE
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http"):
            result.error = "the demo server did not start"
            return result
        for round_index in range(1, rounds + 1):
            say(f"  round {round_index}/{rounds}")
            for config in CONFIGS:
                arguments = ["--config", config, "--base-url", base_url, "--streams", str(streams)]
                measured = run_worker(python, "first_chunk.py", arguments)
                result.first_chunk_us[config].append(measured["first_chunk_us"])
                result.stream_ms[config].append(measured["stream_ms"])
                result.chunks_per_stream = measured["chunks_per_stream"]
    except WorkerError as exc:
        result.error = str(exc)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    return result
