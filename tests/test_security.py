"""Secrets never reach storage, logs, spans or exports; files are private; SQL is parameterised.

The real openai SDK (OpenAI and AzureOpenAI clients) sends real-looking keys
in every place a key can travel: the Authorization header, Azure's
`api-key` header, URL query parameters and user info, request bodies,
response bodies (also split across stream chunks) and error messages. Then
everything oaitrace wrote is scanned for the keys and for every 12-character
piece of them: the SQLite dump, the database files themselves, the spool,
structlog's events, everything printed, every exported span attribute and
event, and the CLI's exports.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import sqlalchemy
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from structlog.testing import capture_logs

import oaitrace
from oaitrace.cli import cli
from oaitrace.httpx2 import RecordingTransport
from oaitrace.query import Query
from tests.openai_edge import CHAT_COMPLETION, EMBEDDING, OPENAI_HEADERS

# Shaped like the real ones (random characters, so no 12-character piece of
# one occurs by chance in other test data): project, legacy, admin, service
# account and Azure keys, and keys pasted into a URL and into a prompt.
PROJECT_KEY = (
    "sk-proj-Qm7xV2pL9aR4tY8uN3wE6zK1cB5hJ0dFx8Wc2Vb7Nm4Lk9Jh3Gf6Ds1Ap5Oi0Uy7Tr2Ew"
    "T3BlbkFJgS8nW2qX5vZ7mP4rHk3Jd9Ls1Fa6Qz8Xw2Ce5Rv7Tb0Yn4Um6Ki1Ol3Pj9Hg5"
)
LEGACY_KEY = "sk-a1B9c3D7e5F2g8H4i6J0k3LT3BlbkFJm5N1o7P4q2R8s6T0u3V9w1X"
ADMIN_KEY = "sk-admin-Yw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz0Xc4Vb6Nm8Qa1Ws3Ed5Rf7Tg9Yh2Uj4Ik6Ol"
SERVICE_KEY = "sk-svcacct-Hq2Jw4Ke6Lr8Mt0Ny1Bu3Vi5Co7Xp9Za4Sd6Fg8Hj1Kl3Zx5Cv7Bn9Mq2Wr4Et6"
AZURE_KEY = "8f3c2b1a9e7d4c6b5a0f1e2d3c4b5a69"
URL_KEY = "sk-Ur9Lq3Ke7Yx2Wp5Tz8Vm1Nb4Hc6Jd0Fs"
BODY_KEY = "sk-proj-Bo4Dy7Ke2Yp9As5Te3Dx8Ub6Yu1Se0Rz4Qw7Nm2Lk5Jh8Gf3Dp6Ca"
SECRETS = {
    "project": PROJECT_KEY,
    "legacy": LEGACY_KEY,
    "admin": ADMIN_KEY,
    "service": SERVICE_KEY,
    "azure": AZURE_KEY,
    "url": URL_KEY,
    "body": BODY_KEY,
}
PIECE = 12
INJECTION = "'; DROP TABLE requests; --"


def leaks(text: str) -> list[str]:
    """Which secrets occur in `text`, whole or as any piece of 12 characters or more."""
    found = []
    for name, secret in SECRETS.items():
        if any(secret[start : start + PIECE] in text for start in range(len(secret) - PIECE + 1)):
            found.append(name)
    return found


def echo_handler(request: httpx2.Request) -> httpx2.Response:
    """An OpenAI that repeats the user's message, streams it, or rejects the key in its error."""
    body = json.loads(request.content or b"{}")
    if request.url.path.endswith("/embeddings"):
        return httpx2.Response(200, headers=OPENAI_HEADERS, json=EMBEDDING)
    said = str((body.get("messages") or [{}])[-1].get("content", ""))
    if "reject" in said:
        auth = request.headers.get("authorization", "")
        error = {
            "error": {
                "message": f"Incorrect API key provided: {auth.removeprefix('Bearer ')}.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        }
        return httpx2.Response(401, headers=OPENAI_HEADERS, json=error)
    if body.get("stream"):
        chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
        frames = [
            b"data: "
            + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": part}}]}).encode()
            + b"\n\n"
            for part in ("You said: ", said)
        ]
        # The key is cut in two across network chunks.
        raw = b"".join([*frames, b"data: [DONE]\n\n"])
        position = raw.find(BODY_KEY[8:20].encode())
        cut = position + 6 if position >= 0 else len(raw) // 2
        headers = {**OPENAI_HEADERS, "content-type": "text/event-stream"}
        return httpx2.Response(200, headers=headers, content=iter([raw[:cut], raw[cut:]]))
    answer = json.loads(json.dumps(CHAT_COMPLETION))
    answer["choices"][0]["message"]["content"] = f"You said: {said}"
    return httpx2.Response(200, headers=OPENAI_HEADERS, json=answer)


def failing_handler(request: httpx2.Request) -> httpx2.Response:
    message = f"cannot reach {request.url} with key {LEGACY_KEY}, api-key={AZURE_KEY}"
    raise httpx2.ConnectError(message, request=request)


def recording_http_client(recorder: oaitrace.Recorder, handler: Any = echo_handler) -> Any:
    return httpx2.Client(
        transport=RecordingTransport(recorder=recorder, transport=httpx2.MockTransport(handler))
    )


def run_sdk_calls(recorder: oaitrace.Recorder) -> None:
    """Every way a key can travel, through the real SDK."""
    base = "https://api.openai.com/v1"
    user = {"role": "user", "content": f"my key is {BODY_KEY}, keep it safe"}
    project = openai.OpenAI(
        api_key=PROJECT_KEY, base_url=base, http_client=recording_http_client(recorder)
    )
    project.chat.completions.create(model="gpt-4o-mini", messages=[user])  # type: ignore[list-item]
    list(
        project.chat.completions.create(
            model="gpt-4o-mini",
            messages=[user],  # type: ignore[list-item]
            stream=True,
        )
    )
    for key in (LEGACY_KEY, ADMIN_KEY, SERVICE_KEY):
        client = openai.OpenAI(
            api_key=key, base_url=base, http_client=recording_http_client(recorder), max_retries=0
        )
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "reject me"}]
            )
    in_url = openai.OpenAI(
        api_key=PROJECT_KEY,
        base_url=base,
        default_query={"api_key": URL_KEY, "key": URL_KEY, "token": AZURE_KEY},
        http_client=recording_http_client(recorder),
    )
    in_url.embeddings.create(model="text-embedding-3-small", input="hello")
    user_info = openai.OpenAI(
        api_key=PROJECT_KEY,
        base_url=f"https://user:{URL_KEY}@api.openai.com/v1",
        http_client=recording_http_client(recorder),
    )
    user_info.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    azure = openai.AzureOpenAI(
        api_key=AZURE_KEY,
        azure_endpoint="https://my-resource.openai.azure.com",
        api_version="2024-10-21",
        http_client=recording_http_client(recorder),
    )
    azure.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi azure"}]
    )
    broken = openai.OpenAI(
        api_key=PROJECT_KEY,
        base_url=base,
        max_retries=0,
        http_client=recording_http_client(recorder, failing_handler),
    )
    with pytest.raises(openai.APIConnectionError):
        broken.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )


