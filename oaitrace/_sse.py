"""Server-Sent Events: an incremental decoder and the accumulator of OpenAI streams.

The decoder follows the WHATWG event-stream rules (any of CRLF, LF or CR ends
a line; `data:` lines join with LF; `:` starts a comment) and accepts chunks
split anywhere, even inside a UTF-8 character or between CR and LF.

The accumulator folds the events of one stream, whichever API produced it,
into what a Record needs: model, id, usage, finish reasons, an error, and the
index of the raw chunk that completed the first content event.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from ._json import loads

__all__ = [
    "FINAL_STATUSES",
    "SSEDecoder",
    "SSEEvent",
    "StreamAccumulator",
    "plain_events",
    "take_response_params",
]


class SSEEvent(NamedTuple):
    """One dispatched event; `event` is None when the stream gave no `event:` line.

    A NamedTuple rather than a frozen dataclass: one is made per event, and
    tuple construction is several times cheaper.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Turns stream bytes into `SSEEvent`s, whatever the chunk boundaries.

    Example::

        decoder = SSEDecoder()
        events = decoder.feed(b"data: {}\\n") + decoder.feed(b"\\n") + decoder.flush()
    """

    __slots__ = ("_data", "_event", "_first_line", "_id", "_partial", "_retry", "_skip_lf")

    def __init__(self) -> None:
        # Bytes of a line whose end has not arrived yet.
        self._partial: list[bytes] = []
        # The previous chunk ended in CR: an LF opening the next one belongs to it.
        self._skip_lf = False
        self._first_line = True
        self._event: str | None = None
        # Data lines as bytes: decoded once per event, never per line. Lines
        # end at ASCII bytes, so no character is ever split between two.
        self._data: list[bytes] = []
        # The last event id persists across events, as the standard says.
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events completed by this chunk, in order."""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\n" not in chunk and b"\r" not in chunk:
            if chunk:
                self._partial.append(chunk)
            return []
        if self._partial:
            self._partial.append(chunk)
            chunk = b"".join(self._partial)
            self._partial = []
        lines = chunk.splitlines()
        last_byte = chunk[-1:]
        if last_byte == b"\r":
            self._skip_lf = True
        elif last_byte != b"\n":
            self._partial.append(lines.pop())
        if self._first_line and lines:
            self._first_line = False
            lines[0] = lines[0].removeprefix(_BYTE_ORDER_MARK)
        events: list[SSEEvent] = []
        data = self._data
        # The per-line work is inlined: this loop runs for every line of every stream.
        for line in lines:
            if line[:6] == b"data: ":
                data.append(line[6:])
            elif line:
                self._take_field(line)
            elif data or self._event is not None:
                events.append(self._dispatch())
        return events

    def flush(self) -> list[SSEEvent]:
        """Events still pending when the stream ends without a final blank line."""
        if self._partial:
            line = b"".join(self._partial)
            self._partial = []
            if self._first_line:
                self._first_line = False
                line = line.removeprefix(_BYTE_ORDER_MARK)
            if line:
                self._take_field(line)
        if self._data or self._event is not None:
            return [self._dispatch()]
        return []

    def _take_field(self, line: bytes) -> None:
        if line[:1] == b":":
            return
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        elif field == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif field == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent:
        data = self._data
        joined = data[0] if len(data) == 1 else b"\n".join(data)
        event = SSEEvent(joined.decode("utf-8", "replace"), self._event, self._id, self._retry)
        # Cleared in place: `feed` holds a reference to the list.
        data.clear()
        self._event = None
        self._retry = None
        return event


_BYTE_ORDER_MARK: Final = b"\xef\xbb\xbf"


def plain_events(content: bytes) -> list[tuple[str, str | None, int]] | None:
    """(data, event name, offset where it ends) of each event of a stream framed the plain way.

    Plain framing is what OpenAI and most compatible servers send: LF line
    ends only, and every event one `data: ` line, optionally after one
    `event: ` line, closed by a blank line. Splitting such a body at once is
    several times cheaper than feeding `SSEDecoder` chunk by chunk, and
    gives the same events. Anything else (CR, comments, `id:` or `retry:`
    fields, multi-line data, a half-sent last event, a byte order mark,
    invalid UTF-8) returns None: the caller then uses `SSEDecoder`.

    Offsets are in bytes of `content`; the text is decoded once, not event
    by event.
    """
    if content[-2:] != b"\n\n" or b"\r" in content or content[:3] == _BYTE_ORDER_MARK:
        return None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    ascii_only = len(text) == len(content)
    events: list[tuple[str, str | None, int]] = []
    named = 0
    end = 0
    for block in text[:-2].split("\n\n"):
        # Offsets count bytes; only non-ASCII text needs encoding to count them.
        end += (len(block) if ascii_only else len(block.encode("utf-8"))) + 2
        if block[:6] == "data: ":
            events.append((block[6:], None, end))
        elif block[:7] == "event: ":
            named += 1
            name, _, data_line = block.partition("\n")
            if data_line[:6] != "data: ":
                return None
            events.append((data_line[6:], name[7:], end))
        else:
            return None
    # Two LFs end each event and one more follows each `event:` line: any
    # other LF is a line this fast path does not read (a second data line).
    if text.count("\n") != 2 * len(events) + named:
        return None
    return events


