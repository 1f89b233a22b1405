"""``oaitrace demo``: real openai SDK calls to the local demo server, recorded by oaitrace.

It shows the whole path (SDK -> recording transport -> SQLite -> query) with
no network and no API key, including a retried 429 and a 500.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from sqlalchemy.engine import make_url

from oaitrace._demo_server import RATE_LIMITED_MODEL, SERVER_ERROR_MODEL, DemoServer
from oaitrace._recorder import Recorder
from oaitrace._tags import tags
from oaitrace.exceptions import MissingDependencyError
from oaitrace.query import Query, RequestRecord
from oaitrace.storage import resolve_database_url, upgrade

if TYPE_CHECKING:
    import openai

__all__ = ["DemoResult", "run_demo"]

CHAT_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
# Not a key: the demo server only checks that one is sent, as OpenAI would.
DEMO_API_KEY = "sk-demo-not-a-real-key"
# Room for everything the demo records, with margin.
_QUERY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What a demo run did: where it recorded, what got stored, whether all of it did."""

    database_url: str
    database_path: str
    """What to pass as ``-d`` to look at the recording afterwards."""
    records: list[RequestRecord]
    flushed: bool


def _require_openai() -> None:
    try:
        import openai  # noqa: F401, PLC0415 - optional: a test/dev dependency, not a runtime one
    except ImportError as error:
        msg = "the demo drives the real OpenAI SDK, which is not installed: pip install openai"
        raise MissingDependencyError(msg) from error


def _database_location(database: str) -> tuple[str, Path | None]:
    """The URL to record into and, for a SQLite file, its path."""
    url = resolve_database_url(database)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return url, Path(str(parsed.database))
    return url, None


def _remove_sqlite_files(path: Path) -> None:
    # A fresh demo each run: the database and the journal files SQLite keeps beside it.
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@contextlib.contextmanager
def _step(console: Console, description: str) -> Iterator[Callable[[str], None]]:
    """Print one demo step as ``✓ description: outcome``."""
    outcomes: list[str] = []
    yield outcomes.append
    console.print(f"  [green]✓[/] {description}: ", end="")
    console.print(" ".join(outcomes), markup=False, highlight=False)


def _shorten(text: str | None, width: int = 60) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _make_calls(client: openai.OpenAI, console: Console) -> None:
    """The SDK calls the demo records, each printed as it completes."""
    import openai  # noqa: PLC0415 - present: run_demo checked

    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What does oaitrace record?"},
    ]
    with tags(user="demo-user", feature="demo"):
        with _step(console, "chat completion (tagged user=demo-user)") as said:
            completion = client.chat.completions.create(model=CHAT_MODEL, messages=messages)
            said(repr(_shorten(completion.choices[0].message.content)))
        with _step(console, "streamed chat completion with usage (tagged)") as said:
            stream = client.chat.completions.create(
                model=CHAT_MODEL,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
            said(f"{len(chunks)} chunks")
    with _step(console, "embeddings") as said:
        embeddings = client.embeddings.create(
            model=EMBEDDING_MODEL, input=["record", "every", "exchange"]
        )
        said(f"{len(embeddings.data)} vectors of {len(embeddings.data[0].embedding)} floats")
    with _step(console, "Responses API") as said:
        response = client.responses.create(model=CHAT_MODEL, input="Summarise the last hour.")
        said(repr(_shorten(response.output_text)))
    with _step(console, "streamed Responses API") as said:
        events = list(client.responses.create(model=CHAT_MODEL, input="Stream it.", stream=True))
        said(f"{len(events)} events")
    with _step(console, "rate-limited call (429, retried by the SDK)") as said:
        retried = client.chat.completions.create(model=RATE_LIMITED_MODEL, messages=messages)
        said(f"succeeded after a retry: {_shorten(retried.choices[0].message.content, 30)!r}")
    with _step(console, "server error (500, no retries)") as said:
        try:
            client.with_options(max_retries=0).chat.completions.create(
                model=SERVER_ERROR_MODEL, messages=messages
            )
        except openai.InternalServerError as error:
            said(f"raised {type(error).__name__} as expected (status {error.status_code})")
        else:
            said("unexpectedly succeeded")


def run_demo(
    database: str = "oaitrace-demo.db",
    *,
    keep: bool = False,
    console: Console | None = None,
    chunk_delay_s: float = 0.01,
) -> DemoResult:
    """Run the demo calls through a recorder into ``database``; return what was stored.

    Args:
        database: a SQLite file path (replaced first unless ``keep``) or a database URL.
        keep: add to an existing demo database instead of starting afresh.
        console: where to print progress; a default console when None.
        chunk_delay_s: pause between streamed chunks, so time to first token shows.

    Raises:
        MissingDependencyError: the openai package is not installed.
    """
    _require_openai()
    import openai  # noqa: PLC0415 - optional dependency, checked just above

    console = console or Console()
    url, path = _database_location(database)
    if path is not None and not keep:
        _remove_sqlite_files(path)
    upgrade(url)
    console.print(f"Recording real openai SDK calls to a local demo server into {database}:")
    recorder = Recorder(database_url=url)
    try:
        with DemoServer(chunk_delay_s=chunk_delay_s) as server:
            client = openai.OpenAI(
                base_url=server.base_url, api_key=DEMO_API_KEY, http_client=recorder.client()
            )
            try:
                _make_calls(client, console)
            finally:
                client.close()
        flushed = recorder.flush(timeout=10.0)
    finally:
        recorder.close()
    query = Query(url)
    try:
        records = query.requests(limit=_QUERY_LIMIT)
    finally:
        query.close()
    return DemoResult(
        database_url=url,
        database_path=database,
        records=records,
        flushed=flushed,
    )