def span_text(exporter: InMemorySpanExporter) -> str:
    parts = []
    for span in exporter.get_finished_spans():
        parts.append(span.name)
        parts.append(json.dumps(dict(span.attributes or {}), default=str))
        parts.append(str(span.status.description))
        for event in span.events:
            parts.append(event.name + json.dumps(dict(event.attributes or {}), default=str))
        parts.append(json.dumps(dict(span.resource.attributes), default=str))
    return "\n".join(parts)


def files_text(directory: Path) -> str:
    """Every file under `directory` (database, -wal, -shm, spool), as text."""
    return "\n".join(
        path.read_bytes().decode("latin-1")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )


def sqlite_dump(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


class Recorded:
    def __init__(self, directory: Path, capture_message_content: bool | None) -> None:
        self.directory = directory
        self.database = directory / "traces.db"
        self.capture_message_content = capture_message_content
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.recorder = oaitrace.Recorder(
            str(self.database),
            tracer_provider=provider,
            capture_message_content=capture_message_content,
            spool_dir=directory / "spool",
        )


@pytest.fixture(scope="module", params=[None, True], ids=["content-default", "content-on"])
def recorded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Recorded, str]:
    """The SDK calls recorded with spans on; the structlog events, as text."""
    os.environ.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    run = Recorded(tmp_path_factory.mktemp("secrets"), request.param)
    with capture_logs() as logs:
        try:
            run_sdk_calls(run.recorder)
            assert run.recorder.flush(timeout=30)
        finally:
            run.recorder.close()
    return run, json.dumps(logs, default=str)


