"""The one exception tree of oaitrace.

Nothing here is ever raised into an application's OpenAI request: the
transport and the recorder log and count their own failures. These are for
the places where a user asked for something directly (a query, a CLI
command, a database URL) and must be told what to do instead.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DatabaseError",
    "MissingDependencyError",
    "OaitraceError",
    "QueryError",
]


class OaitraceError(Exception):
    """Base class of every error oaitrace raises on purpose."""


class ConfigurationError(OaitraceError):
    """A setting is wrong: a bad database URL, an unknown option."""


class DatabaseError(OaitraceError):
    """The database could not be reached, created or migrated."""


class QueryError(OaitraceError):
    """A query or report was asked with options it does not understand."""


class MissingDependencyError(OaitraceError, ImportError):
    """An optional dependency is needed; the message says what to install."""
