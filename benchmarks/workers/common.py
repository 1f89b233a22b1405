"""What every worker shares: the result line, package versions, resident memory.

Workers run inside the virtual environment of the configuration they measure
(oaitrace's, or a peer's), so they import only the standard library and what
that environment has. They print exactly one result line that the runner reads.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from typing import Any

__all__ = ["RESULT_MARKER", "current_rss_bytes", "emit_result", "package_versions"]

RESULT_MARKER = "@@oaitrace-bench-result "

_PACKAGES = (
    "openai",
    "httpx",
    "httpx2",
    "pydantic",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation-openai-v2",
    "opentelemetry-instrumentation-genai-openai",
    "opentelemetry-util-genai",
    "opentelemetry-instrumentation-openai",
    "langfuse",
    "openlit",
    "oaitrace",
    "sqlalchemy",
    "genai-prices",
)


def package_versions() -> dict[str, str]:
    """Versions of the packages that matter to the measurement, where installed."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def current_rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def emit_result(result: dict[str, Any]) -> None:
    """Print the one line the runner parses, after anything libraries printed."""
    sys.stdout.flush()
    print(RESULT_MARKER + json.dumps(result), flush=True)
