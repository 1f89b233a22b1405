"""Every endpoint family through the real openai SDK: operation, endpoint, ids, usage and facts.

Each test serves realistic API answers (tests/endpoint_fixtures.py) at the
network edge, drives the SDK method a user would call, and checks what
oaitrace stored. `provider` and `object_ids` are read from the Record the
writer parsed until storage has their columns; everything else is read back
from the database with `Query`.
"""

from __future__ import annotations

import importlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest

import oaitrace
import oaitrace._recorder
from oaitrace._exchange import Exchange, Record
from oaitrace._multipart import multipart_fields, snapshot_form
from oaitrace._objects import ResponseView, object_facts, path_ids
from oaitrace._parse import parse
from oaitrace._providers import provider_for
from oaitrace.pricing import Pricer
from oaitrace.query import Query, RequestDetail, RequestRecord
from tests import endpoint_fixtures as fx
from tests.endpoint_fixtures import EndpointServer, binary_reply, json_reply, text_reply

OPENAI_MAJOR = int(openai.__version__.split(".")[0])
pytestmark = [
    # The SDK warns on deprecated endpoints (Assistants, dall-e-2 variations,
    # translations); recording them is the point here.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # Conversations, admin resources and streamed transcription are 3.x SDK surface.
    pytest.mark.skipif(OPENAI_MAJOR < 3, reason="written against the openai 3.x SDK"),
]
LIB_NAME = "httpx2" if OPENAI_MAJOR >= 3 else "httpx"
API_KEY = "sk-proj-Zx81TESTKEYdoNotLeak0123456789abcdefABCDEF"
BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Stored:
    """One stored attempt: what Query returns, plus the parsed Record's newer fields."""

    detail: RequestDetail
    parsed: Record

    @property
    def record(self) -> RequestRecord:
        return self.detail.record

    @property
    def extra(self) -> dict[str, Any]:
        return self.detail.extra

    @property
    def object_ids(self) -> dict[str, str]:
        return dict(self.parsed.object_ids)

    @property
    def provider(self) -> str | None:
        return self.parsed.provider

    @property
    def usage(self) -> tuple[int | None, int | None, int | None]:
        record = self.record
        return record.input_tokens, record.output_tokens, record.total_tokens


