"""Tags: key/value labels attached to every request made inside a `with` block."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

__all__ = ["current_tags", "tags"]

_NO_TAGS: Mapping[str, str] = MappingProxyType({})

# A ContextVar follows the request into threads started with copied contexts
# and into asyncio tasks (each task copies the context at creation), so tags
# set around `asyncio.gather(...)` reach every task and never leak between them.
_current: ContextVar[Mapping[str, str]] = ContextVar("oaitrace_tags", default=_NO_TAGS)


@contextmanager
def tags(**values: object) -> Iterator[Mapping[str, str]]:
    """Attach tags to every OpenAI request made inside the block.

    Blocks nest: inner tags are added to the outer ones and win on conflict.
    Values are stored as strings.

    Example::

        with oaitrace.tags(user="u-42", feature="search"):
            client.chat.completions.create(...)
    """
    merged = MappingProxyType(
        {**_current.get(), **{key: str(value) for key, value in values.items()}}
    )
    token = _current.set(merged)
    try:
        yield merged
    finally:
        _current.reset(token)


def current_tags() -> Mapping[str, str]:
    """The tags in force here (an immutable mapping, empty outside any block)."""
    return _current.get()
