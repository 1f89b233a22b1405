"""Virtual environments for oaitrace and each peer, created with pip and cached.

Peers pin conflicting versions (openlit wants openai < 3 and an older
OpenTelemetry), so each measured configuration runs in the environment made
for it. An environment is reused while its specification (requirements, and
for oaitrace the project's pyproject.toml) is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ENVIRONMENTS", "EnvSpec", "Environment", "prepare_environments"]

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCHMARKS_DIR.parent
VENVS_DIR = BENCHMARKS_DIR / ".venvs"
_SPEC_FILE = ".benchmark-spec.json"
_PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class EnvSpec:
    """What to install into one environment."""

    name: str
    requirements: tuple[str, ...]
    # Constraints that steer pip's resolver to a consistent set quickly.
    constraints: tuple[str, ...] = ()
    # Install this repository (editable, with its PostgreSQL extra) too.
    with_oaitrace: bool = False

    def fingerprint(self) -> str:
        """Changes whenever the environment must be rebuilt."""
        parts = [sys.version, *self.requirements, "--", *self.constraints]
        if self.with_oaitrace:
            parts.append((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@dataclass
class Environment:
    """A prepared environment, or why it could not be prepared."""

    spec: EnvSpec
    python: Path | None = None
    error: str | None = None
    created: bool = False
    versions: dict[str, str] = field(default_factory=dict)


_SDK = ("openai", "httpx", "opentelemetry-sdk")
# openlit 1.45 needs OpenTelemetry 1.39 (it imports ConsoleLogRecordExporter)
# and cannot take 1.45 (ResolutionImpossible); left alone, its 13 contrib
# instrumentations send pip's resolver into minutes of backtracking; one
# consistent release of the contrib family resolves in seconds.
_OPENLIT_OTEL = (
    "opentelemetry-api==1.39.1",
    "opentelemetry-sdk==1.39.1",
    "opentelemetry-exporter-otlp==1.39.1",
    "opentelemetry-semantic-conventions==0.60b1",
    "opentelemetry-instrumentation==0.60b1",
    *(
        f"opentelemetry-instrumentation-{name}==0.60b1"
        for name in (
            "aiohttp-client",
            "asgi",
            "django",
            "falcon",
            "fastapi",
            "flask",
            "httpx",
            "pyramid",
            "requests",
            "starlette",
            "tornado",
            "urllib",
            "urllib3",
        )
    ),
)

ENVIRONMENTS: dict[str, EnvSpec] = {
    spec.name: spec
    for spec in (
        EnvSpec("oaitrace", (*_SDK, "py-spy"), with_oaitrace=True),
        EnvSpec(
            "otel-openai-v2",
            (*_SDK, "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai==1.1b0"),
        ),
        EnvSpec("otel-genai-openai", (*_SDK, "opentelemetry-instrumentation-genai-openai")),
        EnvSpec("traceloop", (*_SDK, "opentelemetry-instrumentation-openai")),
        EnvSpec("langfuse", (*_SDK, "langfuse")),
        EnvSpec("openlit", ("openlit", "openai<3", "httpx"), constraints=_OPENLIT_OTEL),
    )
}


def _python_in(directory: Path) -> Path:
    return directory / "bin" / "python"


def _is_current(directory: Path, spec: EnvSpec) -> bool:
    marker = directory / _SPEC_FILE
    if not marker.exists() or not _python_in(directory).exists():
        return False
    try:
        saved = json.loads(marker.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return bool(saved.get("fingerprint") == spec.fingerprint())


def _pip_install(python: Path, spec: EnvSpec, directory: Path) -> None:
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if spec.constraints:
        constraints = directory / "constraints.txt"
        constraints.write_text("\n".join(spec.constraints) + "\n", encoding="utf-8")
        command += ["--constraint", str(constraints)]
    command += list(spec.requirements)
    if spec.with_oaitrace:
        command += ["--editable", f"{REPO_ROOT}[postgres]"]
    completed = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
    )
    if completed.returncode != 0:
        lines = [
            line
            for line in completed.stderr.splitlines()
            if line.strip() and "is ignored: it is neither a file nor a directory" not in line
        ]
        msg = "pip install failed: " + " / ".join(lines[-4:])
        raise RuntimeError(msg)


def _prepare(spec: EnvSpec, say: Callable[[str], None]) -> Environment:
    directory = VENVS_DIR / spec.name
    environment = Environment(spec=spec)
    try:
        if not _is_current(directory, spec):
            say(f"  creating environment {spec.name} (pip install, cached afterwards)")
            shutil.rmtree(directory, ignore_errors=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(directory)
            _pip_install(_python_in(directory), spec, directory)
            marker = {"fingerprint": spec.fingerprint(), "requirements": spec.requirements}
            (directory / _SPEC_FILE).write_text(json.dumps(marker), encoding="utf-8")
            environment.created = True
        environment.python = _python_in(directory)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        environment.error = str(exc)
    return environment


def prepare_environments(names: list[str], say: Callable[[str], None]) -> dict[str, Environment]:
    """Create or reuse each named environment, a few at a time (pip is mostly waiting)."""
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    workers = min(3, os.cpu_count() or 1, len(names)) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        prepared = pool.map(lambda name: _prepare(ENVIRONMENTS[name], say), names)
        return dict(zip(names, prepared, strict=True))