class Harness:
    """A recorder, an endpoint server and SDK clients over them."""

    def __init__(self, recorder: oaitrace.Recorder, parsed: dict[str, Record]) -> None:
        self.recorder = recorder
        self.parsed = parsed
        self.lib = importlib.import_module(LIB_NAME)
        self.transports = importlib.import_module(f"oaitrace.{LIB_NAME}")
        self.server = EndpointServer(self.lib)

    def http_client(self, server: EndpointServer | None = None) -> Any:
        inner = self.lib.MockTransport(server or self.server)
        transport = self.transports.RecordingTransport(recorder=self.recorder, transport=inner)
        return self.lib.Client(transport=transport)

    def client(self, base_url: str = BASE_URL, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(
            api_key=API_KEY, base_url=base_url, http_client=self.http_client(), **kwargs
        )

    def stored(self) -> list[Stored]:
        """Everything stored so far, oldest first."""
        assert self.recorder.flush(timeout=10)
        with Query(self.recorder.database_url) as query:
            details = list(reversed(query.details(limit=1000)))
        return [Stored(detail, self.parsed[detail.record.id]) for detail in details]

    def only(self) -> Stored:
        (stored,) = self.stored()
        return stored


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    parsed: dict[str, Record] = {}
    real_parse = oaitrace._recorder.parse  # type: ignore[attr-defined]  # its import, not an export

    def keeping_parse(*args: Any, **kwargs: Any) -> Record:
        record = real_parse(*args, **kwargs)
        parsed[record.id] = record
        return record

    monkeypatch.setattr(oaitrace._recorder, "parse", keeping_parse)
    with oaitrace.Recorder(database_url=f"sqlite:///{tmp_path / 'trace.db'}") as recorder:
        yield Harness(recorder, parsed)


USER_MESSAGE: Any = [{"role": "user", "content": "What's the weather like in Boston today?"}]


class TestChatCompletions:
    def test_tool_calls(self, harness: Harness) -> None:
        """A tool-calling chat is a `chat` with finish reason tool_calls and its usage."""
        harness.server.on("POST", "/v1/chat/completions", json_reply(fx.CHAT_TOOL_CALLS))
        tools: Any = [{"type": "function", "function": {"name": "get_current_weather"}}]
        harness.client().chat.completions.create(model="gpt-4o", messages=USER_MESSAGE, tools=tools)
        stored = harness.only()
        assert ("chat", "/v1/chat/completions", ("tool_calls",), (82, 17, 99)) == (
            stored.record.operation,
            stored.record.endpoint,
            stored.record.finish_reasons,
            stored.usage,
        )
        assert "openai" == stored.provider

    def test_n_choices_with_logprobs(self, harness: Harness) -> None:
        """n=2 keeps one finish reason per choice, in choice order, and the request's n."""
        harness.server.on("POST", "/v1/chat/completions", json_reply(fx.CHAT_TWO_CHOICES_LOGPROBS))
        harness.client().chat.completions.create(
            model="gpt-4o-mini", messages=USER_MESSAGE, n=2, logprobs=True, max_tokens=3
        )
        stored = harness.only()
        assert ("stop", "length") == stored.record.finish_reasons
        assert 2 == stored.extra["request_params"]["n"]
        assert "gpt-4o-mini-2024-07-18" == stored.record.response_model

    def test_predicted_outputs(self, harness: Harness) -> None:
        """Accepted and rejected prediction tokens are kept in the usage details."""
        harness.server.on("POST", "/v1/chat/completions", json_reply(fx.CHAT_PREDICTED))
        harness.client().chat.completions.create(
            model="gpt-4o",
            messages=USER_MESSAGE,
            prediction={"type": "content", "content": "class User {}"},
        )
        details = harness.only().detail.usage_details
        assert (124, 21) == (
            details["completion_tokens_details.accepted_prediction_tokens"],
            details["completion_tokens_details.rejected_prediction_tokens"],
        )

    def test_audio_output(self, harness: Harness) -> None:
        """Audio output tokens are kept; the audio's base64 is stored only as the body."""
        harness.server.on("POST", "/v1/chat/completions", json_reply(fx.CHAT_AUDIO))
        harness.client().chat.completions.create(
            model="gpt-4o-audio-preview",
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"},
            messages=USER_MESSAGE,
        )
        stored = harness.only()
        assert 128 == stored.detail.usage_details["completion_tokens_details.audio_tokens"]
        assert (17, 151) == stored.usage[:2]


class TestLegacyAndSimpleModels:
    def test_streamed_legacy_completion(self, harness: Harness) -> None:
        """A streamed legacy completion is a complete `text_completion` with its usage chunk."""
        harness.server.on("POST", "/v1/completions", fx.completion_stream())
        stream = harness.client().completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Once",
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
        assert "Once upon a time" == text
        record = harness.only().record
        assert ("text_completion", True, True, ("length",), 5, 4) == (
            record.operation,
            record.stream,
            record.complete,
            record.finish_reasons,
            record.input_tokens,
            record.output_tokens,
        )
        assert record.ttft_ms is not None

    @pytest.mark.parametrize("encoding_format", ["float", "base64"])
    def test_embeddings(self, harness: Harness, encoding_format: str) -> None:
        """Float and base64 embeddings both record tokens, the format and the vector count.

        Without an `encoding_format` the SDK asks for base64 and decodes it itself.
        """
        as_base64 = encoding_format == "base64"
        reply = fx.embeddings([[0.5, -0.25], [0.125, 1.0]], as_base64=as_base64)
        harness.server.on("POST", "/v1/embeddings", json_reply(reply))
        options: Any = {} if as_base64 else {"encoding_format": "float"}
        result = harness.client().embeddings.create(
            model="text-embedding-3-small", input=["a", "b"], **options
        )
        assert [0.5, -0.25] == result.data[0].embedding
        stored = harness.only()
        assert ("embeddings", 8, None) == (
            stored.record.operation,
            stored.record.input_tokens,
            stored.record.output_tokens,
        )
        assert {"encoding_format": encoding_format, "count": 2} == stored.extra["embedding"]

    def test_moderations(self, harness: Harness) -> None:
        """Moderations record how many inputs were checked and how many were flagged."""
        harness.server.on("POST", "/v1/moderations", json_reply(fx.moderation([True, False])))
        harness.client().moderations.create(model="omni-moderation-latest", input=["a", "b"])
        stored = harness.only()
        assert ("moderations.create", "omni-moderation-latest") == (
            stored.record.operation,
            stored.record.response_model,
        )
        assert {"results": 2, "flagged": 1} == stored.extra["moderation"]


class TestResponses:
    def test_create_with_tool_call_and_reasoning(self, harness: Harness) -> None:
        """A Response that called a tool records reasoning tokens, output types and its ids."""
        harness.server.on("POST", "/v1/responses", json_reply(fx.RESPONSE_WITH_TOOL_CALL))
        harness.client().responses.create(model="o4-mini", input="Weather in Paris?")
        stored = harness.only()
        assert ("chat", 75, 1186, 1024) == (
            stored.record.operation,
            stored.record.input_tokens,
            stored.record.output_tokens,
            stored.record.reasoning_tokens,
        )
        assert {"output_types": ["reasoning", "function_call"]} == stored.extra["responses"]
        assert {
            "response_id": fx.RESPONSE_ID,
            "conversation_id": fx.CONVERSATION["id"],
        } == stored.object_ids
        assert ("response", "completed") == (
            stored.extra["object_type"],
            stored.extra["object_status"],
        )

    def test_streamed_create(self, harness: Harness) -> None:
        """A streamed Response takes ids, status and usage from response.completed."""
        harness.server.on("POST", "/v1/responses", fx.response_stream())
        with harness.client().responses.create(
            model="o4-mini", input="Weather in Paris?", stream=True
        ) as stream:
            kinds = [event.type for event in stream]
        assert "response.completed" == kinds[-1]
        stored = harness.only()
        assert (True, True, ("completed",), 1261) == (
            stored.record.stream,
            stored.record.complete,
            stored.record.finish_reasons,
            stored.record.total_tokens,
        )
        assert fx.RESPONSE_ID == stored.object_ids["response_id"]
        assert ["reasoning", "function_call"] == stored.extra["responses"]["output_types"]

    def test_retrieve_cancel_delete_and_input_items(self, harness: Harness) -> None:
        """Calls on a stored Response name it, and a retrieval does not count its usage again."""
        path = f"/v1/responses/{fx.RESPONSE_ID}"
        server = harness.server
        server.on("GET", path, json_reply(fx.RESPONSE_WITH_TOOL_CALL))
        server.on("POST", path + "/cancel", json_reply(fx.response_object("cancelled", [], None)))
        deleted = {"id": fx.RESPONSE_ID, "object": "response.deleted", "deleted": True}
        server.on("DELETE", path, json_reply(deleted))
        server.on("GET", path + "/input_items", json_reply(fx.INPUT_ITEMS))
        client = harness.client()
        client.responses.retrieve(fx.RESPONSE_ID)
        client.responses.cancel(fx.RESPONSE_ID)
        client.responses.delete(fx.RESPONSE_ID)
        assert 1 == len(client.responses.input_items.list(fx.RESPONSE_ID).data)
        retrieve, cancel, delete, items = harness.stored()
        assert [
            ("responses.retrieve", "/v1/responses/{response_id}"),
            ("responses.cancel", "/v1/responses/{response_id}/cancel"),
            ("responses.delete", "/v1/responses/{response_id}"),
            ("responses.input_items.list", "/v1/responses/{response_id}/input_items"),
        ] == [(s.record.operation, s.record.endpoint) for s in (retrieve, cancel, delete, items)]
        assert all(
            fx.RESPONSE_ID == s.object_ids["response_id"] for s in (retrieve, cancel, delete, items)
        )
        assert (None, None) == (retrieve.record.input_tokens, retrieve.record.output_tokens)
        assert fx.REASONING_USAGE == retrieve.extra["object_usage"]
        assert "cancelled" == cancel.extra["object_status"]

    def test_conversations(self, harness: Harness) -> None:
        """Creating a conversation records its id; listing its items names it from the path."""
        conversation_id = fx.CONVERSATION["id"]
        harness.server.on("POST", "/v1/conversations", json_reply(fx.CONVERSATION))
        harness.server.on(
            "GET", f"/v1/conversations/{conversation_id}/items", json_reply(fx.CONVERSATION_ITEMS)
        )
        client = harness.client()
        client.conversations.create(metadata={"topic": "demo"})
        client.conversations.items.list(conversation_id)
        create, items = harness.stored()
        assert ("conversations.create", {"conversation_id": conversation_id}) == (
            create.record.operation,
            create.object_ids,
        )
        assert (
            "conversations.items.list",
            "/v1/conversations/{conversation_id}/items",
            {"conversation_id": conversation_id},
        ) == (items.record.operation, items.record.endpoint, items.object_ids)


class TestAudio:
    def test_speech_stores_size_and_type_not_audio(self, harness: Harness) -> None:
        """Speech keeps the audio's size and content type, never the audio itself."""
        harness.server.on("POST", "/v1/audio/speech", binary_reply(fx.SPEECH_MP3, "audio/mpeg"))
        speech = harness.client().audio.speech.create(
            model="gpt-4o-mini-tts", voice="coral", input="Today is a wonderful day."
        )
        assert fx.SPEECH_MP3 == speech.content
        stored = harness.only()
        assert ("audio.speech", "gpt-4o-mini-tts", None) == (
            stored.record.operation,
            stored.record.request_model,
            stored.detail.response_body,
        )
        assert {
            "voice": "coral",
            "content_type": "audio/mpeg",
            "bytes": len(fx.SPEECH_MP3),
        } == stored.extra["audio"]

    def test_transcription_json_with_token_usage(self, harness: Harness, tmp_path: Path) -> None:
        """A gpt-4o transcription records `type: tokens` usage; the JSON answer names its format."""
        harness.server.on("POST", "/v1/audio/transcriptions", json_reply(fx.TRANSCRIPT_JSON))
        audio = tmp_path / "speech.mp3"
        audio.write_bytes(fx.SPEECH_MP3)
        with audio.open("rb") as file:
            harness.client().audio.transcriptions.create(model="gpt-4o-transcribe", file=file)
        assert fx.SPEECH_MP3 in harness.server.received[0].body
        stored = harness.only()
        assert ("audio.transcription", (14, 45, 59)) == (stored.record.operation, stored.usage)
        assert 14 == stored.detail.usage_details["input_token_details.audio_tokens"]
        assert {"response_format": "json", "filename": "speech.mp3"} == stored.extra["audio"]
        # The form's text fields are read without touching the uploaded file.
        assert "gpt-4o-transcribe" == stored.record.request_model

    @pytest.mark.parametrize(
        ("response_format", "body"), [("srt", fx.TRANSCRIPT_SRT), ("vtt", fx.TRANSCRIPT_VTT)]
    )
    def test_transcription_subtitles(
        self, harness: Harness, response_format: Any, body: str
    ) -> None:
        """srt and vtt transcripts are text bodies; the requested format is recorded."""
        harness.server.on("POST", "/v1/audio/transcriptions", text_reply(body))
        result = harness.client().audio.transcriptions.create(
            model="whisper-1", file=("talk.wav", b"RIFF0000WAVE"), response_format=response_format
        )
        assert body == result
        stored = harness.only()
        assert response_format == stored.extra["audio"]["response_format"]
        assert (body, None) == (stored.detail.response_body, stored.record.input_tokens)

    def test_translation_verbose_json_with_duration_usage(self, harness: Harness) -> None:
        """A whisper translation records the audio's duration and `type: duration` usage."""
        harness.server.on("POST", "/v1/audio/translations", json_reply(fx.TRANSLATION_VERBOSE))
        harness.client().audio.translations.create(
            model="whisper-1",
            file=("german.m4a", b"\0\0\0 ftypM4A "),
            response_format="verbose_json",
        )
        stored = harness.only()
        assert "audio.translation" == stored.record.operation
        assert 9 == stored.detail.usage_details["seconds"]
        assert {
            "response_format": "verbose_json",
            "duration_s": 9,
            "language": "english",
            "filename": "german.m4a",
        } == stored.extra["audio"]
        assert "whisper-1" == stored.record.request_model

    def test_streamed_transcription(self, harness: Harness) -> None:
        """Streamed transcription: complete, with a first token time and the done event's usage."""
        harness.server.on("POST", "/v1/audio/transcriptions", fx.transcription_stream())
        stream = harness.client().audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("a.wav", b"RIFF0000WAVE"), stream=True
        )
        deltas = [event.delta for event in stream if event.type == "transcript.text.delta"]
        assert "I see skies of blue." == "".join(deltas)
        record = harness.only().record
        assert (True, True, 14, 5) == (
            record.stream,
            record.complete,
            record.input_tokens,
            record.output_tokens,
        )
        assert record.ttft_ms is not None


