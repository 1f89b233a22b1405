"""Running one worker script in one environment's interpreter and reading its result line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["WORKERS_DIR", "WorkerError", "run_worker"]

WORKERS_DIR = Path(__file__).resolve().parent.parent / "workers"
_RESULT_MARKER = "@@oaitrace-bench-result "


class WorkerError(RuntimeError):
    """A worker exited badly or printed no result; the message carries its last words."""


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines[-count:])


def run_worker(
    python: Path,
    script: str,
    arguments: list[str],
    *,
    timeout_s: float = 900.0,
    extra_env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
) -> dict[str, Any]:
    """Run `workers/<script>` with `python` and return the JSON result it printed."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    # Workers must not pick up the runner's own virtual environment or path.
    env.pop("PYTHONPATH", None)
    command = [*(prefix or []), str(python), str(WORKERS_DIR / script), *arguments]
    try:
        completed = subprocess.run(  # noqa: S603 - fixed interpreter and script
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            cwd=WORKERS_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        msg = f"{script} timed out after {timeout_s:.0f} s"
        raise WorkerError(msg) from exc
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(_RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(_RESULT_MARKER) :])
            return result
    detail = _last_lines(completed.stderr) or _last_lines(completed.stdout) or "no output"
    msg = f"{script} exited {completed.returncode}: {detail}"
    raise WorkerError(msg)
