"""Resolve what a user names to local files: a registry name, a hub repo id, a directory or a URL.

`resolve` is the one function the rest of berthub calls (through `resolve_model` / `resolve_tokenizer`,
which name the files wanted); it returns a `Resolved` whose directory holds the files loading needs,
fetching only those:

    model:      config.json + model.safetensors (or pytorch_model.bin when the repo has no safetensors)
    tokenizer:  vocab.txt (+ tokenizer_config.json when the repo has one)

Hub repos go through berthub.sources.hub_cache (huggingface_hub's cache layout, locks, etags and
resume), so files that transformers or huggingface_hub already downloaded are reused; plain URLs
through berthub.sources.urls; local archives through berthub.sources.archives. Settings (endpoint,
token, cache, offline, verify) come from berthub.sources.settings, read at call time.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from berthub.errors import NotFoundError
from berthub.files import link_or_copy
from berthub.sources.registry import ModelEntry, model_entry
from berthub.sources.settings import (
    CONFIG_NAME,
    CONFIG_NAMES,
    EXTRACTED_FOLDER,
    LEGACY_CONFIG_NAME,
    LOCAL_ARCHIVES_FOLDER,
    MODEL_FILES,
    TF_SAVED_MODEL_NAME,
    TOKENIZER_FILES,
    VOCAB_NAME,
    WEIGHTS_NAMES,
    HubSettings,
    Wanted,
)


@dataclass(frozen=True)
class Resolved:
    """A local directory holding the files asked for, and the registry entry when a name was used."""

    directory: Path
    entry: ModelEntry | None = None  # set when resolved from a registry name
    commit: str | None = None  # the hub commit the files come from (None for directories and URLs)


def resolve(
    name_or_path: str | Path,
    wanted: Wanted = MODEL_FILES,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    verify: bool | None = None,
) -> Resolved:
    """A local directory holding the files `wanted` (settings.MODEL_FILES or TOKENIZER_FILES).

    `name_or_path`: a registry name ("bert-base-chinese"), a hub repo id ("google-bert/bert-base-chinese",
    with `revision`), a local directory, or a local path or http(s) URL of a .tar.gz / .zip archive (for
    a tokenizer, also the URL of a vocabulary file). `verify=True` (or BERTHUB_VERIFY=1) re-hashes
    cached hub files before they are used.
    """
    settings = HubSettings.from_env(
        cache_dir=cache_dir, token=token, local_files_only=local_files_only, endpoint=endpoint, verify=verify
    )
    text = str(name_or_path)
    local = Path(text).expanduser()
    if local.is_dir():
        return Resolved(_checked_directory(local, wanted, text))
    if local.is_file() and wanted is MODEL_FILES:
        return Resolved(_from_local_archive(local, settings))
    if text.startswith(("http://", "https://")):
        return Resolved(_from_url(text, None, wanted, settings))
    if isinstance(name_or_path, os.PathLike) or text.startswith((".", "/", "~", "\\")) or text.count("/") > 1:
        raise NotFoundError(f"No directory '{text}' (from {Path.cwd()}): check the path.")
    entry = None if "/" in text else model_entry(text)
    if entry is not None:
        _remember_plugin_name(entry)
    if entry is not None and entry.url is not None:
        return Resolved(_from_url(entry.url, entry.sha256, wanted, settings), entry)
    from berthub.sources.hub_cache import from_hub  # brings huggingface_hub: only when a hub is asked

    repo_id, default_revision = (entry.repo_id, entry.revision) if entry else (text, "main")
    directory, commit = from_hub(repo_id, revision or default_revision, wanted, settings, text)
    return Resolved(directory, entry, commit)


def _remember_plugin_name(entry: ModelEntry) -> None:
    """Note which plugin gave a name being used, so the error after that plugin is uninstalled can name it."""
    from berthub.plugins import memory
    from berthub.sources.registry import distribution_of

    distribution = distribution_of(entry.name)
    if distribution is not None:
        memory.remember("models", entry.name, distribution, **({"repo_id": entry.repo_id} if entry.repo_id else {}))


def resolve_model(name_or_path: str | Path, **options) -> Resolved:
    """`resolve` for a model: a config (config.json, or bert_config.json in local folders) and one weights file."""
    return resolve(name_or_path, MODEL_FILES, **options)


def resolve_tokenizer(name_or_path: str | Path, **options) -> Resolved:
    """`resolve` for a tokenizer: vocab.txt (and tokenizer_config.json when the source has one)."""
    return resolve(name_or_path, TOKENIZER_FILES, **options)


def base_repo(name_or_path: str | os.PathLike) -> str | None:
    """The hub repo a model name stands for (a registry name's repo id, or the repo id itself); None for
    local paths, URLs and registry names that point at an archive URL."""
    text = str(name_or_path)
    if Path(text).expanduser().exists() or text.startswith(("http://", "https://")):
        return None
    try:
        entry = model_entry(text)
    except LookupError:
        return text if text.count("/") == 1 else None
    return entry.repo_id if entry.url is None else None


def extra_file(name_or_path: str | os.PathLike, directory: Path, filename: str) -> Path | None:
    """An optional file beside a resolved model: in `directory` itself, else (for a hub repo, whose cache
    snapshot folder is named by its commit) `filename` at that commit through the cache; None if absent."""
    if (directory / filename).is_file():
        return directory / filename
    repo_id = base_repo(name_or_path)
    if repo_id is None:
        return None
    from berthub.sources.hub_cache import optional_file

    return optional_file(repo_id, directory.name, filename, HubSettings.from_env())


# -- local directories and plain URLs ----------------------------------------------------------


def _checked_directory(directory: Path, wanted: Wanted, asked: str) -> Path:
    names = {path.name for path in directory.iterdir()}
    if wanted is TOKENIZER_FILES:
        missing = [] if VOCAB_NAME in names else [VOCAB_NAME]
    else:
        # A TF checkpoint or SavedModel loads with from_tf=True; the converter reads or derives its config.
        has_tf_checkpoint = any(name.endswith(".index") for name in names) or TF_SAVED_MODEL_NAME in names
        missing = [] if names & set(CONFIG_NAMES) or has_tf_checkpoint else [f"{CONFIG_NAME} (or {LEGACY_CONFIG_NAME})"]
        missing += [] if names & set(WEIGHTS_NAMES) or has_tf_checkpoint else [" or ".join(WEIGHTS_NAMES)]
    if missing:
        present = ", ".join(sorted(names)) or "nothing"
        raise NotFoundError(
            f"'{asked}' is not a {wanted.what} directory: it has no {' and no '.join(missing)} "
            f"(it holds {present}). Save one with save_pretrained(), or pass a registry name or repo id."
        )
    return directory


def _from_url(url: str, sha256: str | None, wanted: Wanted, settings: HubSettings) -> Path:
    from berthub.sources import urls

    fetched = urls.fetch_url(url, cache_dir=settings.cache_dir, sha256=sha256, local_files_only=settings.offline)
    if fetched.is_dir():
        return _checked_directory(fetched, wanted, url)
    if wanted is TOKENIZER_FILES:
        return _named(fetched, VOCAB_NAME).parent
    raise NotFoundError(
        f"'{url}' is a single file, not an archive: a model needs {CONFIG_NAME} and weights together. "
        "Pass the URL of a .tar.gz or .zip holding both, or a local directory."
    )


def _from_local_archive(archive: Path, settings: HubSettings) -> Path:
    """A local .tar.gz / .zip (pytorch-pretrained-BERT's model archives) extracted once into the cache, its
    model files checked on every use (berthub.sources.archives.extracted_root).

    The cache folder is keyed by the archive's absolute path, size and modification time, so a
    replaced archive is extracted afresh. Extraction works on a link (or copy) inside that folder:
    a refused archive is removed from the cache, never from where the user keeps it.
    """
    from filelock import FileLock

    from berthub.sources import archives

    if not archives.is_archive(archive):
        raise NotFoundError(
            f"'{archive}' is a file, not a model directory or a .tar.gz / .zip model archive; pass the folder "
            f"holding {CONFIG_NAME} and the weights."
        )
    stat = archive.resolve().stat()
    key = hashlib.sha256(f"{archive.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    folder = settings.cache_dir / LOCAL_ARCHIVES_FOLDER / f"{archive.name}--{key}"
    extracted = folder / EXTRACTED_FOLDER
    root = archives.extracted_root(extracted)
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):
            root = archives.extract_once(str(archive), _named(archive.resolve(), archive.name, folder), extracted)
    return _checked_directory(root, MODEL_FILES, str(archive))


def _named(file: Path, name: str, folder: Path | None = None) -> Path:
    """`file` under the name `name` in `folder` (default: its own cache folder), as a hard link or a
    copy where links fail."""
    return link_or_copy(file, (folder or file.parent) / name)
