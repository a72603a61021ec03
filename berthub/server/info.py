"""What the hub says about a repo: the JSON shapes huggingface_hub parses, and the model card parts.

Shared by the JSON API and the web pages so both describe a repo the same way. What is read from a
blob (parsed card and config, rendered card, safetensors summary) is remembered per blob in the
storage's bounded cache, weighed by what it holds; only the bytes read are fetched from the object
store (a safetensors header, not the weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from berthub.server import cards
from berthub.server.cache import approximate_size
from berthub.server.objects import Commit, CommitHeader, FileEntry, RepoMeta, lfs_pointer
from berthub.server.storage import Storage
from berthub.sources.settings import CARD_NAME, CONFIG_NAME, SAFETENSORS_NAME

_CARD, _CONFIG = CARD_NAME, CONFIG_NAME
DEFAULT_MAX_CARD = 1024**2  # cards and configs bigger than this are not parsed for pages or listings
_INLINE_FILES = 1000  # model info of a commit with more files is built in the thread pool
T = TypeVar("T")


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


def commit_json(commit: CommitHeader) -> dict[str, Any]:
    """One element of `/commits/{revision}` (GitCommitInfo)."""
    return {"id": commit.id, "title": commit.title, "message": commit.message,
            "authors": [{"user": commit.author}], "date": commit.date}


def model_info_json(storage: Storage, meta: RepoMeta, commit: Commit, *, siblings: bool = True,
                    with_config: bool = False, max_card_size: int = DEFAULT_MAX_CARD) -> dict[str, Any]:
    """The body of `/api/models/{repo_id}[/revision/{rev}]` and of each `/api/models` item (ModelInfo)."""
    card_meta, _ = card(storage, commit, max_card_size)
    tags = card_meta.get("tags") if isinstance(card_meta.get("tags"), list) else []
    namespace = meta.repo_id.split("/")[0]
    data: dict[str, Any] = {
        "_id": meta.repo_id, "id": meta.repo_id, "modelId": meta.repo_id, "author": namespace,
        "sha": commit.id, "lastModified": commit.date, "createdAt": meta.created_at,
        "private": meta.private, "gated": meta.gated or False, "disabled": False, "downloads": 0, "likes": 0,
        "library_name": card_meta.get("library_name"), "tags": [str(tag) for tag in tags],
        "pipeline_tag": card_meta.get("pipeline_tag"), "usedStorage": commit.size,
    }
    if card_meta:
        data["cardData"] = card_meta
    if siblings:
        data["siblings"] = [sibling_json(entry) for entry in commit.files.values()]
    if with_config:
        model_config = config(storage, commit, max_card_size)
        data["config"] = model_config if isinstance(model_config, dict) else None
    return data


def is_cheap(storage: Storage, commit: Commit, max_card_size: int = DEFAULT_MAX_CARD) -> bool:
    """Whether model_info_json for `commit` only reads remembered results and a short file list, so it
    may run on the event loop (a thread hop would cost more than the work on this hot path)."""
    if len(commit.files) > _INLINE_FILES:
        return False
    for name, kind in ((_CARD, "card"), (_CONFIG, "config")):
        entry = commit.files.get(name)
        if entry is not None and entry.size <= max_card_size and (kind, entry.sha256) not in storage.cache:
            return False
    return True


def _remembered(storage: Storage, kind: str, entry: FileEntry, read: Callable[[BinaryIO], T]) -> T | None:
    """`read(the file's content)`, remembered per blob (blobs never change) in the storage's cache; None
    when the content is not stored (a mirrored repo's weights not fetched yet), and then not remembered."""

    def compute() -> T:
        with storage.open_content(entry) as handle:
            return read(handle)

    try:
        return storage.cache.remember((kind, entry.sha256), compute, approximate_size)
    except FileNotFoundError:
        return None


def card(storage: Storage, commit: Commit, max_size: int = DEFAULT_MAX_CARD) -> tuple[dict[str, Any], str]:
    """(YAML metadata, markdown body) of the commit's README.md; ({}, "") when it has none or it is too big."""
    entry = commit.files.get(_CARD)
    if entry is None or entry.size > max_size:
        return {}, ""
    return _remembered(storage, "card", entry, cards.read_card) or ({}, "")


def card_html(storage: Storage, commit: Commit, max_size: int = DEFAULT_MAX_CARD) -> str:
    """The README.md body as sanitised HTML ("" when there is none or it is over `max_size`)."""
    entry = commit.files.get(_CARD)
    if entry is None or entry.size > max_size:
        return ""
    body = card(storage, commit, max_size)[1]
    return _remembered(storage, "card-html", entry, lambda _: cards.render_markdown(body)) or ""


def config(storage: Storage, commit: Commit, max_size: int = DEFAULT_MAX_CARD) -> dict[str, Any] | str | None:
    """The parsed config.json of the commit, None without one, cards.UNREADABLE when malformed or too big."""
    entry = commit.files.get(_CONFIG)
    if entry is None:
        return None
    if entry.size > max_size:
        return cards.UNREADABLE
    return _remembered(storage, "config", entry, cards.read_config)


def parameter_count(storage: Storage, commit: Commit) -> tuple[int, list[str]] | str | None:
    """(number of parameters, dtypes) read from the safetensors header, without loading tensors;
    None without model.safetensors, cards.UNREADABLE when its header is malformed."""
    entry = commit.files.get(SAFETENSORS_NAME)
    return _remembered(storage, "safetensors", entry, cards.safetensors_summary) if entry else None
