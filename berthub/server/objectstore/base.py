"""Where the hub keeps bytes: one small key -> object interface, on local disk or in S3.

Everything the hub stores that is not metadata goes through an `ObjectStore`: blobs (file contents,
named by their sha256) and what the Xet path keeps. Metadata (repos, commits, refs, accounts) lives in
the database (server.db). Two backends implement the interface:

    LocalObjectStore   files under the hub's --root (the default; today's layout: blobs/ab/ab12...)
    S3ObjectStore      an S3-compatible bucket (`--storage s3://bucket/prefix`; boto3)

Keys are `/`-separated words of [0-9a-z~._-]; callers never pass client-chosen text as a key
unvalidated. Every write is atomic: an object appears whole or not at all, and readers never see half
of one. Nothing here holds a whole object in memory unless the caller asks for its bytes: large
uploads stream (`upload`: a temporary file on disk, S3 multipart parts of `PART_SIZE` in S3).

A failure of the store is raised as `StoreError` (an OSError, EIO): the app answers it 503 in one line,
like a failing disk (server.disk).
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

PART_SIZE = 8 * 1024**2  # S3 multipart parts (its minimum is 5 MiB); also what an upload holds in memory
_KEY = re.compile(r"^[0-9a-z~._-]+(/[0-9a-z~._-]+)*$")


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: float  # seconds since the epoch


class StoreError(OSError):
    """The object store failed (unreachable, refused, damaged): answered 503 like a failing disk."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EIO, message)


def checked(key: str) -> str:
    """`key` if it is a valid object key; ValueError otherwise (a bug in the caller, never client input)."""
    if not isinstance(key, str) or not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid object key {key!r}")
    return key


def blob_key(sha256: str) -> str:
    """Where a blob (file content named by its sha256) lives: the layout of earlier releases' blobs/."""
    return f"blobs/{sha256[:2]}/{sha256}"


class Upload(Protocol):
    """An object being written in pieces; invisible until `commit`, gone after `abort`."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class ObjectStore(Protocol):
    """What every backend offers; see the module docstring."""

    kind: str  # "disk" or "s3": for /metrics and /api/health

    def child(self, prefix: str) -> ObjectStore:
        """The same store seen under `prefix/` (keys of the child are relative to it)."""

    def temp_file(self) -> tuple[BinaryIO, Path]:
        """A new local temporary file to build an object in before `put_file` publishes it."""

    def put_file(self, key: str, tmp_path: Path) -> None:
        """Publish a finished temporary file under `key` (replacing any object there); consumes it."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def upload(self, key: str) -> Upload:
        """Stream an object of unknown length to `key`, holding at most PART_SIZE in memory."""

    def get_bytes(self, key: str) -> bytes:
        """A small object's bytes; FileNotFoundError when there is none."""

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of an object (fewer if it is shorter)."""

    def iter_range(self, key: str, start: int, end: int, block: int = 1024**2) -> Iterator[bytes]:
        """Bytes [start, end) of an object in blocks of at most `block` bytes."""

    def open_stream(self, key: str, start: int) -> BinaryIO:
        """The object from byte `start` to its end, as a stream to `read` and `close` (downloads)."""

    def exists(self, key: str) -> bool: ...

    def info(self, key: str) -> ObjectInfo | None: ...

    def touch(self, key: str) -> None:
        """Mark an object as used now (its `modified` time)."""

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def list(self, prefix: str) -> list[str]:
        """Keys directly under `prefix/` (one level), sorted; empty when there are none."""

    def walk(self, prefix: str) -> Iterator[str]:
        """Every key anywhere under `prefix/`."""

    def local_path(self, key: str) -> Path | None:
        """The file behind a key when the store is a local folder (downloads send it directly), else None."""

    def presigned_url(self, key: str, expires_s: int, *, disposition: str | None = None,
                      media_type: str | None = None) -> str | None:
        """A URL that lets anyone GET the object (Range included) until it expires; None on local disk."""

    def free_bytes(self) -> int | None:
        """Bytes still free for objects, when the store can tell (local disk); None otherwise."""

    def check(self) -> None:
        """Raise StoreError unless the store answers (the health route's probe)."""

    def recover(self) -> int:
        """Remove what interrupted writes left behind; returns how many were removed."""


class TempFileUpload:
    """An object written to a local temporary file of `store`, published by `commit` under `key` (or a
    key chosen at the end, e.g. the content's sha256): `store.put_file` renames it into place on disk,
    uploads it to S3 (multipart when large)."""

    def __init__(self, store: ObjectStore, key: str | None = None) -> None:
        self._store, self._key = store, key
        self._file, self.path = store.temp_file()

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self, key: str | None = None) -> None:
        try:
            self._file.close()
            self._store.put_file(checked(key or self._key or ""), self.path)
        finally:
            self.abort()

    def abort(self) -> None:
        try:
            self._file.close()  # flushes what is buffered: fails again on a full disk
        except OSError:
            pass
        finally:
            self.path.unlink(missing_ok=True)


def empty_folder(folder: Path) -> int:
    """Remove everything in `folder` (a store's tmp/ at start: nothing in it is in flight); a count."""
    removed = 0
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed += 1
    return removed
