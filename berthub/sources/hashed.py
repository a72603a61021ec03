"""Cached files hashed once, then trusted while a stat says they are unchanged.

Re-hashing a 400 MB weights file takes about a second; a stat takes microseconds. So every cached
file berthub loads is hashed once (while it downloads, or the first time berthub meets it in the
cache) and what `os.stat` said at that moment is recorded in the cache entry's `.berthub-hashed/`
folder (settings.HASHED_FOLDER): one small file whose *name* holds the content's digest and the stat
(size, mtime, ctime, device, inode). A load trusts the file while a record named for the digest it
expects and the file's stat as it is now exists; anything else finds no record and hashes the file
again. Records are only ever created, under a name no other state of the file can have, and never
read or updated: a record cannot go stale, and a damaged one does not match anything.

ctime is in the key beside the mtime because anyone can put an mtime back (`touch -d`, `rsync -t`,
`tar x`), while the kernel sets ctime on every change. What a stat cannot see is a write within the
same clock tick as the bytes that were hashed; BERTHUB_VERIFY=1 re-hashes on every load for those who
want no trust at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from berthub.files import write_text_atomic

logger = logging.getLogger("berthub.sources")

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    return _digest(path, hashlib.sha256())


def git_blob_sha1_of(path: Path) -> str:
    """git's object id of a file as a blob: sha1 of `blob <size>\\0` and the bytes (what a hub calls a
    regular file's oid, and the name huggingface_hub gives its cache blob)."""
    return _digest(path, hashlib.sha1(f"blob {path.stat().st_size}\0".encode()))


_BY_LENGTH: dict[int, Callable[[Path], str]] = {64: sha256_of, 40: git_blob_sha1_of}


def is_digest(text: str) -> bool:
    """Whether `text` is a digest these checks know: 64 lowercase hex (sha256) or 40 (git blob sha1)."""
    return len(text) in _BY_LENGTH and all(c in "0123456789abcdef" for c in text)


def mismatch(path: Path, expected: str, records: Path, *, rehash: bool = False) -> str | None:
    """None when `path` holds the content `expected` (an `is_digest` digest), else the digest it holds.

    Trusted without reading it when `records` holds a record for `expected` and the file's stat as it
    is now (unless `rehash`); otherwise hashed, and a match recorded so the next call is a stat.
    """
    before = os.stat(path)
    if not rehash and os.path.exists(_record_path(records, expected, before)):
        return None
    logger.info("Hashing %s (%d bytes): %s.", path, before.st_size,
                "asked to re-hash on every load" if rehash else "not hashed before, or changed since")
    actual = _BY_LENGTH[len(expected)](path)
    if actual != expected:
        return actual
    if _key(os.stat(path)) == _key(before):  # nothing wrote to it while it was read
        remember(path, expected, records, before)
    return None


def remember(path: Path, digest: str, records: Path, stat: os.stat_result | None = None) -> None:
    """Record that `path`, as `stat` (default: a stat now) describes it, hashes to `digest`.

    Callers hash first (a download hashes while streaming). Earlier records of the same file (same
    device and inode) are removed. A cache that cannot be written only costs a re-hash on the next
    load, so failing to record is a warning (once per folder), never an error.
    """
    stat = stat or os.stat(path)
    record = Path(_record_path(records, digest, stat))
    try:
        for earlier in _records_of(records, stat):
            if earlier != record:
                earlier.unlink(missing_ok=True)
        write_text_atomic(record, f"{path}\n")
    except OSError as error:
        if records not in _unwritable:  # once per folder and process: a read-only cache says it on every load
            _unwritable.add(records)
            logger.warning("Could not record the hash of %s in %s (%s), so every load hashes it again. Run "
                           "`berthub cache verify` once as the cache's owner to record it.", path, records, error)


_unwritable: set[Path] = set()  # record folders this process could not write to


def forget(path: Path, records: Path) -> None:
    """Remove every record of `path` (same device and inode), e.g. before the file is deleted."""
    with contextlib.suppress(OSError):
        for record in _records_of(records, os.stat(path)):
            record.unlink(missing_ok=True)


def _records_of(records: Path, stat: os.stat_result) -> list[Path]:
    """The records of the file `stat` describes, whatever its digest or state then."""
    if not records.is_dir():
        return []
    same = [str(stat.st_dev), str(stat.st_ino)]
    return [record for record in records.iterdir() if record.name.split("-")[1:3] == same]


def _key(stat: os.stat_result) -> str:
    return f"{stat.st_dev}-{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ctime_ns}"


def _record_path(records: Path, digest: str, stat: os.stat_result) -> str:
    return os.path.join(records, f"{digest}-{_key(stat)}")


def _digest(path: Path, digest: hashlib._Hash) -> str:
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