# Keys of a chat completion delta that carry generated output.
_CHAT_CONTENT_KEYS: Final = (
    "content",
    "tool_calls",
    "refusal",
    "audio",
    "function_call",
    # Reasoning text of compatible servers (DeepSeek, vLLM, OpenRouter): the
    # first generated token as much as visible content is.
    "reasoning_content",
    "reasoning",
)
# Event types of transcription, speech and assistants streams that carry output.
_CONTENT_EVENTS: Final = frozenset(
    {
        "transcript.text.delta",
        "transcript.text.segment",
        "speech.audio.delta",
        "thread.message.delta",
        "thread.run.step.delta",
    }
)
# Statuses of a Response or a Run that end it; anything else is not a finish reason.
FINAL_STATUSES: Final = frozenset(
    {"completed", "incomplete", "failed", "cancelled", "expired", "requires_action"}
)


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


class StreamAccumulator:
    """Folds the events of one stream into model, id, usage, finish reasons and errors.

    Understands chat and legacy completion chunks, Responses API events,
    Assistants run events, and audio transcription and speech events. Call
    `add` for each event with the index of the raw chunk that completed it.
    """

    def __init__(self) -> None:
        self.model: str | None = None
        self.response_id: str | None = None
        self.usage: dict[str, Any] | None = None
        # {"type", "code", "message", "param"} of an error event, as sent.
        self.error: dict[str, Any] | None = None
        self.first_content_chunk: int | None = None
        self.done = False
        self.invalid_events = 0
        self.last_event_invalid = False
        self._choice_finish_reasons: dict[int, str] = {}
        self._status: str | None = None
        self._incomplete_reason: str | None = None
        self._saw_choices = False
        # `service_tier` and `system_fingerprint` as the stream reported them.
        self.response_params: dict[str, str] = {}
        # The last Response or Run object the stream carried (ids, status).
        self.final_object: dict[str, Any] | None = None

    @property
    def ended(self) -> bool:
        """True once the stream said it is over: `[DONE]` or a final Response/Run status."""
        return self.done or self._status is not None

    @property
    def finish_reasons(self) -> tuple[str, ...] | None:
        """Per-choice finish reasons in choice order, else the final status; None if neither."""
        if self._choice_finish_reasons:
            return tuple(
                self._choice_finish_reasons[index] for index in sorted(self._choice_finish_reasons)
            )
        if self._status is None:
            return None
        if self._status == "incomplete" and self._incomplete_reason is not None:
            return (self._incomplete_reason,)
        return (self._status,)

    def add(self, event: SSEEvent, chunk_index: int) -> None:
        """Take one event into account."""
        self.add_data(event.data, event.event, chunk_index)

    def add_data(self, data: str, name: str | None, chunk_index: int) -> None:
        """`add` for an event given as its data and name (no `SSEEvent` made)."""
        self.last_event_invalid = False
        if data == "[DONE]":
            self.done = True
            return
        if not data:
            return
        if name is not None and name.endswith(".delta"):
            # Named deltas (Responses, Assistants) are content and nothing else.
            self._mark_content(chunk_index)
            return
        if name is None and self._is_uneventful_chunk(data):
            return
        try:
            payload = loads(data)
        except ValueError:
            self.invalid_events += 1
            self.last_event_invalid = True
            return
        if type(payload) is not dict:
            return
        kind = name or payload.get("type")
        if type(kind) is str:
            self._add_typed(kind, payload, chunk_index)
        elif "choices" in payload:
            self._add_completion_chunk(payload, chunk_index)
        elif "error" in payload:
            self._set_error(payload["error"])

    def _is_uneventful_chunk(self, data: str) -> bool:
        """True for a chat or completion chunk that cannot change any result.

        Content deltas are most of a stream and parsing each would be most of
        the cost. Once the first content and the model are known, a chunk
        matters only if it carries usage, an error or a non-null finish
        reason, and each of those puts its key in the raw text (a quote
        inside a string is escaped, so content cannot fake `"usage"`). A
        chunk that merely looks eventful is parsed, which is only slower.
        """
        if not self._saw_choices or self.first_content_chunk is None or self.model is None:
            return False
        if '"error"' in data or not _only_nulls(data, _USAGE_KEYS):
            return False
        return _only_nulls(data, _FINISH_REASON_KEYS)

    def _add_typed(self, name: str, payload: dict[str, Any], chunk_index: int) -> None:
        if name == "error":
            inner = payload.get("error")
            self._set_error(inner if type(inner) is dict else payload)
            return
        if name.startswith("response."):
            response = payload.get("response")
            if type(response) is dict:
                self._add_final_object(response)
            elif name.endswith(".delta"):
                self._mark_content(chunk_index)
            return
        if name.startswith("thread.run.") and not name.startswith("thread.run.step"):
            self._add_final_object(payload)
            return
        if name in _CONTENT_EVENTS:
            self._mark_content(chunk_index)
        usage = payload.get("usage")
        if type(usage) is dict:
            self.usage = usage

    def _add_final_object(self, obj: dict[str, Any]) -> None:
        """A Response or a Run object as streamed in its lifecycle events."""
        self.final_object = obj
        self.response_id = _text(obj.get("id")) or self.response_id
        self.model = _text(obj.get("model")) or self.model
        take_response_params(obj, self.response_params)
        usage = obj.get("usage")
        if type(usage) is dict:
            self.usage = usage
        status = obj.get("status")
        if status in FINAL_STATUSES:
            self._status = status
            details = obj.get("incomplete_details")
            if type(details) is dict:
                self._incomplete_reason = _text(details.get("reason"))
        error = obj.get("error") or obj.get("last_error")
        if type(error) is dict:
            self._set_error(error)

    def _add_completion_chunk(self, payload: dict[str, Any], chunk_index: int) -> None:
        self._saw_choices = True
        # Azure opens with a chunk whose model is "" and choices empty: skip blanks.
        self.model = _text(payload.get("model")) or self.model
        if self.response_id is None:
            self.response_id = _text(payload.get("id"))
            take_response_params(payload, self.response_params)
        usage = payload.get("usage")
        if type(usage) is dict:
            self.usage = usage
        choices = payload.get("choices")
        if type(choices) is not list:
            return
        for choice in choices:
            if type(choice) is not dict:
                continue
            finish_reason = choice.get("finish_reason")
            if type(finish_reason) is str:
                index = choice.get("index")
                self._choice_finish_reasons[index if type(index) is int else 0] = finish_reason
            if self.first_content_chunk is None and _has_content(choice):
                self.first_content_chunk = chunk_index

    def _mark_content(self, chunk_index: int) -> None:
        if self.first_content_chunk is None:
            self.first_content_chunk = chunk_index

    def _set_error(self, error: Any) -> None:
        if type(error) is dict:
            self.error = error
        elif type(error) is str:
            self.error = {"message": error}


