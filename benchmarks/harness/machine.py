"""A description of the machine the numbers were taken on."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Machine", "describe_machine", "load_average"]


@dataclass(frozen=True)
class Machine:
    """What a reader needs to compare these numbers with their own."""

    cpu: str
    cores: int
    memory_gib: float
    python: str
    system: str


def _cpu_model() -> str:
    try:
        for line in (
            Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines()
        ):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def load_average() -> str:
    """The 1/5/15-minute load averages, to show how busy the machine was."""
    try:
        return " / ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe_machine() -> Machine:
    """CPU model, cores, memory, the Python the environments were made with, the OS."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gib=_memory_gib(),
        python=f"{platform.python_implementation()} {sys.version.split()[0]}",
        system=f"{platform.system()} {platform.release()} ({platform.machine()})",
    )
