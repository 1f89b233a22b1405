"""Memory: RSS over many recorded requests, and one very large streamed body."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .procs import WorkerError, run_worker

__all__ = ["MemoryResult", "measure_memory"]


@dataclass
class MemoryResult:
    """The soak's samples and the big body's figures per configuration."""

    soak: dict[str, Any] = field(default_factory=dict)
    big_body: dict[str, dict[str, Any]] = field(default_factory=dict)
    megabytes: int = 100
    errors: dict[str, str] = field(default_factory=dict)

    def soak_growth_mb(self) -> tuple[float, float, float] | None:
        """RSS at the first sample, at the last, and the largest seen (MiB)."""
        samples = self.soak.get("rss_mb") or []
        if not samples:
            return None
        values = [value for _, value in samples]
        return values[0], values[-1], max(values)


def measure_memory(
    python: Path, *, requests: int, megabytes: int, say: Callable[[str], None]
) -> MemoryResult:
    """The soak in one process, then the big body bare and through oaitrace."""
    result = MemoryResult(megabytes=megabytes)
    say(f"  {requests:,} requests through the full stack")
    try:
        result.soak = run_worker(
            python,
            "memory.py",
            ["soak", "--requests", str(requests), "--samples", "20"],
            timeout_s=3600,
        )
    except WorkerError as exc:
        result.errors["soak"] = str(exc)
    say(f"  a {megabytes} MB streamed body")
    for config in ("bare", "oaitrace"):
        arguments = ["big-body", "--config", config, "--megabytes", str(megabytes)]
        try:
            result.big_body[config] = run_worker(python, "memory.py", arguments)
        except WorkerError as exc:
            result.errors[f"big-body {config}"] = str(exc)
    return result
