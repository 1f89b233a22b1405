"""The incremental SSE decoder and the stream accumulator."""

from __future__ import annotations

import bisect
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oaitrace import _json as json_module
from oaitrace import _sse as sse_module
from oaitrace._parse import parse
from oaitrace._sse import SSEDecoder, SSEEvent, StreamAccumulator, plain_events
from tests.corpus import build_exchange


def decode_all(*chunks: bytes) -> list[SSEEvent]:
    """Every event of the chunks fed in order, then flushed."""
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events + decoder.flush()


def chat_chunk(**fields: Any) -> bytes:
    """One chat completion chunk as an SSE `data:` event."""
    payload = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
    payload.update(fields)
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


class TestSSEDecoder:
    def test_single_event(self) -> None:
        """A data line and a blank line make one event."""
        assert [SSEEvent(data="hello")] == decode_all(b"data: hello\n\n")

    def test_event_name_id_and_retry(self) -> None:
        """`event:`, `id:` and `retry:` fields are kept on the event."""
        assert [SSEEvent(data="x", event="ping", id="7", retry=1500)] == decode_all(
            b"event: ping\nid: 7\nretry: 1500\ndata: x\n\n"
        )

    def test_multi_line_data_joins_with_newline(self) -> None:
        """Several data lines join with a line feed."""
        assert [SSEEvent(data="a\nb\n")] == decode_all(b"data: a\ndata:b\ndata\n\n")

    def test_comments_and_unknown_fields_are_ignored(self) -> None:
        """Comment lines and unknown fields do not make events."""
        assert [SSEEvent(data="x")] == decode_all(b": keep-alive\n\nfoo: bar\ndata: x\n\n")

    def test_id_persists_across_events(self) -> None:
        """The last event id carries over to later events, as the standard says."""
        events = decode_all(b"id: 1\ndata: a\n\ndata: b\n\n")
        assert [event.id for event in events] == ["1", "1"]

    def test_line_endings(self) -> None:
        """CRLF, LF and lone CR all end lines, even mixed in one stream."""
        expected = [SSEEvent(data="a"), SSEEvent(data="b"), SSEEvent(data="c")]
        assert expected == decode_all(b"data: a\r\n\r\ndata: b\n\ndata: c\r\r")

    def test_flush_dispatches_an_unterminated_event(self) -> None:
        """A stream ending without the final blank line still yields its event."""
        assert [SSEEvent(data="[DONE]")] == decode_all(b"data: [DONE]")
        assert [SSEEvent(data="x")] == decode_all(b"data: x\r\n")

    def test_byte_order_mark_is_ignored(self) -> None:
        """A UTF-8 BOM before the first line is not part of the field name."""
        assert [SSEEvent(data="x")] == decode_all(b"\xef\xbb\xbfdata: x\n\n")

    def test_split_between_cr_and_lf(self) -> None:
        """A CR at the end of one chunk and LF at the start of the next are one line end."""
        assert [SSEEvent(data="a"), SSEEvent(data="b")] == decode_all(
            b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"
        )

    def test_split_inside_a_utf8_character(self) -> None:
        """A multi-byte character cut between chunks decodes whole."""
        encoded = "data: caf\u00e9 \U0001f30d\n\n".encode()
        assert [SSEEvent(data="caf\u00e9 \U0001f30d")] == decode_all(encoded[:10], encoded[10:])

    def test_every_two_piece_split(self) -> None:
        """Splitting a stream at any single offset gives the same events."""
        stream = b"event: e\r\ndata: \xc3\xa9\r\n\r\n: c\rdata: 2\r\r"
        whole = decode_all(stream)
        for offset in range(len(stream) + 1):
            assert whole == decode_all(stream[:offset], stream[offset:]), offset


MIXED_STREAM = (
    chat_chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}])
    + chat_chunk(
        choices=[{"index": 0, "delta": {"content": "h\u00e9llo \U0001f30d \u4e16\u754c"}}]
    ).replace(b"\n\n", b"\r\n\r\n")
    + b": keep-alive\r"
    + b"\r"
    + chat_chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
    + chat_chunk(
        choices=[],
        usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
    ).replace(b"\n\n", b"\r\r")
    + b"data: [DONE]\n\n"
)