class TestSecretsNeverWritten:
    def test_the_calls_were_recorded(self, recorded: tuple[Recorded, str]) -> None:
        """Every SDK call above is stored, so the scans below look at real records."""
        run, _ = recorded
        with Query(str(run.database)) as query:
            records = query.requests(limit=100)

        expected = (9, {200, 401, None})

        assert expected == (len(records), {record.status_code for record in records})

    def test_database(self, recorded: tuple[Recorded, str]) -> None:
        """Neither the SQL dump nor the bytes of the database files hold a key."""
        run, _ = recorded

        expected: tuple[list[str], list[str]] = ([], [])

        assert expected == (leaks(sqlite_dump(run.database)), leaks(files_text(run.directory)))

    def test_logs(self, recorded: tuple[Recorded, str], capsys: pytest.CaptureFixture[str]) -> None:
        """No structlog event (the per-exchange debug events included) holds a key."""
        _, logs = recorded
        out, err = capsys.readouterr()

        expected: list[str] = []

        assert expected == leaks(logs + out + err)

    def test_spans(self, recorded: tuple[Recorded, str]) -> None:
        """No span name, attribute, event or status holds a key, content capture on or off."""
        run, _ = recorded

        expected: list[str] = []

        assert run.spans.get_finished_spans()
        assert expected == leaks(span_text(run.spans))

    def test_cli_exports(self, recorded: tuple[Recorded, str]) -> None:
        """`export jsonl`, `export csv`, `requests --json` and `show --json` print no key."""
        run, _ = recorded
        database = str(run.database)
        with Query(database) as query:
            ids = [record.id for record in query.requests(limit=100)]
        runner = CliRunner()
        commands = [
            ["export", "jsonl", "-d", database],
            ["export", "csv", "-d", database],
            ["requests", "-d", database, "--json", "-n", "100"],
            *(["show", record_id, "-d", database, "--json"] for record_id in ids),
        ]
        results = [runner.invoke(cli, command) for command in commands]

        expected: tuple[list[int], list[str]] = ([0] * len(commands), [])

        actual = (
            [result.exit_code for result in results],
            leaks("\n".join(result.output for result in results)),
        )
        assert expected == actual

    def test_key_fingerprints_tell_keys_apart(self, recorded: tuple[Recorded, str]) -> None:
        """Usage stays attributable per key: each key leaves a distinct short fingerprint."""
        run, _ = recorded
        with Query(str(run.database)) as query:
            details = [query.detail(record.id) for record in query.requests(limit=100)]
        fingerprints = {detail.api_key_fingerprint for detail in details if detail is not None}

        assert 5 <= len(fingerprints - {None})
        assert all(len(value) < 40 for value in fingerprints if value is not None)


class TestContentOnSpans:
    def test_off_by_default_and_redacted_when_on(self, recorded: tuple[Recorded, str]) -> None:
        """Prompts reach spans only when asked for, and then without the keys in them."""
        run, _ = recorded
        text = span_text(run.spans)

        expected: tuple[bool, list[str]] = (run.capture_message_content is True, [])

        assert expected == ("keep it safe" in text, leaks(text))


class TestFiles:
    def test_database_files_are_owner_only(self, tmp_path: Path) -> None:
        """The database and its -wal and -shm files are created 0600 whatever the umask."""
        database = tmp_path / "private.db"
        old_umask = os.umask(0o022)
        try:
            with oaitrace.Recorder(str(database)) as recorder:
                client = openai.OpenAI(
                    api_key=PROJECT_KEY,
                    base_url="https://api.openai.com/v1",
                    http_client=recording_http_client(recorder),
                )
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
                )
                assert recorder.flush(timeout=10)
                modes = {
                    path.name: stat.S_IMODE(path.stat().st_mode)
                    for path in tmp_path.iterdir()
                    if path.name.startswith("private.db")
                }
        finally:
            os.umask(old_umask)

        expected = {"private.db": 0o600, "private.db-wal": 0o600, "private.db-shm": 0o600}

        assert expected == modes


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    database = tmp_path_factory.mktemp("sql") / "sql.db"
    with oaitrace.Recorder(str(database)) as recorder:
        client = openai.OpenAI(
            api_key=PROJECT_KEY,
            base_url="https://api.openai.com/v1",
            http_client=recording_http_client(recorder),
        )
        with oaitrace.tags(**{"it's": 'say "hi"', "user": INJECTION}):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        assert recorder.flush(timeout=10)
    return str(database)


