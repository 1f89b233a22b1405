"""Fill a database with N realistic records, fast, to measure the reports on.

Many models and days, streams, errors (429, 5xx, 400, network failures),
SDK retries after failures, tags, rate-limit headers and costs priced by
oaitrace.pricing. Records go straight to the storage layer in large
batches, not through the transport.

Usage:
    python benchmarks/generate.py /tmp/1m.db                # 1,000,000 records
    python benchmarks/generate.py /tmp/1k.db -n 1000 --days 7
"""

from __future__ import annotations

import argparse
import datetime
import random
import sys
import time
from pathlib import Path
from typing import Any

from oaitrace._exchange import Record
from oaitrace._ids import new_record_id
from oaitrace.pricing import Pricer
from oaitrace.storage import Store

# (model, endpoint, operation, weight, input tokens range, output tokens range)
Model = tuple[str, str, str, int, tuple[int, int], tuple[int, int]]
MODELS: tuple[Model, ...] = (
    ("gpt-4o-mini", "/v1/chat/completions", "chat", 35, (50, 4000), (5, 800)),
    ("gpt-4o", "/v1/chat/completions", "chat", 12, (100, 8000), (10, 1200)),
    ("gpt-4.1-mini", "/v1/responses", "chat", 10, (100, 6000), (10, 900)),
    ("gpt-5-mini", "/v1/responses", "chat", 8, (200, 12000), (50, 3000)),
    ("o4-mini", "/v1/chat/completions", "chat", 5, (200, 6000), (100, 4000)),
    ("text-embedding-3-small", "/v1/embeddings", "embeddings", 20, (5, 2000), (0, 0)),
    (
        "gpt-4o-mini-transcribe",
        "/v1/audio/transcriptions",
        "audio.transcription",
        3,
        (100, 900),
        (10, 300),
    ),
    ("llama-3.1-70b-instruct", "/v1/chat/completions", "chat", 5, (50, 3000), (5, 600)),
    ("gpt-4o-mini", "/v1/files", "files.list", 2, (0, 0), (0, 0)),
)
WEIGHTS = [entry[3] for entry in MODELS]
USERS = [f"u-{index}" for index in range(200)]
FEATURES = ("search", "chat", "summarize", "classify")
PROJECTS = ("proj_web", "proj_batch", "proj_internal")
KEYS = ("sk-...a1b2", "sk-...c3d4", "sk-...e5f6")


