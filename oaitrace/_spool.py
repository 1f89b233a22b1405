"""A local append-only spool for the records the database cannot take right now.

When the database is unreachable the recorder's writer appends each batch
here, one JSON line per record, and replays the segments oldest first when
the database is back, deleting each segment only after all its records are
committed. Inserts are idempotent by record id, so a segment replayed twice
(a crash between commit and delete) stores nothing twice.

Several processes may share a spool directory: each writes its own segment
files (time, pid and a sequence number in the name) and holds an exclusive
`flock` on the one it is writing; a replayer takes the same lock without
blocking, so it replays closed segments of any process, dead ones included,
and skips those still being written.

Records are written field by field with an explicit codec (aware datetimes
as ISO 8601, `Decimal` as its string, tuples and mappings as JSON arrays and
objects), never pickled: a spool file is data, not code.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import time
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from sqlalchemy.engine import make_url

from ._exchange import Record
from .storage._engine import sqlite_path

__all__ = [
    "DEFAULT_SPOOL_MAX_BYTES",
    "SPOOL_DIR_ENV",
    "ReplayResult",
    "Spool",
    "decode_record",
    "default_spool_root",
    "encode_record",
    "spool_directory",
]

SPOOL_DIR_ENV: Final = "OAITRACE_SPOOL_DIR"
DEFAULT_SPOOL_MAX_BYTES: Final = 256 << 20
# Segments are closed at about this size so a long outage is replayed (and
# its disk space given back) piece by piece.
DEFAULT_SEGMENT_MAX_BYTES: Final = 8 << 20
_SEGMENT_SUFFIX: Final = ".jsonl"
# A segment is created under this suffix, locked, then renamed: a replayer
# never sees (and deletes) a segment its writer has not locked yet.
_CREATING_SUFFIX: Final = ".creating"
_STALE_CREATING_S: Final = 60.0
_FORMAT_KEY: Final = "_v"
_FORMAT_VERSION: Final = 1
_HASH_CHARS: Final = 16

_Encode = Callable[[Any], Any]
_Decode = Callable[[Any], Any]


# --- where ---------------------------------------------------------------


def default_spool_root() -> Path:
    """``$OAITRACE_SPOOL_DIR``, else the per-user cache: ``~/.cache/oaitrace/spool``."""
    configured = os.environ.get(SPOOL_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "oaitrace" / "spool"


def spool_directory(database_url: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The spool directory of one database: a subdirectory of `root` named by a hash of it.

    One directory per database, so a spool is never replayed into another
    database. The hash ignores the password (a changed password is the same
    database) and takes SQLite paths as absolute paths.

    Example:
        >>> spool_directory("sqlite:////tmp/a.db", "/tmp/spool").parent
        PosixPath('/tmp/spool')
    """
    base = default_spool_root() if root is None else Path(root).expanduser()
    path = sqlite_path(database_url)
    if path is not None:
        identity = f"sqlite:{path.expanduser().resolve()}"
    else:
        identity = make_url(database_url).set(password=None).render_as_string()
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    return base / digest


# --- what: one Record as one JSON line ---------------------------------------


def _optional(codec: tuple[_Encode, _Decode]) -> tuple[_Encode, _Decode]:
    encode, decode = codec
    return (
        lambda value: None if value is None else encode(value),
        lambda value: None if value is None else decode(value),
    )


def _encode_datetime(value: datetime.datetime) -> str:
    return value.isoformat()


