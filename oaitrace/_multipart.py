"""The small form fields of a multipart/form-data body that is already in memory.

Uploads (files, audio, images) are multipart. oaitrace never reads a
streamed request body, so this only sees bodies the client built as bytes.
It takes text fields (`model`, `purpose`, `response_format`, `n`, `size` ...)
and the `filename` of file parts, and skips over file contents without
decoding them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["MultipartFields", "fields_of_form", "multipart_fields", "snapshot_form"]

# The headers of one part: its field name, a filename for file parts, and
# the blank line where its content starts.
_PART_HEADERS: Final = re.compile(
    rb'[Cc]ontent-[Dd]isposition: ?form-data; ?name="?([^";\r\n]{1,100})"?'
    rb'(?:; ?filename="([^"\r\n]{0,300})")?[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n'
)
# Text fields longer than this are prompts or JSON, not the settings kept here.
_MAX_VALUE_BYTES: Final = 200
_MAX_FORM_FIELDS: Final = 64


@dataclass(frozen=True, slots=True)
class MultipartFields:
    """Text fields by name (the last value of a repeated name) and file parts' filenames."""

    values: dict[str, str] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)


def multipart_fields(body: bytes) -> MultipartFields:
    """The short text fields and the filenames of a multipart body.

    Example::

        >>> body = (
        ...     b'--b\\r\\nContent-Disposition: form-data; name="purpose"\\r\\n\\r\\n'
        ...     b'batch\\r\\n--b\\r\\nContent-Disposition: form-data; name="file"; '
        ...     b'filename="in.jsonl"\\r\\nContent-Type: application/jsonl\\r\\n\\r\\n'
        ...     b'{}\\r\\n--b--\\r\\n'
        ... )
        >>> multipart_fields(body)
        MultipartFields(values={'purpose': 'batch'}, filenames={'file': 'in.jsonl'})
    """
    values: dict[str, str] = {}
    filenames: dict[str, str] = {}
    for part in _PART_HEADERS.finditer(body):
        name = part.group(1).decode("utf-8", "replace")
        filename = part.group(2)
        if filename is not None:
            filenames[name] = filename.decode("utf-8", "replace")
            continue
        end = body.find(b"\r\n--", part.end(), part.end() + _MAX_VALUE_BYTES + 1)
        if end >= 0:
            values[name] = body[part.end() : end].decode("utf-8", "replace")
    return MultipartFields(values, filenames)


def snapshot_form(stream: object) -> tuple[tuple[str, str], ...] | None:
    """The short text fields and file names of an httpx/httpx2 multipart request stream.

    Cheap enough for the request path and reads no file: it looks only at
    the `MultipartStream.fields` the client built (`DataField.name/value`,
    `FileField.name/filename`); a file part becomes `("filename", <its
    filename>)`. None when `stream` is not a multipart stream.
    """
    fields = getattr(stream, "fields", None)
    if type(fields) is not list:
        return None
    snapshot: list[tuple[str, str]] = []
    for part in fields[:_MAX_FORM_FIELDS]:
        filename = getattr(part, "filename", None)
        if type(filename) is str:
            snapshot.append(("filename", filename))
            continue
        name = getattr(part, "name", None)
        value = getattr(part, "value", None)
        if type(value) is bytes:
            value = value.decode("utf-8", "replace")
        if type(name) is str and type(value) is str and len(value) <= _MAX_VALUE_BYTES:
            snapshot.append((name, value))
    return tuple(snapshot)


def fields_of_form(form: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """A form snapshot as a dict: the first filename, the last value of a repeated field."""
    fields: dict[str, str] = {}
    for name, value in form:
        if name == "filename":
            fields.setdefault(name, value)
        else:
            fields[name] = value
    return fields
