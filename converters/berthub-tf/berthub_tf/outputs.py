"""File plumbing shared by both directions: input checks, atomic output folders, hashes, progress."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berthub.files import atomic_dir
from berthub_tf.errors import MissingFileError, OutputExistsError

_CHUNK = 1 << 20


def require_file(path: str | Path, what: str) -> Path:
    """`path` as a Path if it is an existing file; otherwise an error naming `what` it should be."""
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise MissingFileError(f"The {what} file '{path}' does not exist.")
    return resolved


@contextlib.contextmanager
def atomic_directory(output: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside `output`; on success it becomes `output`, on any error
    it is removed, so `output` is either complete or untouched."""
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"Output '{output}' exists and is not a directory; choose another --output.")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"Output directory '{output}' already exists and is not empty; pass --overwrite to replace it "
            f"or choose another --output."
        )
    with atomic_dir(output) as staging:
        yield staging


@contextlib.contextmanager
def atomic_files(folder: Path) -> Iterator[Path]:
    """Yield a staging folder; on success its files move into `folder` (created whole if absent),
    on any error nothing is left in or as `folder`."""
    if not folder.exists():
        with atomic_directory(folder) as staging:
            yield staging
        return
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".berthub-partial-"))
    try:
        yield staging
        for path in sorted(staging.iterdir()):
            os.replace(path, folder / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_file(path: Path) -> dict[str, Any]:
    """Name, size and sha256 of a source file, for the conversion report and the model card."""
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


@contextlib.contextmanager
def progress_bar(total: int, description: str, enabled: bool) -> Iterator[Any]:
    """A tqdm byte counter when `enabled`, else an object whose update() does nothing."""
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit="B", unit_scale=True, disable=not enabled) as bar:
        yield bar
