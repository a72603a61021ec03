"""Writing one blob: an upload streamed into tmp/, hashed as it goes, verified, then renamed into blobs/.

Whatever happens to an upload (its client goes, its hash or size is wrong, the disk fills or fails),
its temporary file is removed: tmp/ holds only uploads in flight.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from berthub.files import fsync_dir
from berthub.server.errors import BadRequest


class BlobWriter:
    """Streams one upload into tmp/, hashing as it goes; `finish` verifies and publishes the blob."""

    def __init__(self, tmp_dir: Path, blob_path: Callable[[str], Path], expected_sha256: str | None = None,
                 expected_size: int | None = None) -> None:
        self._blob_path = blob_path
        self._expected = (expected_sha256, expected_size)
        self._hash = hashlib.sha256()
        self.size = 0
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        try:
            self._file.write(chunk)
        except BaseException:  # disk full, EIO: the partial upload goes at once
            self.abort()
            raise
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> tuple[str, int]:
        """Check size and sha256 against what the client announced, then rename into blobs/."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            sha256 = self._hash.hexdigest()
            expected_sha, expected_size = self._expected
            if expected_size is not None and self.size != expected_size:
                raise BadRequest(f"Upload of {expected_sha} announced {expected_size} bytes but sent "
                                 f"{self.size}; nothing was stored. Retry the upload.")
            if expected_sha is not None and sha256 != expected_sha:
                raise BadRequest(f"Upload announced sha256 {expected_sha} but its content hashes to {sha256};"
                                 " nothing was stored. Check the file did not change during the upload.")
            _publish(self._path, self._blob_path(sha256))
            return sha256, self.size
        finally:
            self.abort()

    def abort(self) -> None:
        """Remove the partial upload; safe to call again, and whatever failed before."""
        try:
            self._file.close()  # flushes what is buffered: fails again on a full disk
        except OSError:
            pass
        finally:
            self._path.unlink(missing_ok=True)


def _publish(tmp_path: Path, target: Path) -> None:
    if target.exists():
        return  # same content already stored: content addressing makes this a no-op
    target.parent.mkdir(exist_ok=True)
    os.replace(tmp_path, target)
    fsync_dir(target.parent)
