"""Resolve what a user names (registry name, hub repo id, local directory, URL) to local files.

`resolve_model` and `resolve_tokenizer` are the only entry points the rest of berthub uses;
they return a `Resolved` whose directory holds the files that loading needs.
(Stub: local directories only; the registry/cache issue fills in names, repo ids and URLs.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berthub.errors import NotFoundError

CONFIG_NAME = "config.json"
WEIGHTS_NAMES = ("model.safetensors", "pytorch_model.bin")
VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"


@dataclass(frozen=True)
class Resolved:
    """A local directory holding the files asked for, and the registry entry when a name was used."""

    directory: Path
    entry: Any = None  # berthub.registry.ModelEntry when resolved from a registry name


def resolve_model(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | None = None,
) -> Resolved:
    """Directory with config.json and one weights file (safetensors preferred)."""
    return _local_directory(name_or_path)


def resolve_tokenizer(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | None = None,
) -> Resolved:
    """Directory with vocab.txt (and tokenizer_config.json when the source has one)."""
    return _local_directory(name_or_path)


def _local_directory(name_or_path: str | Path) -> Resolved:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return Resolved(path)
    raise NotFoundError(f"'{name_or_path}' is not a local directory (registry names and repo ids come later)")
