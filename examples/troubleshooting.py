"""Troubleshooting: find the slow calls, the 429s and one request by its id, with `Query`.

Shows: a session of questions after something went wrong. The script first
makes a few calls (the built-in server's `demo-rate-limited` model answers
the first attempt with a 429 that the SDK retries; `demo-server-error`
always fails with a 500), then asks the database:
the slowest attempts, the 429s with their x-request-id, the full record of
one request found by that id, the errors by status and code, and the calls
the SDK had to retry. Without a server of your own it starts the built-in one.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack

import openai

import oaitrace
from oaitrace._demo_server import DemoServer
from oaitrace.query import Query

with ExitStack() as stack:
    base_url = os.environ.get("OPENAI_BASE_URL") or stack.enter_context(DemoServer()).base_url
    recorder = stack.enter_context(oaitrace.Recorder())
    client = openai.OpenAI(
        base_url=base_url,
        api_key=os.environ.get("OPENAI_API_KEY", "sk-demo"),
        http_client=recorder.client(),
        max_retries=1,
    )

    def ask(model: str) -> None:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Why is the sky blue?"}]
        )

    for model in ("gpt-4o-mini", "gpt-4o", "demo-rate-limited"):
        ask(model)
    try:
        ask("demo-server-error")
    except openai.InternalServerError as error:
        print(f"the call failed as expected: {error.status_code}")
    recorder.flush()

    with Query(recorder.database_url) as query:
        print("\nThe slowest attempts:")
        for record in query.slowest(limit=3):
            print(
                f"  {record.duration_ms:8.1f} ms (server {record.processing_ms} ms) "
                f"{record.request_model} {record.status_code} {record.request_id}"
            )

        print("\nThe 429s:")
        rate_limited = query.find(status_code=429)
        for record in rate_limited:
            print(f"  {record.started_at:%H:%M:%S} {record.request_model} {record.request_id}")
            print(f"    {record.error_code}: {record.error_message}")

        # What OpenAI support asks for is the x-request-id; `detail` finds the
        # attempt by it and has everything: headers, bodies, rate limits.
        detail = query.detail(rate_limited[0].request_id or rate_limited[0].id)
        if detail is None:
            sys.exit("the 429 was not found by its id")
        print(f"\nOne request in full: {detail.record.request_id}")
        print(f"  retry-after: {detail.retry_after_s} s")
        print(f"  remaining requests: {detail.record.ratelimit_remaining_requests}")
        print(f"  response headers: {sorted(detail.response_headers)[:6]} ...")

        print("\nErrors by status, code and type:")
        errors = query.errors()
        for row in errors.rows:
            print(f"  {row.count} x {row.status_code} {row.error_code} {row.error_type}")

        retries = query.retries()
        print(
            f"\n{retries.calls} calls needed retries ({retries.attempts} attempts, "
            f"{retries.succeeded} succeeded in the end, {retries.extra_ms:.0f} ms spent on them)"
        )