class TestImages:
    def test_gpt_image_edit_multipart(self, harness: Harness) -> None:
        """An image edit records gpt-image token usage and the settings from form and response."""
        harness.server.on("POST", "/v1/images/edits", json_reply(fx.GPT_IMAGE_EDIT))
        harness.client().images.edit(
            model="gpt-image-1",
            image=("otter.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "image/png"),
            prompt="Add a hat",
            quality="auto",
            n=1,
        )
        stored = harness.only()
        assert ("images.edit", (323, 1056, 1379)) == (stored.record.operation, stored.usage)
        assert 194 == stored.detail.usage_details["input_tokens_details.image_tokens"]
        # Form fields (n, file name) and the response's settings, response values winning.
        assert {
            "n": 1,
            "filename": "otter.png",
            "quality": "medium",
            "size": "1024x1024",
            "background": "opaque",
            "output_format": "png",
            "count": 1,
        } == stored.extra["image"]

    def test_dalle3_generation(self, harness: Harness) -> None:
        """A dall-e-3 generation has no token usage; n, size, quality and style are recorded."""
        harness.server.on("POST", "/v1/images/generations", json_reply(fx.DALLE3_GENERATION))
        harness.client().images.generate(
            model="dall-e-3", prompt="A lion", n=1, size="1024x1792", quality="hd", style="vivid"
        )
        stored = harness.only()
        assert ("images.generate", None) == (stored.record.operation, stored.record.input_tokens)
        assert {"n": 1, "size": "1024x1792", "quality": "hd", "style": "vivid", "count": 1} == (
            stored.extra["image"]
        )

    def test_dalle2_variation(self, harness: Harness) -> None:
        """A variation (multipart) records its form's n and size and how many images came back."""
        harness.server.on("POST", "/v1/images/variations", json_reply(fx.DALLE2_VARIATIONS))
        harness.client().images.create_variation(
            image=("cat.png", b"\x89PNG\r\n\x1a\n"), n=2, size="256x256"
        )
        stored = harness.only()
        assert "images.variation" == stored.record.operation
        assert {"n": 2, "size": "256x256", "filename": "cat.png", "count": 2} == stored.extra[
            "image"
        ]


class TestMultipartForms:
    """Upload forms: read from memory when the client built them as bytes, never from a stream."""

    def test_in_memory_body_gives_model_format_and_filename(self, harness: Harness) -> None:
        """A multipart body already in memory (another SDK, a hand-built request) is read."""
        lib = harness.lib
        built = lib.Request(
            "POST",
            f"{BASE_URL}/audio/transcriptions",
            data={"model": "whisper-1", "response_format": "srt", "language": "en"},
            files={"file": ("talk.wav", b"RIFF0000WAVEfmt ", "audio/wav")},
        )
        body = built.read()
        harness.server.on("POST", "/v1/audio/transcriptions", text_reply(fx.TRANSCRIPT_SRT))
        with harness.http_client() as client:
            client.post(
                built.url, content=body, headers={"content-type": built.headers["content-type"]}
            )
        stored = harness.only()
        assert ("whisper-1", len(body)) == (
            stored.record.request_model,
            stored.detail.request_bytes,
        )
        assert {"response_format": "srt", "language": "en", "filename": "talk.wav"} == (
            stored.extra["audio"]
        )
        # The upload itself is not stored as text.
        assert stored.detail.request_body is None

    def test_snapshot_of_a_streamed_form_reads_no_file(self) -> None:
        """`snapshot_form` takes text fields and file names and leaves the file unread."""
        file = io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        request = importlib.import_module(LIB_NAME).Request(
            "POST",
            f"{BASE_URL}/images/edits",
            data={"model": "gpt-image-1", "n": "2", "size": "1024x1024", "prompt": "x" * 500},
            files={"image": ("otter.png", file, "image/png")},
        )
        snapshot = snapshot_form(request.stream)
        assert (
            ("model", "gpt-image-1"),
            ("n", "2"),
            ("size", "1024x1024"),
            ("filename", "otter.png"),
        ) == snapshot
        assert 0 == file.tell()
        assert file.getvalue() in request.read()

    def test_form_snapshot_is_parsed(self) -> None:
        """An Exchange carrying a form snapshot gets the request model and the form's settings."""
        headers = (b"content-type", b"application/json", b"x-request-id", b"req_1")
        content = json.dumps(fx.GPT_IMAGE_EDIT).encode()
        exchange = Exchange(
            started_at_ns=1_700_000_000_000_000_000,
            method="POST",
            url=f"{BASE_URL}/images/edits",
            request_headers=(b"content-type", b"multipart/form-data; boundary=b"),
            request_body=None,
            status_code=200,
            response_headers=headers,
            response_chunks=[content],
            chunk_arrival_ns=[1000],
            response_bytes=len(content),
            response_truncated=False,
            complete=True,
            headers_ns=500,
            duration_ns=2000,
            request_form=(("model", "gpt-image-1"), ("n", "2"), ("filename", "otter.png")),
        )
        record = parse(exchange, record_id="r1")
        assert ("gpt-image-1", 2, "otter.png") == (
            record.request_model,
            record.extra["image"]["n"],
            record.extra["image"]["filename"],
        )


class TestFilesAndUploads:
    def test_file_upload_reaches_the_server_whole(self, harness: Harness, tmp_path: Path) -> None:
        """An uploaded file arrives whole; its id, name, purpose and size are recorded."""
        content = b'{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions"}\n' * 500
        upload = tmp_path / "requests.jsonl"
        upload.write_bytes(content)
        file_object = fx.file_object("file-abc123", "requests.jsonl", "batch", len(content))
        harness.server.on("POST", "/v1/files", json_reply(file_object))
        with upload.open("rb") as file:
            harness.client().files.create(file=file, purpose="batch")
        (received,) = harness.server.received
        assert content in received.body
        assert b'name="purpose"\r\n\r\nbatch' in received.body
        stored = harness.only()
        assert ("files.create", {"file_id": "file-abc123"}) == (
            stored.record.operation,
            stored.object_ids,
        )
        assert {
            "purpose": "batch",
            "filename": "requests.jsonl",
            "bytes": len(content),
            "status": "processed",
        } == stored.extra["file"]
        assert stored.detail.request_body is None

    def test_file_retrieve_content_delete(self, harness: Harness) -> None:
        """Calls on a file name it by id from the path."""
        file_object = fx.file_object("file-xyz", "data.jsonl", "fine-tune", 120)
        harness.server.on("GET", "/v1/files/file-xyz", json_reply(file_object))
        harness.server.on(
            "GET", "/v1/files/file-xyz/content", text_reply("{}\n", "application/octet-stream")
        )
        deleted = {"id": "file-xyz", "object": "file", "deleted": True}
        harness.server.on("DELETE", "/v1/files/file-xyz", json_reply(deleted))
        client = harness.client()
        client.files.retrieve("file-xyz")
        assert b"{}\n" == client.files.content("file-xyz").content
        client.files.delete("file-xyz")
        stored = harness.stored()
        assert [
            ("files.retrieve", "/v1/files/{file_id}"),
            ("files.content", "/v1/files/{file_id}/content"),
            ("files.delete", "/v1/files/{file_id}"),
        ] == [(s.record.operation, s.record.endpoint) for s in stored]
        assert [{"file_id": "file-xyz"}] * 3 == [s.object_ids for s in stored]
        assert "fine-tune" == stored[0].extra["file"]["purpose"]

    def test_upload_parts_and_complete(self, harness: Harness) -> None:
        """An upload's create, part and complete record upload, part and final file ids."""
        server = harness.server
        server.on("POST", "/v1/uploads", json_reply(fx.upload_object("pending")))
        server.on("POST", f"/v1/uploads/{fx.UPLOAD_ID}/parts", json_reply(fx.UPLOAD_PART))
        final_file = fx.file_object(
            "file-xyz321", "training_examples.jsonl", "fine-tune", 2_147_483_648
        )
        completed = fx.upload_object("completed", final_file)
        server.on("POST", f"/v1/uploads/{fx.UPLOAD_ID}/complete", json_reply(completed))
        client = harness.client()
        client.uploads.create(
            bytes=2_147_483_648,
            filename="training_examples.jsonl",
            mime_type="text/jsonl",
            purpose="fine-tune",
        )
        client.uploads.parts.create(fx.UPLOAD_ID, data=b"part one bytes")
        client.uploads.complete(fx.UPLOAD_ID, part_ids=[fx.UPLOAD_PART["id"]])
        create, part, complete = harness.stored()
        assert {"upload_id": fx.UPLOAD_ID} == create.object_ids
        assert {
            "purpose": "fine-tune",
            "filename": "training_examples.jsonl",
            "bytes": 2_147_483_648,
            "mime_type": "text/jsonl",
            "status": "pending",
        } == create.extra["upload"]
        assert (
            "uploads.parts.create",
            {"upload_id": fx.UPLOAD_ID, "upload_part_id": fx.UPLOAD_PART["id"]},
        ) == (
            part.record.operation,
            part.object_ids,
        )
        assert b"part one bytes" in harness.server.received[1].body
        assert {"upload_id": fx.UPLOAD_ID, "file_id": "file-xyz321"} == complete.object_ids
        assert "completed" == complete.extra["object_status"]


class TestBatches:
    def test_lifecycle(self, harness: Harness) -> None:
        """Create, retrieve, cancel and list record the batch id, status and request counts."""
        server = harness.server
        server.on("POST", "/v1/batches", json_reply(fx.batch_object("validating")))
        completed = fx.batch_object("completed", usage=fx.BATCH_USAGE)
        server.on("GET", f"/v1/batches/{fx.BATCH_ID}", json_reply(completed))
        server.on(
            "POST", f"/v1/batches/{fx.BATCH_ID}/cancel", json_reply(fx.batch_object("cancelling"))
        )
        page = {
            "object": "list",
            "data": [completed],
            "first_id": fx.BATCH_ID,
            "last_id": fx.BATCH_ID,
            "has_more": False,
        }
        server.on("GET", "/v1/batches", json_reply(page))
        client = harness.client()
        client.batches.create(
            input_file_id="file-abc123", endpoint="/v1/chat/completions", completion_window="24h"
        )
        client.batches.retrieve(fx.BATCH_ID)
        client.batches.cancel(fx.BATCH_ID)
        assert 1 == len(client.batches.list().data)
        create, retrieve, cancel, listing = harness.stored()
        assert {"batch_id": fx.BATCH_ID, "input_file_id": "file-abc123"} == create.object_ids
        assert {
            "status": "validating",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "request_counts": {"total": 100, "completed": 0, "failed": 0},
        } == create.extra["batch"]
        # A batch's usage shows only when polled: counted once, on the first completed poll.
        assert (fx.BATCH_USAGE["input_tokens"], True, "completed") == (
            retrieve.record.input_tokens,
            retrieve.extra["usage_counted_from_poll"],
            retrieve.extra["batch"]["status"],
        )
        assert "file-cvaTdG" == retrieve.object_ids["output_file_id"]
        # Priced there, as the chat completions it ran, at Batch API rates;
        # the calls that manage the batch cost nothing themselves.
        batch_rates = Pricer().price_usage(
            "gpt-4o-mini-2024-07-18",
            {
                "input_tokens": 1500,
                "output_tokens": 500,
                "cache_read_tokens": 0,
                "output_reasoning_tokens": 0,
            },
            at=retrieve.record.started_at,
            batch=True,
        )
        full_rates = Pricer().price_usage(
            "gpt-4o-mini-2024-07-18",
            {"input_tokens": 1500, "output_tokens": 500},
            at=retrieve.record.started_at,
        )
        assert (batch_rates.usd, True, [Decimal(0)] * 3) == (
            retrieve.record.cost_usd,
            batch_rates.usd is not None
            and full_rates.usd is not None
            and batch_rates.usd < full_rates.usd,
            [stored.record.cost_usd for stored in (create, cancel, listing)],
        )
        assert ("batches.cancel", "cancelling") == (
            cancel.record.operation,
            cancel.extra["object_status"],
        )
        assert ("batches.list", {}) == (listing.record.operation, listing.object_ids)


class TestFineTuningAndModels:
    def test_jobs_events_and_checkpoints(self, harness: Harness) -> None:
        """Fine-tuning calls record the job id, status and trained tokens."""
        server = harness.server
        server.on(
            "POST", "/v1/fine_tuning/jobs", json_reply(fx.fine_tuning_job("validating_files"))
        )
        succeeded = fx.fine_tuning_job("succeeded", trained_tokens=5768)
        server.on("GET", f"/v1/fine_tuning/jobs/{fx.JOB_ID}", json_reply(succeeded))
        server.on("GET", f"/v1/fine_tuning/jobs/{fx.JOB_ID}/events", json_reply(fx.JOB_EVENTS))
        server.on(
            "GET", f"/v1/fine_tuning/jobs/{fx.JOB_ID}/checkpoints", json_reply(fx.JOB_CHECKPOINTS)
        )
        client = harness.client()
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-abc123")
        client.fine_tuning.jobs.retrieve(fx.JOB_ID)
        client.fine_tuning.jobs.list_events(fx.JOB_ID)
        client.fine_tuning.jobs.checkpoints.list(fx.JOB_ID)
        create, retrieve, events, checkpoints = harness.stored()
        assert {
            "fine_tuning_job_id": fx.JOB_ID,
            "training_file_id": "file-abc123",
        } == create.object_ids
        assert {"status": "validating_files", "method": "supervised"} == create.extra["fine_tuning"]
        assert {
            "status": "succeeded",
            "trained_tokens": 5768,
            "fine_tuned_model": "ft:gpt-4o-mini:my-org:custom_suffix:9abel2Tx",
            "method": "supervised",
        } == retrieve.extra["fine_tuning"]
        assert [
            ("fine_tuning.jobs.events.list", "/v1/fine_tuning/jobs/{fine_tuning_job_id}/events"),
            (
                "fine_tuning.jobs.checkpoints.list",
                "/v1/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints",
            ),
        ] == [(s.record.operation, s.record.endpoint) for s in (events, checkpoints)]
        assert [{"fine_tuning_job_id": fx.JOB_ID}] * 2 == [
            s.object_ids for s in (events, checkpoints)
        ]

    def test_models(self, harness: Harness) -> None:
        """Models list, retrieve and delete; a fine-tuned model name is decoded from the path."""
        server = harness.server
        server.on("GET", "/v1/models", json_reply(fx.MODELS))
        server.on("GET", "/v1/models/gpt-4o-mini", json_reply(fx.MODELS["data"][0]))
        deleted = {"id": fx.FINE_TUNED_MODEL, "object": "model", "deleted": True}
        server.on("DELETE", "/v1/models/[^/]+", json_reply(deleted))
        client = harness.client()
        assert 2 == len(client.models.list().data)
        client.models.retrieve("gpt-4o-mini")
        client.models.delete(fx.FINE_TUNED_MODEL)
        listing, retrieve, delete = harness.stored()
        assert ("models.list", {}) == (listing.record.operation, listing.object_ids)
        assert ("models.retrieve", {"model": "gpt-4o-mini"}) == (
            retrieve.record.operation,
            retrieve.object_ids,
        )
        assert ("models.delete", "/v1/models/{model}", {"model": fx.FINE_TUNED_MODEL}) == (
            delete.record.operation,
            delete.record.endpoint,
            delete.object_ids,
        )


V2 = {"OpenAI-Beta": "assistants=v2"}


class TestAssistants:
    def test_assistant_thread_message(self, harness: Harness) -> None:
        """Assistants v2 objects record their ids; the beta header is kept with the request."""
        server = harness.server
        server.on("POST", "/v1/assistants", json_reply(fx.ASSISTANT))
        server.on("POST", "/v1/threads", json_reply(fx.THREAD))
        server.on("POST", "/v1/threads/thread_abc123/messages", json_reply(fx.MESSAGE))
        client = harness.client()
        client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])
        client.beta.threads.create()
        client.beta.threads.messages.create(
            "thread_abc123", role="user", content="Solve 3x + 11 = 14"
        )
        assistant, thread, message = harness.stored()
        assert ("assistants.create", {"assistant_id": "asst_abc123"}) == (
            assistant.record.operation,
            assistant.object_ids,
        )
        assert "assistants=v2" == assistant.detail.request_headers["openai-beta"]
        assert {"thread_id": "thread_abc123"} == thread.object_ids
        assert {"thread_id": "thread_abc123", "message_id": "msg_abc123"} == message.object_ids

    def test_v1_header_is_recorded_the_same_way(self, harness: Harness) -> None:
        """A v1 Assistants call (OpenAI-Beta: assistants=v1) routes and records like v2."""
        harness.server.on("POST", "/v1/assistants", json_reply(fx.ASSISTANT))
        harness.client(default_headers={"OpenAI-Beta": "assistants=v1"}).post(
            "/assistants", body={"model": "gpt-4o"}, cast_to=object
        )
        stored = harness.only()
        assert ("assistants.create", "assistants=v1", {"assistant_id": "asst_abc123"}) == (
            stored.record.operation,
            stored.detail.request_headers["openai-beta"],
            stored.object_ids,
        )

    def test_streamed_run_counts_usage_once(self, harness: Harness) -> None:
        """A streamed run takes usage from thread.run.completed; a later poll keeps it aside."""
        server = harness.server
        server.on("POST", "/v1/threads/thread_abc123/runs", fx.run_stream())
        completed = fx.run_object("completed", fx.RUN_USAGE)
        server.on("GET", "/v1/threads/thread_abc123/runs/run_abc123", json_reply(completed))
        server.on(
            "GET", "/v1/threads/thread_abc123/runs/run_abc123/steps", json_reply(fx.RUN_STEPS)
        )
        client = harness.client()
        stream = client.beta.threads.runs.create(
            "thread_abc123", assistant_id="asst_abc123", stream=True, extra_headers=V2
        )
        events = [event.event for event in stream]
        assert "thread.run.completed" == events[-1]
        client.beta.threads.runs.retrieve("run_abc123", thread_id="thread_abc123")
        client.beta.threads.runs.steps.list("run_abc123", thread_id="thread_abc123")
        run, poll, steps = harness.stored()
        assert ("threads.runs.create", True, True, ("completed",), (123, 456, 579)) == (
            run.record.operation,
            run.record.stream,
            run.record.complete,
            run.record.finish_reasons,
            run.usage,
        )
        ids = {"thread_id": "thread_abc123", "run_id": "run_abc123", "assistant_id": "asst_abc123"}
        assert ids == run.object_ids
        assert ("thread.run", "completed") == (run.extra["object_type"], run.extra["object_status"])
        assert ("threads.runs.retrieve", (None, None, None), fx.RUN_USAGE, "completed") == (
            poll.record.operation,
            poll.usage,
            poll.extra["object_usage"],
            poll.extra["object_status"],
        )
        assert ids == poll.object_ids
        assert (
            "threads.runs.steps.list",
            "/v1/threads/{thread_id}/runs/{run_id}/steps",
            {"thread_id": "thread_abc123", "run_id": "run_abc123"},
        ) == (steps.record.operation, steps.record.endpoint, steps.object_ids)

    def test_vector_stores(self, harness: Harness) -> None:
        """Vector store, file, file batch and search calls record their ids and progress."""
        server = harness.server
        server.on("POST", "/v1/vector_stores", json_reply(fx.VECTOR_STORE))
        server.on("POST", "/v1/vector_stores/vs_abc123/files", json_reply(fx.VECTOR_STORE_FILE))
        server.on(
            "POST",
            "/v1/vector_stores/vs_abc123/file_batches",
            json_reply(fx.VECTOR_STORE_FILE_BATCH),
        )
        server.on("POST", "/v1/vector_stores/vs_abc123/search", json_reply(fx.VECTOR_STORE_SEARCH))
        client = harness.client()
        client.vector_stores.create(name="Support FAQ")
        client.vector_stores.files.create("vs_abc123", file_id="file-abc123")
        client.vector_stores.file_batches.create("vs_abc123", file_ids=["file-1", "file-2"])
        client.vector_stores.search("vs_abc123", query="What is the return policy?")
        store, file, batch, search = harness.stored()
        assert ("vector_stores.create", {"vector_store_id": "vs_abc123"}, "completed") == (
            store.record.operation,
            store.object_ids,
            store.extra["object_status"],
        )
        assert {"vector_store_id": "vs_abc123", "file_id": "file-abc123"} == file.object_ids
        assert 1234 == file.extra["vector_store"]["usage_bytes"]
        assert {"vector_store_id": "vs_abc123", "file_batch_id": "vsfb_abc123"} == batch.object_ids
        assert 2 == batch.extra["vector_store"]["file_counts"]["total"]
        assert ("vector_stores.search", {"vector_store_id": "vs_abc123"}) == (
            search.record.operation,
            search.object_ids,
        )


