"""Benchmark oaitrace against the bare openai SDK and its peers, in one run.

Usage: python benchmarks/run.py [--write] [--full | --quick]   (see benchmarks/README.md)
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a script from a fresh checkout: the harness sits beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