def split_at(data: bytes, offsets: list[int]) -> list[bytes]:
    """The data cut at the given offsets (duplicates and order do not matter)."""
    cuts = [0, *sorted(set(offsets)), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(cuts)]


def record_fields(chunks: list[bytes]) -> tuple[object, ...]:
    """The Record fields that must not depend on where the stream was cut."""
    record = parse(
        build_exchange(
            request_body=b'{"model": "gpt-4o-mini", "stream": true}',
            response_headers=[("content-type", "text/event-stream")],
            chunks=chunks,
        ),
        record_id="r",
    )
    return (
        record.stream,
        record.response_model,
        record.response_id,
        record.input_tokens,
        record.output_tokens,
        record.total_tokens,
        record.finish_reasons,
        record.parse_error,
        record.response_body,
    )


class TestArbitrarySplits:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.integers(min_value=0, max_value=len(MIXED_STREAM)), max_size=25))
    def test_same_events_and_record_wherever_the_stream_is_cut(self, offsets: list[int]) -> None:
        """Cuts anywhere (inside characters, between CR and LF) change nothing parsed."""
        pieces = split_at(MIXED_STREAM, offsets)
        assert decode_all(MIXED_STREAM) == decode_all(*pieces)
        assert record_fields([MIXED_STREAM]) == record_fields(pieces)

    def test_the_unsplit_stream_is_what_the_property_compares_against(self) -> None:
        """The reference parse of the mixed stream has its model, usage and text."""
        assert (
            True,
            "gpt-4o-mini",
            "chatcmpl-1",
            9,
            4,
            13,
            ("stop",),
            None,
            MIXED_STREAM.decode(),
        ) == record_fields([MIXED_STREAM])


def incremental_events(chunks: list[bytes]) -> list[tuple[SSEEvent, int]]:
    """Each event `SSEDecoder` gives, with the index of the chunk that completed it."""
    decoder = SSEDecoder()
    found = [(event, index) for index, chunk in enumerate(chunks) for event in decoder.feed(chunk)]
    return found + [(event, len(chunks) - 1) for event in decoder.flush()]


# Lines of which the property below builds streams: plain ones and every kind
# of framing the plain splitter must hand back to the incremental decoder.
STREAM_LINES = st.sampled_from(
    [
        b'data: {"a":1}\n\n',
        b"data: [DONE]\n\n",
        b"data: \n\n",
        b"data: caf\xc3\xa9\n\n",
        b"data: \xff broken \xe2\x82\n\n",
        b"event: response.created\ndata: {}\n\n",
        b"event: ping\n\n",
        b"data:x\n\n",
        b": comment\n\n",
        b"id: 4\ndata: y\n\n",
        b"data: a\ndata: b\n\n",
        b"data: cr\r\n\r\n",
        b"\n",
        b"data: unfinished",
    ]
)


class TestPlainEvents:
    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(STREAM_LINES, max_size=8),
        st.lists(st.integers(min_value=0, max_value=200), max_size=6),
        st.booleans(),
    )
    def test_same_events_and_chunks_as_the_decoder(
        self, lines: list[bytes], offsets: list[int], with_bom: bool
    ) -> None:
        """Where the splitter takes a stream, it finds what the decoder finds, each
        event completed by the same chunk; everything else it hands back (None)."""
        content = (b"\xef\xbb\xbf" if with_bom else b"") + b"".join(lines)
        chunks = split_at(content, [offset for offset in offsets if offset <= len(content)])
        plain = plain_events(content)
        if plain is not None:
            ends = list(itertools.accumulate(map(len, chunks)))
            split = [
                (SSEEvent(data, name), bisect.bisect_left(ends, end)) for data, name, end in plain
            ]
            assert incremental_events(chunks) == split

    def test_plain_framing_is_taken(self) -> None:
        """OpenAI's own framing, chat and Responses, takes the fast path."""
        content = b'data: {"a":1}\n\nevent: response.done\ndata: {}\n\ndata: [DONE]\n\n'
        assert [('{"a":1}', None, 15), ("{}", "response.done", 46), ("[DONE]", None, 60)] == (
            plain_events(content)
        )

    @pytest.mark.parametrize(
        "content",
        [
            b"data: a\r\n\r\n",
            b": hi\n\ndata: a\n\n",
            b"data: a\n\ndata: b",
            b"id: 1\ndata: a\n\n",
            b"data: a\ndata: b\n\n",
            b"data: \xff\n\n",
        ],
    )
    def test_other_framing_is_handed_back(self, content: bytes) -> None:
        """CR line ends, comments, a half-sent event, id fields, two data lines and
        invalid UTF-8 go to the decoder."""
        assert plain_events(content) is None