class TestAdministration:
    @pytest.fixture
    def admin(self, harness: Harness) -> Any:
        client = openai.OpenAI(
            api_key=API_KEY,
            admin_api_key="sk-admin-Zx81TESTKEYdoNotLeak0123456789abcdef",
            base_url=BASE_URL,
            http_client=harness.http_client(),
        )
        if not hasattr(client, "admin"):
            pytest.skip("this openai SDK has no admin resources")
        return client.admin.organization

    def test_organization_and_projects(self, harness: Harness, admin: Any) -> None:
        """Invites, users, projects, project users, service accounts, keys and rate limits."""
        server = harness.server
        server.on("POST", "/v1/organization/invites", json_reply(fx.INVITE))
        server.on("GET", "/v1/organization/users", json_reply(fx.USERS))
        server.on("POST", "/v1/organization/projects", json_reply(fx.PROJECT))
        server.on("POST", "/v1/organization/projects/proj_abc/users", json_reply(fx.PROJECT_USER))
        server.on(
            "POST",
            "/v1/organization/projects/proj_abc/service_accounts",
            json_reply(fx.SERVICE_ACCOUNT),
        )
        server.on(
            "GET", "/v1/organization/projects/proj_abc/api_keys", json_reply(fx.PROJECT_API_KEYS)
        )
        server.on(
            "GET", "/v1/organization/projects/proj_abc/rate_limits", json_reply(fx.RATE_LIMITS)
        )
        admin.invites.create(email="anotheruser@example.com", role="reader")
        admin.users.list()
        admin.projects.create(name="Project ABC")
        admin.projects.users.create("proj_abc", role="owner", user_id="user_abc")
        admin.projects.service_accounts.create("proj_abc", name="Production App")
        admin.projects.api_keys.list("proj_abc")
        admin.projects.rate_limits.list_rate_limits("proj_abc")
        stored = harness.stored()
        assert [
            ("organization.invites.create", {"invite_id": "invite-def"}),
            ("organization.users.list", {}),
            ("organization.projects.create", {"project_id": "proj_abc"}),
            (
                "organization.projects.users.create",
                {"project_id": "proj_abc", "user_id": "user_abc"},
            ),
            (
                "organization.projects.service_accounts.create",
                {"project_id": "proj_abc", "service_account_id": "svc_acct_abc"},
            ),
            ("organization.projects.api_keys.list", {"project_id": "proj_abc"}),
            ("organization.projects.rate_limits.list", {"project_id": "proj_abc"}),
        ] == [(s.record.operation, s.object_ids) for s in stored]
        # The service account's new key is redacted in the stored body.
        assert "sk-svcacct-Qm9y" not in (stored[4].detail.response_body or "")

    def test_audit_logs_usage_and_costs(self, harness: Harness, admin: Any) -> None:
        """Audit logs, organization usage and costs are named operations, never token usage."""
        server = harness.server
        server.on("GET", "/v1/organization/audit_logs", json_reply(fx.AUDIT_LOGS))
        server.on("GET", "/v1/organization/usage/completions", json_reply(fx.USAGE_COMPLETIONS))
        server.on("GET", "/v1/organization/costs", json_reply(fx.COSTS))
        admin.audit_logs.list()
        admin.usage.completions(start_time=fx.CREATED)
        admin.usage.costs(start_time=fx.CREATED)
        stored = harness.stored()
        assert [
            ("organization.audit_logs.list", "/v1/organization/audit_logs"),
            ("organization.usage.completions", "/v1/organization/usage/completions"),
            ("organization.costs", "/v1/organization/costs"),
        ] == [(s.record.operation, s.record.endpoint) for s in stored]
        assert [None] * 3 == [s.record.input_tokens for s in stored]
        assert "[redacted]" == stored[0].detail.request_headers["authorization"]


