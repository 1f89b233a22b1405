"""`python benchmarks/run.py`: every benchmark of oaitrace and its peers, in one invocation."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from .budgets import check_budgets
from .envs import BENCHMARKS_DIR, ENVIRONMENTS, REPO_ROOT, Environment, prepare_environments
from .first_chunk import measure_first_chunk
from .machine import describe_machine, load_average
from .memory import measure_memory
from .overhead import configurations, measure_overhead
from .procs import WorkerError
from .profiling import profile_oaitrace
from .readme import update_readme
from .report import Run, headline_table, render_results
from .reports_hook import run_reports_benchmark
from .writer import measure_writer

__all__ = ["main"]

SECTIONS = ("overhead", "first-chunk", "writer", "memory", "reports")
PEERS = tuple(name for name in ENVIRONMENTS if name != "oaitrace")


@dataclass(frozen=True)
class Sizes:
    """How much each section measures; the defaults keep a run under about 15 minutes."""

    rounds: int = 4
    chat_calls: int = 1000
    stream_calls: int = 400
    first_chunk_rounds: int = 4
    first_chunk_streams: int = 40
    writer_rounds: int = 2
    writer_records: int = 10_000
    soak_requests: int = 200_000
    big_body_mb: int = 100
    profile_calls: int = 3000
    report_records: int = 200_000


QUICK = Sizes(2, 300, 100, 2, 15, 1, 2_000, 20_000, 100, 1500, 10_000)
FULL = Sizes(7, 3000, 1000, 6, 60, 3, 20_000, 1_000_000, 100, 6000, 1_000_000)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Benchmark oaitrace against the bare openai SDK and its peers, in one run.",
        epilog="Example: python benchmarks/run.py --write",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--full",
        action="store_true",
        help="the long version: 1,000,000-request soak, more rounds and calls",
    )
    size.add_argument("--quick", action="store_true", help="a fast smoke run (numbers are rough)")
    parser.add_argument(
        "--write",
        action="store_true",
        help="write benchmarks/RESULTS.md and README's Performance section",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=PEERS,
        metavar="PEER",
        help=f"peers to measure (default all: {', '.join(PEERS)}); none: --peers",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds of the overhead section")
    parser.add_argument("--chat-calls", type=int, help="chat calls per process and round")
    parser.add_argument("--stream-calls", type=int, help="streams per process and round")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("OAITRACE_BENCH_POSTGRES_URL"),
        help="PostgreSQL for the writer section (default "
        "$OAITRACE_BENCH_POSTGRES_URL, else a throwaway local cluster)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--no-profile", action="store_true", help="do not profile oaitrace when a budget is missed"
    )
    return parser


def _sizes(args: argparse.Namespace) -> Sizes:
    base = FULL if args.full else QUICK if args.quick else Sizes()
    return Sizes(
        rounds=args.rounds or base.rounds,
        chat_calls=args.chat_calls or base.chat_calls,
        stream_calls=args.stream_calls or base.stream_calls,
        first_chunk_rounds=base.first_chunk_rounds,
        first_chunk_streams=base.first_chunk_streams,
        writer_rounds=base.writer_rounds,
        writer_records=base.writer_records,
        soak_requests=base.soak_requests,
        big_body_mb=base.big_body_mb,
        profile_calls=base.profile_calls,
        report_records=base.report_records,
    )


def say(message: str) -> None:
    """Progress on standard error, so standard output stays the results."""
    print(message, file=sys.stderr, flush=True)


def _profile(run: Run, environment: Environment, sizes: Sizes) -> None:
    missed = [v for v in run.verdicts if v.met is False and "µs" in v.allowed]
    if not missed:
        return
    assert environment.python is not None  # noqa: S101 - only called for a prepared environment
    pyspy = environment.python.parent / "py-spy"
    if not pyspy.exists():
        run.profile_note = "Not profiled: py-spy is not installed in oaitrace's environment."
        return
    say("profiling oaitrace (py-spy) because a budget was missed")
    for scenario in ("chat", "stream"):
        calls = sizes.profile_calls if scenario == "chat" else sizes.profile_calls // 3
        try:
            run.profiles.append(
                profile_oaitrace(environment.python, pyspy, scenario=scenario, calls=calls)
            )
        except WorkerError as exc:
            run.profile_note = f"Profiling failed: {exc}"


def _run_sections(run: Run, args: argparse.Namespace, sizes: Sizes) -> None:
    sections = set(args.only or SECTIONS)
    main_env = run.environments["oaitrace"]
    if main_env.python is None:
        say(f"oaitrace's environment could not be made: {main_env.error}")
        return
    python = main_env.python
    if "overhead" in sections:
        ready = [name for name, env in run.environments.items() if env.python is not None]
        say(
            f"per-call overhead: {len(configurations(ready))} configurations, "
            f"{sizes.rounds} interleaved rounds"
        )
        pythons = {name: env.python for name, env in run.environments.items() if env.python}
        run.overhead = measure_overhead(
            configurations(ready),
            pythons,
            rounds=sizes.rounds,
            chat_calls=sizes.chat_calls,
            stream_calls=sizes.stream_calls,
            say=say,
        )
    if "first-chunk" in sections:
        say("time to first chunk over loopback")
        run.first_chunk = measure_first_chunk(
            python,
            rounds=sizes.first_chunk_rounds,
            streams=sizes.first_chunk_streams,
            chunk_delay_s=0.005,
            say=say,
        )
    if "writer" in sections:
        say("writer throughput")
        run.writer = measure_writer(
            python,
            rounds=sizes.writer_rounds,
            records=sizes.writer_records,
            postgres=args.postgres_url,
            use_postgres=not args.no_postgres,
            say=say,
        )
    if "memory" in sections:
        say("memory")
        run.memory = measure_memory(
            python, requests=sizes.soak_requests, megabytes=sizes.big_body_mb, say=say
        )
    if "reports" in sections:
        say(f"reports over {sizes.report_records:,} records (benchmarks/generate.py)")
        run.reports_section = run_reports_benchmark(python, records=sizes.report_records)
    run.verdicts = check_budgets(run.overhead, run.first_chunk, run.writer, run.memory)
    if not args.no_profile:
        _profile(run, main_env, sizes)


def main(argv: list[str] | None = None) -> int:
    """Prepare the environments, run the sections, print (and with --write, keep) the results."""
    args = _parser().parse_args(argv)
    sizes = _sizes(args)
    started = time.monotonic()
    peers = list(PEERS) if args.peers is None else args.peers
    if args.only and "overhead" not in args.only:
        peers = []
    say(
        f"environments: oaitrace{', ' if peers else ''}{', '.join(peers)} "
        f"(under {BENCHMARKS_DIR.name}/.venvs, created with pip on first use)"
    )
    environments = prepare_environments(["oaitrace", *peers], say)
    for name, environment in environments.items():
        if environment.error:
            say(f"  {name}: not available: {environment.error}")
    run = Run(
        command="python benchmarks/run.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        started=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        duration_s=0.0,
        machine=describe_machine(),
        load_before=load_average(),
        load_after="",
        environments=environments,
    )
    _run_sections(run, args, sizes)
    run.load_after = load_average()
    run.duration_s = time.monotonic() - started
    results = render_results(run)
    print(results)
    if args.write:
        (BENCHMARKS_DIR / "RESULTS.md").write_text(results, encoding="utf-8")
        update_readme(REPO_ROOT / "README.md", _readme_body(run))
        say("wrote benchmarks/RESULTS.md and README.md's Performance section")
    return 0


def _readme_body(run: Run) -> str:
    machine = run.machine
    missed = [v.budget for v in run.verdicts if v.met is False]
    verdict = (
        f"All {len(run.verdicts)} budgets of DESIGN.md that were measured are met."
        if not missed
        else f"{len(missed)} of {len(run.verdicts)} budgets of DESIGN.md measured are missed: "
        + "; ".join(missed)
        + "."
    )
    return "\n".join(
        [
            "Microseconds per call that each tool adds to the real openai SDK (in-process mock "
            "transport, OpenAI's headers and bodies; the bare SDK of the same environment is the "
            "floor; oaitrace with SQLite, spans and cost on, its writer's work included). "
            f"Measured {run.started} on {machine.cores} cores of a {machine.cpu}, "
            f"{machine.python}, medians of interleaved rounds; (CPU): the same in process CPU "
            "time, steadier when other work shares the machine.",
            "",
            headline_table(run),
            "",
            f"{verdict} Time to first chunk, writer throughput, memory, the machine, every "
            "version and the noise: [benchmarks/RESULTS.md](benchmarks/RESULTS.md). "
            "Reproduce with `python benchmarks/run.py` (see benchmarks/README.md).",
        ]
    )
