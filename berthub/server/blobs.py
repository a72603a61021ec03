"""Writing one blob: an upload streamed to the object store, hashed as it goes, verified, then published.

When the client announced the content's sha256 (LFS uploads) the bytes stream straight to the blob's
key: a temporary file renamed into place on local disk, S3 multipart parts that become the object only
when the upload completes. Content whose sha256 is learnt at the end goes through a local temporary
file. Either way the blob appears only after its size and sha256 are checked, and whatever happens to
an upload (its client goes, its hash or size is wrong, the disk fills, the store fails) what it wrote is
removed or never becomes visible.
"""

from __future__ import annotations

import hashlib

from berthub.server.errors import BadRequest
from berthub.server.metrics import blob_written
from berthub.server.objectstore.base import ObjectStore, TempFileUpload, Upload, blob_key


class BlobWriter:
    """Streams one upload, hashing as it goes; `finish` verifies and publishes the blob."""

    def __init__(self, store: ObjectStore, expected_sha256: str | None = None,
                 expected_size: int | None = None) -> None:
        self._store = store
        self._expected = (expected_sha256, expected_size)
        self._hash = hashlib.sha256()
        self.size = 0
        # Announced content streams straight to its key; other content to a file named at the end.
        self._upload: Upload = store.upload(blob_key(expected_sha256)) if expected_sha256 else TempFileUpload(store)

    def write(self, chunk: bytes) -> None:
        try:
            self._upload.write(chunk)
        except BaseException:  # disk full, EIO, the store gone: the partial upload goes at once
            self.abort()
            raise
        self._hash.update(chunk)
        self.size += len(chunk)

    def finish(self) -> tuple[str, int]:
        """Check size and sha256 against what the client announced, then publish the blob."""
        try:
            sha256 = self._hash.hexdigest()
            expected_sha, expected_size = self._expected
            if expected_size is not None and self.size != expected_size:
                raise BadRequest(f"Upload of {expected_sha} announced {expected_size} bytes but sent "
                                 f"{self.size}; nothing was stored. Retry the upload.")
            if expected_sha is not None and sha256 != expected_sha:
                raise BadRequest(f"Upload announced sha256 {expected_sha} but its content hashes to {sha256};"
                                 " nothing was stored. Check the file did not change during the upload.")
            if isinstance(self._upload, TempFileUpload):
                self._upload.commit(blob_key(sha256))
            else:
                self._upload.commit()
            blob_written(self.size)
            return sha256, self.size
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop what was written; safe to call again, and whatever failed before."""
        self._upload.abort()
