"""Reading objects: as a seekable file (cards, configs, safetensors headers) and as a download.

`ObjectReader` is a read-only file over an object whose reads are ranged reads of the store, so code
that reads a few bytes of a file (a safetensors header) reads a few bytes of the object, wherever it
lives. `StreamResponse` is the download answer for bytes that are not one local file (an S3 object, a
file stored through Xet): Starlette's FileResponse, so `Range` (single and multiple, 206/416),
`If-Range`, HEAD and the headers behave exactly as for a blob on disk, reading through `_open_file`
(an internal hook: tests/test_hub_storage_backends.py checks ranges on S3 objects, so a Starlette
change there fails loudly), and never offering a path to the server's zero-copy `pathsend`.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from berthub.server.objectstore.base import ObjectStore


class ObjectReader(io.RawIOBase):
    """A read-only, seekable file over the object `key` of `size` bytes."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        super().__init__()
        self._store, self._key, self._size, self._position = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        end = min(self._size, self._position + len(buffer))
        if end <= self._position:
            return 0
        data = self._store.get_range(self._key, self._position, end)
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)


def open_object(store: ObjectStore, key: str, size: int) -> io.BufferedReader:
    """`key` as a buffered binary file (64 KiB per read of the store)."""
    return io.BufferedReader(ObjectReader(store, key, size), buffer_size=64 * 1024)


class AsyncReader(Protocol):
    """What StreamResponse reads through: seek, then reads of up to `size` bytes, then close."""

    async def seek(self, position: int) -> None: ...

    async def read(self, size: int) -> bytes: ...

    async def close(self) -> None: ...


class StoreStream:
    """An object read from a position to wherever the client stops: one streaming GET per range, read
    on worker threads (never on the event loop)."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self._store, self._key, self._position, self._body = store, key, 0, None

    async def seek(self, position: int) -> None:
        await self.close()
        self._position = position

    async def read(self, size: int) -> bytes:
        return await run_in_threadpool(self._read, size)

    def _read(self, size: int) -> bytes:
        if self._body is None:
            self._body = self._store.open_stream(self._key, self._position)
        chunks, wanted = [], size
        while wanted:
            data = self._body.read(wanted)
            if not data:
                break
            chunks.append(data)
            wanted -= len(data)
        self._position += size - wanted
        return b"".join(chunks)

    async def close(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            await run_in_threadpool(body.close)


class StreamResponse(FileResponse):
    chunk_size = 1024 * 1024  # as blobs on disk: 1 MiB reads

    def __init__(self, open_reader: Callable[[], AsyncReader], size: int, modified: float, name: str,
                 **kwargs: Any) -> None:
        fake = os.stat_result((stat.S_IFREG | 0o444, 0, 0, 1, 0, 0, size, modified, modified, modified))
        super().__init__(name, stat_result=fake, **kwargs)
        self._open_reader = open_reader

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[Any]:
        reader = self._open_reader()
        try:
            yield reader
        finally:
            await reader.close()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != "http.response.pathsend"}
        await super().__call__({**scope, "extensions": extensions}, receive, send)
