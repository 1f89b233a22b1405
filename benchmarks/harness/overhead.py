"""Per-call overhead: every configuration in its own process, interleaved over rounds.

Round after round the same sequence runs (bare, oaitrace, ..., each peer),
so drift of a shared machine hits every configuration alike; each
configuration's delta is taken against the bare SDK of the same environment
and HTTP client in the same round, then the median of those deltas is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .procs import WorkerError, run_worker
from .stats import Spread, paired_deltas, spread

__all__ = [
    "SCENARIOS",
    "Configuration",
    "OverheadResult",
    "configurations",
    "measure_overhead",
]

SCENARIOS = ("chat", "stream")


@dataclass(frozen=True)
class Configuration:
    """One measured configuration: a worker setup, in an environment, over an HTTP client."""

    setup: str
    environment: str
    lib: str
    label: str

    @property
    def key(self) -> str:
        """Unique name, e.g. `oaitrace/httpx2`."""
        return f"{self.setup}/{self.lib}"

    @property
    def floor_key(self) -> str:
        """The bare configuration this one is compared with."""
        return f"bare@{self.environment}/{self.lib}"

    @property
    def is_floor(self) -> bool:
        """True for the bare SDK itself."""
        return self.setup == "bare"


# (setup, environment, label); peers get a bare floor in their own environment.
_MEASURED = (
    ("oaitrace", "oaitrace", "oaitrace (SQLite, spans, cost; flush timed)"),
    ("oaitrace-request-path", "oaitrace", "oaitrace request path only (no writer)"),
    ("otel-openai-v2", "otel-openai-v2", "opentelemetry-instrumentation-openai-v2"),
    ("otel-genai-openai", "otel-genai-openai", "opentelemetry-instrumentation-genai-openai"),
    ("traceloop", "traceloop", "traceloop opentelemetry-instrumentation-openai"),
    ("langfuse", "langfuse", "langfuse.openai"),
    ("openlit", "openlit", "openlit"),
)
# openai < 3 (openlit's pin) has no httpx2 support.
_LIBS = {"openlit": ("httpx",)}


def configurations(environments: list[str]) -> list[Configuration]:
    """Every configuration whose environment is in `environments`, floors first per environment."""
    result: list[Configuration] = []
    for environment in environments:
        for lib in _LIBS.get(environment, ("httpx2", "httpx")):
            result.append(
                Configuration("bare", environment, lib, f"bare openai SDK ({environment})")
            )
            result += [
                Configuration(setup, environment, lib, label)
                for setup, env_name, label in _MEASURED
                if env_name == environment
            ]
    return result


def _result_key(configuration: Configuration) -> str:
    if configuration.is_floor:
        return configuration.floor_key
    return configuration.key


@dataclass
class Measured:
    """Every round's figures for one configuration."""

    configuration: Configuration
    wall_us: dict[str, list[float | None]] = field(default_factory=dict)
    cpu_us: dict[str, list[float | None]] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def add(self, result: dict[str, Any] | None) -> None:
        """One round; None when the worker failed in this round."""
        for scenario in SCENARIOS:
            wall = None if result is None else result["per_call_us"][scenario]
            cpu = None if result is None else result["cpu_per_call_us"][scenario]
            self.wall_us.setdefault(scenario, []).append(wall)
            self.cpu_us.setdefault(scenario, []).append(cpu)
        if result is not None:
            self.last = result

    def wall(self, scenario: str) -> Spread | None:
        """Median and range of µs per call over the rounds that succeeded."""
        values = [value for value in self.wall_us.get(scenario, []) if value is not None]
        return spread(values) if values else None


@dataclass
class OverheadResult:
    """What the per-call overhead section found."""

    measured: dict[str, Measured]
    rounds: int
    calls: dict[str, int]

    def floor_of(self, configuration: Configuration) -> Measured | None:
        """The bare SDK measured beside `configuration`."""
        return self.measured.get(configuration.floor_key)

    def delta(
        self, configuration: Configuration, scenario: str, *, cpu: bool = False
    ) -> Spread | None:
        """µs per call added over the bare SDK, paired by round."""
        this, floor = self.measured.get(_result_key(configuration)), self.floor_of(configuration)
        if this is None or floor is None or configuration.is_floor:
            return None
        values = this.cpu_us if cpu else this.wall_us
        floors = floor.cpu_us if cpu else floor.wall_us
        deltas = paired_deltas(values.get(scenario, []), floors.get(scenario, []))
        return spread(deltas) if deltas else None


def measure_overhead(
    configs: list[Configuration],
    pythons: dict[str, Path],
    *,
    rounds: int,
    chat_calls: int,
    stream_calls: int,
    say: Callable[[str], None],
) -> OverheadResult:
    """Run every configuration once per round, in the same order each round."""
    measured = {_result_key(config): Measured(config) for config in configs}
    for round_index in range(1, rounds + 1):
        say(f"  round {round_index}/{rounds}")
        for config in configs:
            entry = measured[_result_key(config)]
            if entry.error is not None and not entry.last:
                continue  # failed in its first round: not retried, reported with the reason
            arguments = ["--config", config.setup, "--lib", config.lib]
            arguments += ["--chat-calls", str(chat_calls), "--stream-calls", str(stream_calls)]
            try:
                result = run_worker(pythons[config.environment], "overhead.py", arguments)
            except WorkerError as exc:
                entry.error = str(exc)
                entry.add(None)
                say(f"    {config.key} [{config.environment}] failed: {exc}")
                continue
            entry.add(result)
    return OverheadResult(measured, rounds, {"chat": chat_calls, "stream": stream_calls})
