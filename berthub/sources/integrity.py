"""Is a file on disk what it claims to be? The checks berthub runs before it trusts cached files.

- `safetensors_problem` (berthub.files): the header of a .safetensors file must be JSON describing tensors whose
  byte ranges end exactly at the end of the file. Reading the header costs one small read, so this
  runs on every load of a hub file and every `read_weights`: a truncated or padded file is caught
  before safetensors raises its own, less helpful, error.
- `content_problem`: a full re-hash against the content address huggingface_hub names cache blobs
  by (sha256 for LFS files, git's blob sha1 for the others). It reads the whole file, so it runs in
  `berthub cache verify`, and on every load only when asked (BERTHUB_VERIFY=1, see berthub.sources.resolve).

`damaged_files` runs these over a cache snapshot and `remove_cached` takes what failed out of the
cache (the entry and its blob), so the next fetch downloads it whole.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from berthub.files import safetensors_problem

SAFETENSORS_SUFFIX = ".safetensors"
_CHUNK = 1 << 20


def content_problem(blob: Path) -> str | None:
    """Whether `blob` hashes to its own name (64 hex: sha256; 40 hex: git blob sha1); None when it does
    or when its name is no content hash (nothing to check against)."""
    if re.fullmatch(r"[0-9a-f]{64}", blob.name):
        actual = _digest(blob, hashlib.sha256())
    elif re.fullmatch(r"[0-9a-f]{40}", blob.name):
        actual = _digest(blob, hashlib.sha1(f"blob {blob.stat().st_size}\0".encode()))
    else:
        return None
    return None if actual == blob.name else f"content hashes to {actual}, not to its name"


def _digest(path: Path, digest: hashlib._Hash) -> str:
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_problem(path: Path, *, full: bool) -> str | None:
    """What is wrong with a cached file (a snapshot entry, usually a link to its blob): the free
    safetensors size check always, the full re-hash when `full`."""
    if path.name.endswith(SAFETENSORS_SUFFIX):
        problem = safetensors_problem(path)
        if problem:
            return problem
    return content_problem(path.resolve()) if full else None


def damaged_files(directory: Path, names: list[str], *, full: bool) -> dict[Path, str]:
    """The files among `names` present in `directory` that fail `file_problem`, with why."""
    checked = {directory / name: file_problem(directory / name, full=full)
               for name in names if (directory / name).is_file()}
    return {path: why for path, why in checked.items() if why}


def remove_cached(damaged: dict[Path, str]) -> None:
    """Remove each cache snapshot entry and the blob it links to, so the next fetch downloads it whole."""
    for path in damaged:
        blob = path.resolve()
        path.unlink(missing_ok=True)
        if blob != path:
            blob.unlink(missing_ok=True)