_RESPONSE_PARAMS: Final = ("service_tier", "system_fingerprint")


def take_response_params(obj: dict[str, Any], into: dict[str, str]) -> None:
    """Copy the response's `service_tier` and `system_fingerprint`, when set, into `into`."""
    for key in _RESPONSE_PARAMS:
        value = obj.get(key)
        if type(value) is str and value:
            into[key] = value


# A quoted key and the two ways a chunk spells it with the value null.
_USAGE_KEYS: Final = ('"usage"', '"usage":null', '"usage": null')
_FINISH_REASON_KEYS: Final = ('"finish_reason"', '"finish_reason":null', '"finish_reason": null')


def _only_nulls(data: str, keys: tuple[str, str, str]) -> bool:
    """True when every occurrence of the key in `data` has the value null.

    With `stream_options.include_usage` OpenAI puts `"usage":null` on every
    chunk before the last, so the key alone does not make a chunk eventful.
    """
    key, compact, spaced = keys
    count = data.count(key)
    if not count:
        return True
    nulls = data.count(compact)
    return nulls == count or nulls + data.count(spaced) == count


def _has_content(choice: dict[str, Any]) -> bool:
    delta = choice.get("delta")
    if type(delta) is dict:
        return any(delta.get(key) for key in _CHAT_CONTENT_KEYS)
    # Legacy completions stream `text` instead of a delta.
    return bool(choice.get("text"))