class TestBoundParameters:
    @pytest.fixture
    def statements(self) -> Iterator[list[str]]:
        """The SQL text of every statement run while the test runs."""
        seen: list[str] = []

        def remember(*args: Any) -> None:
            seen.append(str(args[2]))

        sqlalchemy.event.listen(sqlalchemy.Engine, "before_cursor_execute", remember)
        yield seen
        sqlalchemy.event.remove(sqlalchemy.Engine, "before_cursor_execute", remember)

    @pytest.mark.parametrize(
        "arguments",
        [
            ["requests", "--model", INJECTION],
            ["usage", "--model", INJECTION, "--by", "model,tag:it's"],
            ["costs", "--by", 'tag:say "hi"', "--model", INJECTION],
            ["usage", "--by", f"tag:{INJECTION}"],
            ["latency", "--by", "tag:x'); DROP TABLE requests; --"],
            ["errors", "--model", INJECTION],
            ["slow", "--model", INJECTION],
            ["show", INJECTION],
            ["export", "jsonl", "--since", INJECTION],
        ],
        ids=lambda arguments: "-".join(arguments[:2]),
    )
    def test_cli_filters_are_bound_not_spliced(
        self, small_db: str, statements: list[str], arguments: list[str]
    ) -> None:
        """A filter value full of SQL is data: the table survives, no SQL text contains it."""
        result = CliRunner().invoke(cli, [*arguments, "-d", small_db])
        with Query(small_db) as query:
            remaining = len(query.requests(limit=10))

        assert 1 == remaining
        assert not any("DROP TABLE" in statement for statement in statements), statements
        # Success, or a clean message: never a traceback.
        assert result.exit_code in (0, 1, 2), result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), repr(result.exception)
        assert "Traceback" not in result.output

    def test_tag_filter_with_quotes(self, small_db: str) -> None:
        """Tags whose names and values hold quotes are found exactly, through bound parameters."""
        with Query(small_db) as query:
            by_quoted_name = query.find(tag={"it's": 'say "hi"'})
            by_injection = query.find(tag={"user": INJECTION})
            none = query.find(tag={"user": "' OR '1'='1"})

        expected = (1, 1, 0)

        assert expected == (len(by_quoted_name), len(by_injection), len(none))


class TestSpool:
    def test_spooled_records_hold_no_key(self, tmp_path: Path) -> None:
        """Records waiting in the spool for an unreachable database are already redacted."""
        spool = tmp_path / "spool"
        unreachable = tmp_path / "no-such-directory" / "traces.db"
        with capture_logs() as logs:
            recorder = oaitrace.Recorder(str(unreachable), spool_dir=spool)
            try:
                run_sdk_calls(recorder)
                recorder.flush(timeout=10)
            finally:
                recorder.close()
        spooled = files_text(spool)

        expected: tuple[bool, list[str]] = (True, [])

        assert expected == (
            "gpt-4o-mini" in spooled,
            leaks(spooled + json.dumps(logs, default=str)),
        )


class TestErrorMessages:
    @pytest.mark.parametrize(
        "message",
        [
            f"GET https://res.openai.azure.com/openai/x?api-version=1&api-key={AZURE_KEY} failed",
            f"proxy said: api-key: {AZURE_KEY}",
            f"cannot reach https://user:{AZURE_KEY}@api.openai.com/v1",
            f'{{"token": "{AZURE_KEY}"}} token="{AZURE_KEY}"',
            f"Incorrect API key provided: {ADMIN_KEY}",
        ],
    )
    def test_credentials_in_error_messages_are_redacted(self, tmp_path: Path, message: str) -> None:
        """An exception quoting a URL with an Azure key (no sk- prefix) is stored without it."""

        def failing(request: httpx2.Request) -> httpx2.Response:
            raise httpx2.ConnectError(message, request=request)

        database = tmp_path / "errors.db"
        with oaitrace.Recorder(str(database)) as recorder:
            with (
                recording_http_client(recorder, failing) as client,
                pytest.raises(httpx2.ConnectError),
            ):
                client.get("https://api.openai.com/v1/models")
            assert recorder.flush(timeout=10)
            with Query(str(database)) as query:
                stored = [record.error_message or "" for record in query.requests()]

        expected: tuple[int, list[str]] = (1, [])

        assert expected == (len(stored), leaks("".join(stored))), stored


def test_key_split_across_stream_deltas(tmp_path: Path) -> None:
    """A key echoed in a stream as many small deltas is not stored: the stream is withheld."""
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    pieces = [BODY_KEY[start : start + 4] for start in range(0, len(BODY_KEY), 4)]
    frames = [
        b"data: "
        + json.dumps({**chunk, "choices": [{"index": 0, "delta": {"content": piece}}]}).encode()
        + b"\n\n"
        for piece in pieces
    ]

    def handler(request: httpx2.Request) -> httpx2.Response:
        headers = {**OPENAI_HEADERS, "content-type": "text/event-stream"}
        return httpx2.Response(
            200, headers=headers, content=b"".join([*frames, b"data: [DONE]\n\n"])
        )

    database = tmp_path / "split.db"
    with oaitrace.Recorder(str(database)) as recorder:
        client = openai.OpenAI(
            api_key=PROJECT_KEY,
            base_url="https://api.openai.com/v1",
            http_client=recording_http_client(recorder, handler),
        )
        list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        assert recorder.flush(timeout=10)
        with Query(str(database)) as query:
            details = [query.detail(record.id) for record in query.requests()]
    stored_body = "".join(detail.response_body or "" for detail in details if detail)
    # What a reader of the stored stream sees once the deltas are put together.
    content = "".join(
        choice["delta"].get("content", "")
        for line in stored_body.splitlines()
        if line.startswith("data: {")
        for choice in json.loads(line[6:])["choices"]
    )

    assert [] == leaks(content)
