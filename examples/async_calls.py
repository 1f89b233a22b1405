"""Async: many concurrent calls through `AsyncOpenAI`, each recorded.

Shows: `recorder.async_client()`, concurrency with `asyncio.gather`, and that
every attempt is its own record.
"""

from __future__ import annotations

import asyncio

import openai

import oaitrace
from oaitrace.query import Query

QUESTIONS = ["What is a transport?", "What is SSE?", "What is a rate limit?"]


async def main(recorder: oaitrace.Recorder) -> None:
    client = openai.AsyncOpenAI(http_client=recorder.async_client())
    async with client:
        answers = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
                )
                for question in QUESTIONS
            )
        )
    for question, answer in zip(QUESTIONS, answers, strict=True):
        print(f"{question} -> {(answer.choices[0].message.content or '')[:40]!r}")


with oaitrace.Recorder() as recorder:
    asyncio.run(main(recorder))
    recorder.flush()
    with Query(recorder.database_url) as query:
        records = query.requests(limit=len(QUESTIONS))
    print(f"stored {len(records)} records:", ", ".join(str(r.request_id) for r in records))
