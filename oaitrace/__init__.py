"""oaitrace: record every OpenAI API exchange, store it, and answer questions about it.

Example::

    import openai
    import oaitrace

    recorder = oaitrace.Recorder()   # sqlite:///oaitrace.db unless told otherwise
    client = openai.OpenAI(http_client=recorder.client())
    with oaitrace.tags(user="u-42", feature="search"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
    recorder.flush()
"""

from __future__ import annotations

from ._prepare import format_tags_header as tag_headers
from ._recorder import Recorder
from ._tags import current_tags, tags
from .exceptions import (
    ConfigurationError,
    DatabaseError,
    MissingDependencyError,
    OaitraceError,
    QueryError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "DatabaseError",
    "MissingDependencyError",
    "OaitraceError",
    "QueryError",
    "Recorder",
    "__version__",
    "current_tags",
    "tag_headers",
    "tags",
]