class TestAnythingElse:
    def test_unknown_endpoint_is_recorded_generically(self, harness: Harness) -> None:
        """An unknown path is still stored: method, template, status and headers."""
        harness.server.on(
            "POST", "/v1/widgets/wdg_8f3a2b1c9d/activate", json_reply({"ok": True}, status=202)
        )
        harness.client().post("/widgets/wdg_8f3a2b1c9d/activate", body={}, cast_to=object)
        stored = harness.only()
        assert ("POST", "unknown", "/v1/widgets/{id}/activate", 202, True) == (
            stored.record.method,
            stored.record.operation,
            stored.record.endpoint,
            stored.record.status_code,
            stored.record.complete,
        )
        assert ("req_0123456789abcdef", "openai") == (stored.record.request_id, stored.provider)


AZURE_KEY = "0123456789abcdef0123456789abcdef"


class TestAzure:
    def test_deployment_stream_with_empty_first_chunk(self, harness: Harness) -> None:
        """Azure deployment stream: model from the chunks, api-key redacted, Azure headers kept."""
        server = EndpointServer(harness.lib, headers=fx.AZURE_HEADERS)
        server.on("POST", "/openai/deployments/gpt4o-prod/chat/completions", fx.azure_chat_stream())
        client = openai.AzureOpenAI(
            api_key=AZURE_KEY,
            api_version="2024-10-21",
            azure_endpoint="https://contoso-eu.openai.azure.com",
            http_client=harness.http_client(server),
        )
        stream = client.chat.completions.create(
            model="gpt4o-prod",
            messages=USER_MESSAGE,
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        assert "Hello from Azure" == text
        stored = harness.only()
        record = stored.record
        assert (
            "chat",
            "/openai/deployments/{deployment}/chat/completions",
            "gpt-4o-2024-11-20",
            (11, 3, 14),
            ("stop",),
            True,
        ) == (
            record.operation,
            record.endpoint,
            record.response_model,
            stored.usage,
            record.finish_reasons,
            record.complete,
        )
        assert ("azure.ai.openai", {"deployment": "gpt4o-prod"}) == (
            stored.provider,
            stored.object_ids,
        )
        assert "[redacted]" == stored.detail.request_headers["api-key"]
        headers = stored.detail.response_headers
        assert ("Sweden Central", fx.AZURE_HEADERS["apim-request-id"], "d089-20250417143218") == (
            headers["x-ms-region"],
            headers["apim-request-id"],
            headers["azureml-model-session"],
        )
        assert "api-version=2024-10-21" in record.url
        assert AZURE_KEY not in str(stored.detail)

    def test_v1_form(self, harness: Harness) -> None:
        """The newer /openai/v1/ Azure form is the same chat, named azure.ai.openai."""
        server = EndpointServer(harness.lib, headers=fx.AZURE_HEADERS)
        server.on(
            "POST", "/openai/v1/chat/completions", json_reply(fx.compatible_chat("gpt-4.1-mini"))
        )
        client = openai.OpenAI(
            api_key=AZURE_KEY,
            base_url="https://contoso-eu.openai.azure.com/openai/v1/",
            http_client=harness.http_client(server),
        )
        client.chat.completions.create(model="gpt-4.1-mini", messages=USER_MESSAGE)
        stored = harness.only()
        assert ("chat", "/openai/v1/chat/completions", "azure.ai.openai", 9) == (
            stored.record.operation,
            stored.record.endpoint,
            stored.provider,
            stored.record.total_tokens,
        )


COMPATIBLE_HOSTS = [
    ("https://openrouter.ai/api/v1", "openrouter", "/api/v1/chat/completions"),
    ("https://api.groq.com/openai/v1", "groq", "/openai/v1/chat/completions"),
    ("https://api.deepseek.com", "deepseek", "/chat/completions"),
    ("https://api.mistral.ai/v1", "mistral_ai", "/v1/chat/completions"),
    ("https://api.together.xyz/v1", "together", "/v1/chat/completions"),
    ("http://localhost:11434/v1", "ollama", "/v1/chat/completions"),
    ("http://vllm.internal:8000/v1", "vllm", "/v1/chat/completions"),
    ("http://litellm-proxy:4000", "litellm", "/chat/completions"),
    ("http://10.0.0.7:8080/v1", "openai_compatible", "/v1/chat/completions"),
]


@pytest.mark.parametrize(("base_url", "provider", "endpoint"), COMPATIBLE_HOSTS)
def test_compatible_servers(harness: Harness, base_url: str, provider: str, endpoint: str) -> None:
    """Any OpenAI-compatible server is recorded the same way, with its provider named."""
    harness.server.on("POST", ".*/chat/completions", json_reply(fx.compatible_chat("llama-3.1-8b")))
    harness.client(base_url=base_url).chat.completions.create(
        model="llama-3.1-8b", messages=USER_MESSAGE
    )
    stored = harness.only()
    assert ("chat", endpoint, provider, "llama-3.1-8b", 9) == (
        stored.record.operation,
        stored.record.endpoint,
        stored.provider,
        stored.record.response_model,
        stored.record.total_tokens,
    )


class TestProviderFor:
    @pytest.mark.parametrize(
        ("host", "path", "expected"),
        [
            ("api.openai.com", "/v1/chat/completions", "openai"),
            ("API.OpenAI.com:443", "/v1/responses", "openai"),
            ("myres.openai.azure.com", "/openai/deployments/d/chat/completions", "azure.ai.openai"),
            ("myres.cognitiveservices.azure.com", "/openai/v1/responses", "azure.ai.openai"),
            ("gateway.contoso.com", "/openai/deployments/d/chat/completions", "azure.ai.openai"),
            ("generativelanguage.googleapis.com", "/v1beta/openai/chat/completions", "gcp.gemini"),
            ("api.x.ai", "/v1/chat/completions", "x_ai"),
            ("[::1]:11434", "/v1/chat/completions", "ollama"),
            ("ollama", "/v1/chat/completions", "ollama"),
            ("localhost:8000", "/v1/chat/completions", "openai_compatible"),
            ("notopenai.com", "/v1/chat/completions", "openai_compatible"),
        ],
    )
    def test_names(self, host: str, path: str, expected: str) -> None:
        """Hosts map to OTel GenAI provider names; unknown hosts are openai_compatible."""
        assert expected == provider_for(host, path)


class TestPureHelpers:
    def test_path_ids_decode_segments_and_skip_generic_placeholders(self) -> None:
        """Path ids are URL-decoded; `{id}` of unknown endpoints and `{version}` are not ids."""
        assert {"model": "ft:gpt-4o-mini:org:x:abc"} == path_ids(
            "/v1/models/{model}", "/v1/models/ft%3Agpt-4o-mini%3Aorg%3Ax%3Aabc"
        )
        assert {} == path_ids("/v1/widgets/{id}", "/v1/widgets/wdg_12345678")
        assert {"skill_id": "skill_1"} == path_ids(
            "/v1/skills/{skill_id}/versions/{version}", "/v1/skills/skill_1/versions/3"
        )

    def test_deleted_objects_and_linked_ids(self) -> None:
        """`*.deleted` objects name their id; a message names its thread, run and assistant."""
        ids: dict[str, str] = {}
        extra = object_facts(
            "threads.delete",
            ids,
            None,
            ResponseView({"id": "thread_1", "object": "thread.deleted"}),
        )
        assert ({"thread_id": "thread_1"}, {"object_type": "thread"}) == (ids, extra)
        ids = {}
        message = {**fx.MESSAGE, "run_id": "run_9", "assistant_id": "asst_9"}
        object_facts("threads.messages.retrieve", ids, None, ResponseView(message))
        assert {
            "message_id": "msg_abc123",
            "thread_id": "thread_abc123",
            "run_id": "run_9",
            "assistant_id": "asst_9",
        } == ids

    def test_multipart_fields_skip_long_values_and_file_contents(self) -> None:
        """Only short text fields are taken; file parts give their filename, not their bytes."""
        body = (
            b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
            + b"p" * 500
            + b'\r\n--b\r\nContent-Disposition: form-data; name="n"\r\n\r\n2\r\n'
            b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--b--\r\n"
        )
        fields = multipart_fields(body)
        assert ({"n": "2"}, {"image": "a.png"}) == (fields.values, fields.filenames)
