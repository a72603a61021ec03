"""What the hub says about a repo: the JSON shapes huggingface_hub parses, and the model card parts.

Shared by the JSON API and the web pages so both describe a repo the same way.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from berthub.server.objects import Commit, FileEntry, RepoMeta, lfs_pointer
from berthub.server.storage import Storage

_CARD = "README.md"
_CONFIG = "config.json"
_SMALL_FILE = 1024 * 1024  # cards and configs bigger than this are not parsed for pages or listings
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


def sibling_json(entry: FileEntry) -> dict[str, Any]:
    """One element of `siblings` in model info (RepoSibling)."""
    data: dict[str, Any] = {"rfilename": entry.path, "size": entry.size, "blobId": entry.oid}
    if entry.lfs:
        data["lfs"] = {"sha256": entry.sha256, "size": entry.size,
                       "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}
    return data


def tree_file_json(entry: FileEntry) -> dict[str, Any]:
    """One file of `/tree` or `/paths-info` (RepoFile)."""
    data: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        data["lfs"] = {"oid": entry.sha256, "size": entry.size,
                       "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}
    return data


def commit_json(commit: Commit) -> dict[str, Any]:
    """One element of `/commits/{revision}` (GitCommitInfo)."""
    return {"id": commit.id, "title": commit.title, "message": commit.message,
            "authors": [{"user": commit.author}], "date": commit.date}


def model_info_json(storage: Storage, meta: RepoMeta, commit: Commit, *, siblings: bool = True,
                    with_config: bool = False) -> dict[str, Any]:
    """The body of `/api/models/{repo_id}[/revision/{rev}]` and of each `/api/models` item (ModelInfo)."""
    card_meta, _ = card(storage, commit)
    tags = card_meta.get("tags") if isinstance(card_meta.get("tags"), list) else []
    namespace = meta.repo_id.split("/")[0]
    data: dict[str, Any] = {
        "_id": meta.repo_id, "id": meta.repo_id, "modelId": meta.repo_id, "author": namespace,
        "sha": commit.id, "lastModified": commit.date, "createdAt": meta.created_at,
        "private": meta.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
        "library_name": card_meta.get("library_name"), "tags": [str(tag) for tag in tags],
        "pipeline_tag": card_meta.get("pipeline_tag"), "usedStorage": commit.size,
    }
    if card_meta:
        data["cardData"] = card_meta
    if siblings:
        data["siblings"] = [sibling_json(entry) for entry in commit.files.values()]
    if with_config:
        data["config"] = config(storage, commit)
    return data


def card(storage: Storage, commit: Commit) -> tuple[dict[str, Any], str]:
    """(YAML metadata, markdown body) of the commit's README.md; ({}, "") when it has none."""
    entry = commit.files.get(_CARD)
    if entry is None or entry.size > _SMALL_FILE:
        return {}, ""
    return _parsed_card(storage.blob_path(entry.sha256))


@lru_cache(maxsize=512)
def _parsed_card(path: Path) -> tuple[dict[str, Any], str]:
    # Blobs are content-addressed and never change, so parsing once per blob is safe; YAML parsing
    # would otherwise dominate the cost of every model_info and listing request.
    return split_card(path.read_text(encoding="utf-8", errors="replace"))


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """Split `---\\nyaml\\n---\\nbody`; unparsable metadata counts as none (the body still renders)."""
    if not text.startswith("---"):
        return {}, text
    _, _, rest = text.partition("\n")
    header, separator, body = rest.partition("\n---")
    if not separator:
        return {}, text
    try:
        metadata = yaml.load(header, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        metadata = None
    return (metadata if isinstance(metadata, dict) else {}), body.partition("\n")[2]


def config(storage: Storage, commit: Commit) -> dict[str, Any] | None:
    """The parsed config.json of the commit, or None."""
    entry = commit.files.get(_CONFIG)
    if entry is None or entry.size > _SMALL_FILE:
        return None
    return _parsed_config(storage.blob_path(entry.sha256))


@lru_cache(maxsize=512)
def _parsed_config(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parameter_count(storage: Storage, commit: Commit) -> tuple[int, list[str]] | None:
    """(number of parameters, dtypes) read from the safetensors header, without loading tensors."""
    entry = commit.files.get("model.safetensors")
    return _safetensors_summary(str(storage.blob_path(entry.sha256))) if entry else None


@lru_cache(maxsize=256)
def _safetensors_summary(path: str) -> tuple[int, list[str]] | None:
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100 * 1024**2:
                return None
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error):
        return None
    total, dtypes = 0, set()
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in tensor["shape"]:
            count *= dim
        total += count
        dtypes.add(tensor["dtype"])
    return total, sorted(dtypes)