def _codec_for(name: str, hint: Any) -> tuple[_Encode, _Decode] | None:
    """How one Record field goes to JSON and back; None when JSON keeps it as it is."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    members = typing.get_args(hint) if is_union else (hint,)
    present = [member for member in members if member is not type(None)]
    if all(member in (str, int, float, bool) for member in present):
        return None
    if len(present) != 1:
        msg = f"the spool has no codec for Record.{name}: {hint}"
        raise TypeError(msg)
    kind = present[0]
    origin = typing.get_origin(kind)
    codec: tuple[_Encode, _Decode]
    if kind is datetime.datetime:
        codec = (_encode_datetime, datetime.datetime.fromisoformat)
    elif kind is Decimal:
        codec = (str, Decimal)
    elif origin is tuple:
        codec = (list, tuple)
    elif origin in (Mapping, dict):
        codec = (dict, dict)
    else:
        msg = f"the spool has no codec for Record.{name}: {hint}"
        raise TypeError(msg)
    return _optional(codec) if len(present) != len(members) else codec


_HINTS = typing.get_type_hints(Record)
_FIELDS: Final = tuple(
    (field.name, _codec_for(field.name, _HINTS[field.name])) for field in fields(Record)
)
_REQUIRED: Final = frozenset(
    field.name
    for field in fields(Record)
    if field.default is MISSING and field.default_factory is MISSING
)
# ASCII only: a lone surrogate in a decoded body survives as an escape.
_ENCODER = json.JSONEncoder(ensure_ascii=True, check_circular=False, separators=(",", ":"))


def encode_record(record: Record) -> bytes:
    """One Record as one JSON line, newline included.

    Raises `TypeError` or `ValueError` when a value is not JSON (something
    in `extra` the database could not store either).
    """
    document: dict[str, Any] = {_FORMAT_KEY: _FORMAT_VERSION}
    for name, codec in _FIELDS:
        value = getattr(record, name)
        document[name] = value if codec is None else codec[0](value)
    return _ENCODER.encode(document).encode("ascii") + b"\n"


def decode_record(line: bytes) -> Record:
    """The Record of one spool line; `ValueError` when the line is not one.

    Fields unknown to this version are ignored; missing optional ones take
    their defaults, so a spool written by a neighbouring version replays.
    """
    try:
        document = json.loads(line)
        if not isinstance(document, dict) or document.get(_FORMAT_KEY) != _FORMAT_VERSION:
            msg = "not a spooled record of format 1"
            raise ValueError(msg)
        missing = _REQUIRED.difference(document)
        if missing:
            msg = f"spooled record without {sorted(missing)}"
            raise ValueError(msg)
        values = {
            name: document[name] if codec is None else codec[1](document[name])
            for name, codec in _FIELDS
            if name in document
        }
        return Record(**values)
    except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
        msg = f"unreadable spool line: {exc}"
        raise ValueError(msg) from exc


# --- the files -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What one `Spool.replay` did.

    `error` is the exception `store` raised (the replay stopped there: that
    segment and the later ones stay); `skipped_lines` counts torn or
    unreadable lines of the segments replayed and deleted; `busy_segments`
    those another process holds (being written or replayed).
    """

    replayed: int = 0
    skipped_lines: int = 0
    busy_segments: int = 0
    error: Exception | None = None


