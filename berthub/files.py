"""Writing files so that no reader ever sees half of one, and checking a safetensors file's size.

Standard library only: the model, the tokenizer, the sources, the trainer and the server all write
through these few functions. Every write goes to a temporary name in the target's own folder (same
file system), is flushed to disk, then renamed over the target in one step; a crash leaves either
the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

_MAX_SAFETENSORS_HEADER = 100 * 1024**2  # safetensors' own bound on the header


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` when the block succeeds.

    >>> with atomic_path(out / "model.onnx") as tmp:
    ...     program.save(tmp)          # any writer that takes a path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary file, fsync, rename); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` as UTF-8 (newlines untranslated) to `path` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """A staging folder beside `target` to fill; swapped in for `target` when the block succeeds.

    A failure while filling leaves `target` as it was. The swap moves the old folder aside and the new
    one in (restoring the old one if that fails), then deletes the old one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".tmp-{target.name}-"))
    try:
        yield staging
        if not target.exists():
            os.replace(staging, target)
            return
        aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".old-{target.name}-"))
        os.replace(target, aside / "replaced")
        try:
            os.replace(staging, target)
        except BaseException:
            os.replace(aside / "replaced", target)
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_dir(target: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Build a folder with `write(staging)` and swap it in for `target` (see `atomic_dir`)."""
    with atomic_dir(target) as staging:
        write(staging)
    return Path(target)


def link_or_copy(source: Path, target: Path, *, symlink: bool = False) -> Path:
    """Make `target` name the content of `source` (a hard link, or a relative symlink with `symlink`;
    a copy where the file system refuses links). An existing `target` is kept as it is."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)  # only the unique name is wanted: links cannot replace an existing file
    try:
        try:
            if symlink:
                os.symlink(os.path.relpath(source, target.parent), tmp)
            else:
                os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (where the platform allows opening folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: str) -> None:
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a complete safetensors file (one phrase), or None when its size adds up.

    One small read: the header must be JSON describing tensors whose byte ranges end exactly at the
    end of the file, so a truncated or padded file is caught before safetensors' own, vaguer, error.
    """
    size = path.stat().st_size
    if size < 8:
        return f"it is {size} bytes long, too short for a safetensors header" if size else "it is empty"
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > min(size - 8, _MAX_SAFETENSORS_HEADER):
            return f"its header claims {length} bytes but the file has {size - 8} after the length field"
        try:
            header = json.loads(handle.read(length))
        except (ValueError, RecursionError):
            return "its header is not valid JSON"
    end = _data_end(header)
    if end is None:
        return "its header is not a mapping of tensor names to dtype, shape and data_offsets"
    if 8 + length + end != size:
        return f"it is {size} bytes but its header describes {8 + length + end} (truncated or padded)"
    return None


def _data_end(header: object) -> int | None:
    if not isinstance(header, dict):
        return None
    end = 0
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return None
        end = max(end, offsets[1])
    return end
