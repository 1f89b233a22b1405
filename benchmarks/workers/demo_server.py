"""oaitrace's demo server in a process of its own, so it never competes for the client's GIL.

Usage: python demo_server.py --chunk-delay SECONDS
Prints the base URL on one line, then serves until its standard input closes.
"""

from __future__ import annotations

import argparse
import sys

from oaitrace._demo_server import DemoServer


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk-delay", type=float, default=0.005)
    args = parser.parse_args(argv)
    # Rate limits are reported, never enforced; high ones keep headers realistic.
    with DemoServer(
        chunk_delay_s=args.chunk_delay, limit_requests=1_000_000, limit_tokens=1_000_000_000
    ) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1:])