def _record(
    rng: random.Random,
    started_at: datetime.datetime,
    entry: Model | None = None,
    **overrides: Any,
) -> Record:
    entry = entry or rng.choices(MODELS, WEIGHTS)[0]
    model, endpoint, operation, _, input_range, output_range = entry
    local = model.startswith("llama")
    stream = operation == "chat" and rng.random() < 0.3
    roll = rng.random()
    status: int | None = 200
    if roll < 0.03:
        status = 429
    elif roll < 0.04:
        status = 500
    elif roll < 0.05:
        status = 400
    elif roll < 0.055:
        status = None
    ok = status is not None and status < 400
    billed = operation not in ("files.list",)
    input_tokens = rng.randint(*input_range) if ok and billed else None
    output_tokens = rng.randint(*output_range) if ok and billed else None
    if operation == "embeddings" and output_tokens is not None:
        output_tokens = None
    cached = rng.choice((0, 0, 0, (input_tokens or 0) // 2)) if input_tokens is not None else None
    reasoning = (
        (output_tokens or 0) // 2
        if output_tokens is not None and model.startswith(("o4", "gpt-5"))
        else 0
    )
    processing = rng.lognormvariate(6.0, 0.7) if status is not None else None
    duration = (
        (processing or 0.0) + rng.lognormvariate(3.5, 0.6) + (30000.0 if status is None else 0.0)
    )
    limit_requests, limit_tokens = (10_000, 2_000_000) if "mini" in model else (5_000, 800_000)
    remaining_requests = rng.randint(0 if status == 429 else 100, limit_requests)
    remaining_tokens = rng.randint(0 if status == 429 else 1000, limit_tokens)
    error_code = {429: "rate_limit_exceeded", 500: "server_error", 400: "invalid_request"}.get(
        status or 0
    )
    fields: dict[str, Any] = {
        "id": new_record_id(int(started_at.timestamp() * 1e9)),
        "started_at": started_at,
        "method": "GET" if operation == "files.list" else "POST",
        "url": ("http://localhost:8000" if local else "https://api.openai.com") + endpoint,
        "host": "localhost:8000" if local else "api.openai.com",
        "path": endpoint,
        "endpoint": endpoint,
        "operation": operation,
        "stream": stream,
        "status_code": status,
        "complete": status is not None,
        "request_model": None if operation == "files.list" else model,
        "response_model": (model if local else f"{model}-2025-01-01") if ok and billed else None,
        "response_id": f"chatcmpl-{rng.getrandbits(48):x}" if ok else None,
        "request_id": None if status is None else f"req_{rng.getrandbits(128):032x}",
        "processing_ms": processing,
        "openai_version": None if local else "2020-10-01",
        "organization": None if local else "org-bench",
        "project": None if local else rng.choice(PROJECTS),
        "ratelimit_limit_requests": None if local or status is None else limit_requests,
        "ratelimit_remaining_requests": None if local or status is None else remaining_requests,
        "ratelimit_reset_requests_s": None if local or status is None else rng.random() * 10,
        "ratelimit_limit_tokens": None if local or status is None else limit_tokens,
        "ratelimit_remaining_tokens": None if local or status is None else remaining_tokens,
        "ratelimit_reset_tokens_s": None if local or status is None else rng.random() * 60,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": None if input_tokens is None else input_tokens + (output_tokens or 0),
        "cached_input_tokens": cached if operation == "chat" else None,
        "reasoning_tokens": reasoning if operation == "chat" and ok else None,
        "duration_ms": duration,
        "ttfb_ms": None if status is None else duration * 0.2,
        "ttft_ms": duration * 0.3 if stream and ok else None,
        "finish_reasons": ("stop",) if ok and operation == "chat" else None,
        "error_type": "ReadTimeout" if status is None else ("api_error" if error_code else None),
        "error_code": error_code,
        "error_message": f"{error_code} for {model}" if error_code else None,
        "retry_attempt": 0,
        "cost_usd": None,
        "tags": {"user": rng.choice(USERS), "feature": rng.choice(FEATURES)},
        "usage_details": {},
        "retry_after_s": rng.choice((0.5, 1.0, 2.0, 20.0)) if status == 429 else None,
        "api_key_fingerprint": rng.choice(KEYS),
        "response_content_type": "text/event-stream" if stream else "application/json",
        "request_bytes": rng.randint(100, 20_000),
        "response_bytes": rng.randint(200, 20_000),
        "parse_error": None,
        "request_headers": {},
        "response_headers": {},
        "request_body": None,
        "response_body": None,
        "response_truncated": False,
    }
    fields.update(overrides)
    # As the recorder links attempts: a first attempt's call id is its own id.
    fields.setdefault("call_id", fields["id"])
    return Record(**fields)


def _priced(pricer: Pricer, record: Record) -> Record:
    cost = pricer.price(record)
    for name, value in (
        ("cost_usd", cost.usd),
        ("cost_reason", cost.reason),
        ("price_source", cost.source),
        ("price_model", cost.model),
        ("price_provider", cost.provider),
    ):
        object.__setattr__(record, name, value)
    return record


def generate(path: str, count: int, days: int, seed: int, batch_size: int = 10_000) -> float:
    """Write `count` records spread over the last `days` days; returns the seconds taken."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not secrets
    pricer = Pricer()
    end = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    span_s = days * 86_400
    started = time.perf_counter()
    written = 0
    with Store(path) as store:
        store.ensure_schema()
        while written < count:
            size = min(batch_size, count - written)
            offsets = sorted(rng.random() * span_s for _ in range(size))
            batch: list[Record] = []
            for offset in offsets:
                if len(batch) >= size:
                    break
                started_at = end - datetime.timedelta(seconds=span_s - offset)
                entry = rng.choices(MODELS, WEIGHTS)[0]
                record = _priced(pricer, _record(rng, started_at, entry))
                batch.append(record)
                # The SDK retries 429s, 5xx and network failures.
                if (record.status_code is None or record.status_code in (429, 500)) and len(
                    batch
                ) < size:
                    retry_at = started_at + datetime.timedelta(
                        milliseconds=record.duration_ms + 500 + rng.random() * 2000
                    )
                    retry = _record(
                        rng,
                        retry_at,
                        entry,
                        retry_attempt=1,
                        call_id=record.call_id,
                        api_key_fingerprint=record.api_key_fingerprint,
                        tags=record.tags,
                    )
                    batch.append(_priced(pricer, retry))
            store.insert(batch)
            written += len(batch)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Command line: python benchmarks/generate.py PATH [-n COUNT] [--days N] [--seed S]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="SQLite file (created) or database URL")
    parser.add_argument("-n", "--count", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--replace", action="store_true", help="delete the SQLite file first")
    args = parser.parse_args(argv)
    if args.replace and "://" not in args.path:
        for suffix in ("", "-wal", "-shm"):
            Path(args.path + suffix).unlink(missing_ok=True)
    seconds = generate(args.path, args.count, args.days, args.seed)
    print(
        f"{args.count:,} records in {seconds:.1f} s ({args.count / seconds:,.0f}/s) -> {args.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
