"""Streaming: a streamed chat call keeps its usage and its time to first token.

Shows: `stream_options={"include_usage": True}` (without it OpenAI sends no
usage in streams, and oaitrace stores None rather than a made-up 0), and the
timings oaitrace measures: time to first byte, to first content chunk, total.
"""

from __future__ import annotations

import openai

import oaitrace
from oaitrace.query import Query

with oaitrace.Recorder() as recorder:
    client = openai.OpenAI(http_client=recorder.client())
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Count to ten."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
    print()
    recorder.flush()

    with Query(recorder.database_url) as query:
        record = query.requests(limit=1)[0]
    print(
        f"stream={record.stream} complete={record.complete} "
        f"tokens in/out={record.input_tokens}/{record.output_tokens} "
        f"ttfb={record.ttfb_ms:.1f} ms ttft={record.ttft_ms:.1f} ms "
        f"total={record.duration_ms:.1f} ms"
    )