class Spool:
    """Append-only segment files of spooled Records in one directory.

    Used by one thread of one process (the recorder's writer); any number of
    processes may share the directory.

    Example:
        >>> spool = Spool("/tmp/oaitrace-spool")  # doctest: +SKIP
        >>> spool.append(records)  # doctest: +SKIP
        >>> spool.replay(store.insert, batch_size=500)  # doctest: +SKIP
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._segment_max_bytes = segment_max_bytes
        self._descriptor: int | None = None
        self._segment_size = 0
        self._sequence = 0

    # --- writing ---

    def append(self, records: Sequence[Record]) -> int:
        """Append records in order and return how many were written.

        Those that would grow the directory past `max_bytes` (all processes'
        segments together), and any that are not JSON, are not written: the
        caller counts them as lost. Raises `OSError` when the spool cannot
        be written at all (no permission, disk full); nothing of the batch
        is in it then.
        """
        lines: list[bytes] = []
        for record in records:
            with contextlib.suppress(TypeError, ValueError):
                lines.append(encode_record(record))
        self._ensure_directory()
        room = self.max_bytes - self.size()
        payload = bytearray()
        written = 0
        for line in lines:
            if len(payload) + len(line) > room:
                break
            payload += line
            written += 1
        if written:
            self._write(bytes(payload))
        return written

    def _write(self, payload: bytes) -> None:
        descriptor = self._writable_segment(len(payload))
        start = self._segment_size
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        except OSError:
            # Take back a partial line so the next batch does not glue onto it;
            # if even that fails, close the segment: its torn last line is
            # then skipped on replay.
            try:
                os.ftruncate(descriptor, start)
            except OSError:
                self.close()
            raise
        self._segment_size += len(payload)

    def _writable_segment(self, incoming: int) -> int:
        descriptor = self._descriptor
        if descriptor is not None and (
            self._segment_size == 0 or self._segment_size + incoming <= self._segment_max_bytes
        ):
            return descriptor
        self.close()
        return self._new_segment()

    def _new_segment(self) -> int:
        self._sequence += 1
        # Names sort in creation order: time first, then pid and sequence.
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}"
        creating = self.directory / (name + _CREATING_SUFFIX)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        descriptor = os.open(creating, flags, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(creating, self.directory / (name + _SEGMENT_SUFFIX))
        except OSError:
            os.close(descriptor)
            with contextlib.suppress(OSError):
                creating.unlink()
            raise
        _fsync_directory(self.directory)
        self._descriptor = descriptor
        self._segment_size = 0
        return descriptor

    def _ensure_directory(self) -> None:
        # Records hold prompts and answers: owner-only, like the database file.
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)

    def close(self) -> None:
        """Close the segment being written (releasing its lock); the next append starts another."""
        descriptor, self._descriptor = self._descriptor, None
        self._segment_size = 0
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(descriptor)

    def abandon_after_fork(self) -> None:
        """In a forked child: let go of the parent's segment without touching its lock.

        The child shares the parent's open file (and so its `flock`);
        closing the child's descriptor leaves the parent's lock in place,
        while unlocking would release it.
        """
        self.close()

    # --- reading ---

    def size(self) -> int:
        """Bytes in the directory's segments, every process's together."""
        total = 0
        for path in self._paths((_SEGMENT_SUFFIX,)):
            with contextlib.suppress(OSError):  # replayed and deleted meanwhile
                total += path.stat().st_size
        return total

    def has_segments(self) -> bool:
        """Whether any segment, of any process, is waiting in the directory."""
        return next(self._paths((_SEGMENT_SUFFIX,)), None) is not None

    def replay(self, store: Callable[[list[Record]], object], batch_size: int) -> ReplayResult:
        """Give every segment this process can lock to `store`, oldest first, in batches.

        A segment is deleted once `store` returned for all its records. The
        segment this spool was writing is closed first, so it is replayed
        too. Stops at the first exception of `store` (returned in the result,
        not raised); that segment is replayed again, whole, next time.
        """
        self.close()
        replayed = skipped = busy = 0
        self._remove_stale_creating()
        for path in sorted(self._paths((_SEGMENT_SUFFIX,))):
            try:
                outcome = _replay_segment(path, store, batch_size)
            except _StoreFailedError as failure:
                return ReplayResult(replayed + failure.replayed, skipped, busy, failure.error)
            if outcome is None:
                busy += 1
                continue
            replayed += outcome[0]
            skipped += outcome[1]
        return ReplayResult(replayed, skipped, busy)

    def _paths(self, suffixes: tuple[str, ...]) -> Iterator[Path]:
        try:
            entries = list(os.scandir(self.directory))
        except (FileNotFoundError, NotADirectoryError):
            return  # nothing was ever spooled here
        for entry in entries:
            if entry.name.endswith(suffixes):
                yield Path(entry.path)

    def _remove_stale_creating(self) -> None:
        # A process killed between creating and renaming a segment leaves an
        # empty file behind; a recent one may be a live writer's.
        now = time.time()
        for path in self._paths((_CREATING_SUFFIX,)):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > _STALE_CREATING_S:
                    path.unlink()


class _StoreFailedError(Exception):
    def __init__(self, error: Exception, replayed: int) -> None:
        super().__init__(repr(error))
        self.error = error
        self.replayed = replayed


def _replay_segment(
    path: Path, store: Callable[[list[Record]], object], batch_size: int
) -> tuple[int, int] | None:
    """Replay and delete one segment: (records stored, lines skipped); None when it is busy."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return (0, 0)  # another process replayed it meanwhile
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        if os.fstat(descriptor).st_nlink == 0:
            return (0, 0)  # replayed and deleted while we waited for the lock
        replayed = skipped = 0
        batch: list[Record] = []
        with os.fdopen(descriptor, "rb", closefd=False) as segment:
            for line in segment:
                if not line.endswith(b"\n"):
                    skipped += 1  # torn by a process killed mid-write
                    break
                try:
                    batch.append(decode_record(line))
                except ValueError:
                    skipped += 1
                    continue
                if len(batch) >= batch_size:
                    replayed += _store(store, batch, replayed)
                    batch = []
        if batch:
            replayed += _store(store, batch, replayed)
        path.unlink(missing_ok=True)
        return (replayed, skipped)
    finally:
        os.close(descriptor)


def _store(store: Callable[[list[Record]], object], batch: list[Record], replayed: int) -> int:
    try:
        store(batch)
    except Exception as exc:
        raise _StoreFailedError(exc, replayed) from exc
    return len(batch)


def _fsync_directory(directory: Path) -> None:
    # The new segment's name must survive a machine crash as well as its data.
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
