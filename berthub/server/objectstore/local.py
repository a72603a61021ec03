"""Objects as files in a folder: the hub's default store, with the layout of earlier releases.

Writes go to a temporary file in tmp/ (same filesystem), are fsynced and renamed into place, and the
folder is fsynced too, so a crash leaves the old object or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berthub.files import fsync_dir
from berthub.server.disk import free_bytes
from berthub.server.objectstore.base import ObjectInfo, StoreError, TempFileUpload, checked, empty_folder


class LocalObjectStore:
    """Objects as files under `root`; `tmp` must be on the same filesystem (renames are atomic)."""

    kind = "disk"

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.tmp = Path(root), Path(tmp)
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def child(self, prefix: str) -> LocalObjectStore:
        return LocalObjectStore(self.root / checked(prefix), self.tmp)

    def path(self, key: str) -> Path:
        return self.root / checked(key)

    def local_path(self, key: str) -> Path:
        return self.path(key)

    def temp_file(self) -> tuple[BinaryIO, Path]:
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="upload-")
        return os.fdopen(fd, "w+b"), Path(name)

    def put_file(self, key: str, tmp_path: Path) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        fsync_dir(target.parent)

    def put_bytes(self, key: str, data: bytes) -> None:
        handle, tmp_path = self.temp_file()
        try:
            with handle:
                handle.write(data)
            self.put_file(key, tmp_path)
        finally:
            tmp_path.unlink(missing_ok=True)

    def upload(self, key: str) -> TempFileUpload:
        return TempFileUpload(self, checked(key))

    def get_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def get_range(self, key: str, start: int, end: int) -> bytes:
        with open(self.path(key), "rb") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))

    def iter_range(self, key: str, start: int, end: int, block: int = 1024**2) -> Iterator[bytes]:
        with open(self.path(key), "rb") as handle:
            handle.seek(start)
            while start < end:
                data = handle.read(min(block, end - start))
                if not data:
                    raise StoreError(f"object {key} ends before byte {end}")
                start += len(data)
                yield data

    def open_stream(self, key: str, start: int) -> BinaryIO:
        handle = open(self.path(key), "rb")  # the caller closes it
        handle.seek(start)
        return handle

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def info(self, key: str) -> ObjectInfo | None:
        try:
            stat = self.path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(stat.st_size, stat.st_mtime)

    def touch(self, key: str) -> None:
        now = time.time()
        os.utime(self.path(key), (now, now))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def list(self, prefix: str) -> list[str]:
        try:
            names = sorted(entry.name for entry in os.scandir(self.path(prefix)) if entry.is_file())
        except (FileNotFoundError, NotADirectoryError):
            return []
        return [f"{prefix}/{name}" for name in names]

    def walk(self, prefix: str) -> Iterator[str]:
        for folder, _, files in os.walk(self.path(prefix)):
            for name in files:
                yield (Path(folder) / name).relative_to(self.root).as_posix()

    def presigned_url(self, key: str, expires_s: int, *, disposition: str | None = None,
                      media_type: str | None = None) -> None:
        return None

    def free_bytes(self) -> int:
        return free_bytes(self.root)

    def check(self) -> None:
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise StoreError(f"the storage folder {self.root} is not readable and writable")

    def recover(self) -> int:
        """Empty tmp/: at start, before serving, nothing in it is in flight."""
        return empty_folder(self.tmp)