def accumulate(*events: SSEEvent) -> StreamAccumulator:
    """An accumulator fed the events, event i as completed by chunk i."""
    accumulator = StreamAccumulator()
    for index, event in enumerate(events):
        accumulator.add(event, index)
    return accumulator


def data(payload: dict[str, Any], event: str | None = None) -> SSEEvent:
    """An event carrying the JSON payload."""
    return SSEEvent(data=json.dumps(payload), event=event)


class TestStreamAccumulator:
    def test_chat_first_content_skips_role_only_delta(self) -> None:
        """The role-only opening delta is not content; the first text is."""
        accumulator = accumulate(
            data({"model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
            data({"model": "m", "choices": [{"index": 0, "delta": {"content": ""}}]}),
            data({"model": "m", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}),
        )
        assert accumulator.first_content_chunk == 2

    def test_chat_tool_call_is_content(self) -> None:
        """A tool call delta counts as the first generated output."""
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}
        accumulator = accumulate(data({"choices": [{"index": 0, "delta": delta}]}))
        assert accumulator.first_content_chunk == 0

    def test_azure_opening_chunk_leaves_model_and_id_alone(self) -> None:
        """Azure's first chunk (empty choices, model "") does not blank the model."""
        accumulator = accumulate(
            data({"id": "", "model": "", "choices": [], "prompt_filter_results": []}),
            data({"id": "c-1", "model": "gpt-4o", "choices": [{"index": 0, "delta": {}}]}),
        )
        assert (accumulator.model, accumulator.response_id) == ("gpt-4o", "c-1")

    def test_finish_reasons_follow_choice_index(self) -> None:
        """With n > 1, finish reasons come out in choice order."""
        accumulator = accumulate(
            data({"choices": [{"index": 1, "delta": {}, "finish_reason": "length"}]}),
            data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        )
        assert accumulator.finish_reasons == ("stop", "length")

    def test_late_chunks_that_matter_are_never_skipped(self) -> None:
        """After the first content, spaced JSON, n > 1 choices and usage are still read."""
        content = {"model": "m", "choices": [{"index": 0, "delta": {"content": "a"}}]}
        accumulator = accumulate(
            data(content),
            data({**content, "choices": [{"index": 0, "delta": {"content": "b"}}]}),
            data(
                {
                    "model": "m",
                    "choices": [
                        {"index": 0, "delta": {}, "finish_reason": None},
                        {"index": 1, "delta": {}, "finish_reason": "stop"},
                    ],
                }
            ),
            data({"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}),
            data({"model": "m", "choices": [], "usage": {"prompt_tokens": 3}}),
        )
        assert (accumulator.finish_reasons, accumulator.usage) == (
            ("length", "stop"),
            {"prompt_tokens": 3},
        )

    def test_include_usage_null_chunks_are_not_parsed(self, monkeypatch: Any) -> None:
        """`"usage":null` on every chunk (include_usage) does not make it worth parsing.

        The content chunks in between are skipped; the usage chunk at the end
        and the finish reason are still read.
        """
        decoded: list[str] = []
        real_decode = json_module.loads

        def counting_decode(text: str) -> Any:
            decoded.append(text)
            return real_decode(text)

        monkeypatch.setattr(sse_module, "loads", counting_decode)  # the name _sse calls

        def chunk(delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return data({"model": "m", "choices": [choice], "usage": None})

        accumulator = accumulate(
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "a"}),
            *[chunk({"content": str(index)}) for index in range(10)],
            chunk({}, "stop"),
            data({"model": "m", "choices": [], "usage": {"prompt_tokens": 3}}),
        )
        assert (accumulator.finish_reasons, accumulator.usage, len(decoded)) == (
            ("stop",),
            {"prompt_tokens": 3},
            4,
        )

    def test_legacy_completion_text_is_content(self) -> None:
        """Legacy completion chunks carry `text`, not a delta."""
        accumulator = accumulate(
            data({"object": "text_completion", "choices": [{"index": 0, "text": ""}]}),
            data({"object": "text_completion", "choices": [{"index": 0, "text": "Once"}]}),
        )
        assert accumulator.first_content_chunk == 1

    def test_responses_stream(self) -> None:
        """Responses events give id, model, usage, first delta and the final status."""
        response = {"id": "resp_1", "object": "response", "model": "gpt-4o", "usage": None}
        usage = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
        accumulator = accumulate(
            data({"type": "response.created", "response": {**response, "status": "in_progress"}}),
            data({"type": "response.output_item.added"}),
            data({"type": "response.output_text.delta", "delta": "Hi"}),
            data(
                {
                    "type": "response.incomplete",
                    "response": {
                        **response,
                        "status": "incomplete",
                        "incomplete_details": {"reason": "max_output_tokens"},
                        "usage": usage,
                    },
                },
                event="response.incomplete",
            ),
        )
        assert ("resp_1", "gpt-4o", usage, 2, ("max_output_tokens",)) == (
            accumulator.response_id,
            accumulator.model,
            accumulator.usage,
            accumulator.first_content_chunk,
            accumulator.finish_reasons,
        )

    def test_responses_error_event(self) -> None:
        """An `error` event is kept as the stream's error."""
        accumulator = accumulate(
            data({"type": "error", "code": "server_error", "message": "boom", "param": None})
        )
        assert accumulator.error is not None
        assert (
            accumulator.error["code"],
            accumulator.error["message"],
        ) == ("server_error", "boom")

    def test_assistants_run_stream(self) -> None:
        """Run events give the run id, model, status and usage; step usage is ignored."""
        run = {"id": "run_1", "object": "thread.run", "model": "gpt-4o", "usage": None}
        run_usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        accumulator = accumulate(
            data({**run, "status": "queued"}, event="thread.run.created"),
            data({"id": "msg_1", "delta": {"content": []}}, event="thread.message.delta"),
            data(
                {"id": "step_1", "usage": {"prompt_tokens": 1}}, event="thread.run.step.completed"
            ),
            data({**run, "status": "completed", "usage": run_usage}, event="thread.run.completed"),
            SSEEvent(data="[DONE]", event="done"),
        )
        assert ("run_1", "gpt-4o", run_usage, 1, ("completed",), True) == (
            accumulator.response_id,
            accumulator.model,
            accumulator.usage,
            accumulator.first_content_chunk,
            accumulator.finish_reasons,
            accumulator.done,
        )

    def test_transcription_stream(self) -> None:
        """Transcript deltas are content; the done event carries usage."""
        usage = {"type": "tokens", "input_tokens": 37, "output_tokens": 12, "total_tokens": 49}
        accumulator = accumulate(
            data({"type": "transcript.text.delta", "delta": "Ruby"}),
            data({"type": "transcript.text.done", "text": "Ruby", "usage": usage}),
        )
        assert (0, usage) == (accumulator.first_content_chunk, accumulator.usage)

    def test_invalid_json_is_counted(self) -> None:
        """An event whose data is not JSON is counted, not raised."""
        accumulator = accumulate(SSEEvent(data="{not json"))
        assert (accumulator.invalid_events, accumulator.last_event_invalid) == (1, True)

    def test_mid_stream_error_object(self) -> None:
        """A chat stream that sends {"error": ...} keeps it."""
        accumulator = accumulate(data({"error": {"message": "overloaded", "type": "server_error"}}))
        assert accumulator.error == {"message": "overloaded", "type": "server_error"}
