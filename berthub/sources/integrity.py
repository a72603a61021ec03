"""Is a cached hub file what it claims to be? The checks berthub runs before it trusts one.

- `safetensors_problem` (berthub.files): the header of a .safetensors file must be JSON describing tensors whose
  byte ranges end exactly at the end of the file. Reading the header costs one small read, so this
  runs on every load of a hub file and every `read_weights`: a truncated or padded file is caught
  before safetensors raises its own, less helpful, error.
- `content_problem`: the bytes against the content address huggingface_hub names cache blobs by
  (sha256 for LFS files, git's blob sha1 for the others), on every load. A blob is hashed once (while
  it downloads, or the first time it is checked) and trusted afterwards only while a stat says it is
  unchanged (berthub.sources.hashed, records in the repo folder's `.berthub-hashed/`); anything else
  is hashed again. `berthub cache verify` and BERTHUB_VERIFY=1 re-hash every time.

`damaged_files` runs these over a cache snapshot and `remove_cached` takes what failed out of the
cache (the entry and its blob), so the next fetch downloads it whole.
"""

from __future__ import annotations

import os
from pathlib import Path

from berthub.files import safetensors_problem
from berthub.sources import hashed
from berthub.sources.settings import HASHED_FOLDER

SAFETENSORS_SUFFIX = ".safetensors"


def content_problem(blob: Path, *, rehash: bool = True) -> str | None:
    """Whether `blob` hashes to its own name (64 hex: sha256; 40 hex: git blob sha1); None when it does
    or when its name is no content hash (nothing to check against). Without `rehash`, a blob hashed
    before and unchanged since (same stat) is trusted without reading it."""
    if not hashed.is_digest(blob.name):
        return None
    actual = hashed.mismatch(blob, blob.name, records_of(blob), rehash=rehash)
    return None if actual is None else f"content hashes to {actual}, not to its name"


def remember_blob(blob: Path) -> None:
    """Record that `blob` was just hashed to its name (by a download that hashed while streaming)."""
    hashed.remember(blob, blob.name, records_of(blob))


def records_of(blob: Path) -> Path:
    """Where the hash records of a cache blob live: its repo folder's `.berthub-hashed/`."""
    folder = blob.parent.parent if blob.parent.name == "blobs" else blob.parent
    return folder / HASHED_FOLDER


def file_problem(path: Path, *, full: bool) -> str | None:
    """What is wrong with a cached file (a snapshot entry, usually a link to its blob): the safetensors
    size check, then its content (a stat against the blob's hash record; a full re-hash when `full`)."""
    if path.name.endswith(SAFETENSORS_SUFFIX):
        problem = safetensors_problem(path)
        if problem:
            return problem
    return content_problem(_blob_of(path), rehash=full)


def _blob_of(path: Path) -> Path:
    """The blob a snapshot entry links to (huggingface_hub's relative symlink), or `path` itself when it is
    no link (a copy, as huggingface_hub makes where symlinks are not allowed). One readlink: this runs on
    every load, where Path.resolve() costs several system calls per path component."""
    try:
        target = os.readlink(path)
    except OSError:
        return path
    return Path(os.path.normpath(os.path.join(path.parent, target)))


def damaged_files(directory: Path, names: list[str], *, full: bool) -> dict[Path, str]:
    """The files among `names` present in `directory` that fail `file_problem`, with why."""
    checked = {directory / name: file_problem(directory / name, full=full)
               for name in names if (directory / name).is_file()}
    return {path: why for path, why in checked.items() if why}


def remove_cached(damaged: dict[Path, str]) -> None:
    """Remove each cache snapshot entry and the blob it links to, so the next fetch downloads it whole."""
    for path in damaged:
        blob = path.resolve()
        hashed.forget(blob, records_of(blob))
        path.unlink(missing_ok=True)
        if blob != path:
            blob.unlink(missing_ok=True)
