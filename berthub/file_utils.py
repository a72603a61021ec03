"""pytorch-pretrained-BERT 0.6's `file_utils` module: file names, the cache folder and `cached_path`.

    from berthub.file_utils import PYTORCH_PRETRAINED_BERT_CACHE, WEIGHTS_NAME, CONFIG_NAME, cached_path

`PYTORCH_PRETRAINED_BERT_CACHE` is berthub's cache root (BERTHUB_CACHE; 0.6's environment variable
of the same name still works, with a deprecation warning), read when the name is used, so a
setting made after import counts. 0.6's name tables (PRETRAINED_MODEL_ARCHIVE_MAP & co., which
modeling and tokenization re-export) are read from berthub's registry the same way. Files go
through berthub's one downloader (berthub.sources.urls): resumed, locked, verified, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from berthub.errors import NotFoundError
from berthub.sources.settings import CONFIG_NAME, LEGACY_CONFIG_NAME, PYTORCH_NAME, HubSettings, cache_root

__all__ = ["BERT_CONFIG_NAME", "CONFIG_NAME", "TF_WEIGHTS_NAME", "WEIGHTS_NAME", "cached_path", "get_from_cache"]

WEIGHTS_NAME = PYTORCH_NAME  # "pytorch_model.bin", what 0.6's scripts torch.save() the state dict to
BERT_CONFIG_NAME = LEGACY_CONFIG_NAME  # "bert_config.json", Google's and 0.6's archives' config name
TF_WEIGHTS_NAME = "model.ckpt"  # the TF checkpoint prefix 0.6 looked for (load with from_tf=True)


def cached_path(url_or_filename: str | os.PathLike, cache_dir: str | os.PathLike | None = None) -> str:
    """The local path of `url_or_filename`: an http(s) URL is downloaded into the cache once, an
    existing local file is returned as it is.

    Raises NotFoundError for a missing local file or an unknown URL scheme (0.6's s3:// included:
    use the object's https URL).
    """
    text = str(url_or_filename)
    scheme = urlsplit(text).scheme
    if scheme in ("http", "https"):
        from berthub.sources import urls

        settings = HubSettings.from_env(cache_dir=cache_dir)
        return str(urls.fetch_url(text, cache_dir=settings.cache_dir, local_files_only=settings.offline, extract=False))
    if Path(text).expanduser().exists():
        return text
    if scheme and len(scheme) > 1:  # "C:\..." parses as scheme "c"
        raise NotFoundError(f"Cannot fetch '{text}': only http(s) URLs and local files are supported.")
    raise NotFoundError(f"File '{text}' not found (from {Path.cwd()}): check the path.")


def get_from_cache(url: str, cache_dir: str | os.PathLike | None = None) -> str:
    """0.6's download-into-the-cache step of cached_path: the local path of the http(s) `url`."""
    if urlsplit(str(url)).scheme not in ("http", "https"):
        raise NotFoundError(f"Cannot fetch '{url}': get_from_cache takes http(s) URLs; use cached_path for files.")
    return cached_path(url, cache_dir)


def _registry_map(value: str) -> dict[str, object]:
    """0.6's tables keyed by model name, from berthub's registry: where each name's files come from
    (a hub repo id, or the URL of an archive) or its longest input (`max_len`)."""
    from berthub.sources.registry import list_models, model_entry

    entries = [model_entry(name) for name in list_models()]
    if value == "max_len":
        return {entry.name: entry.max_len for entry in entries}
    return {entry.name: entry.url or entry.repo_id for entry in entries}


# Read when used, so settings and plugins added after import count.
_LAZY = {
    "PYTORCH_PRETRAINED_BERT_CACHE": cache_root,
    "PRETRAINED_MODEL_ARCHIVE_MAP": lambda: _registry_map("source"),
    "PRETRAINED_VOCAB_ARCHIVE_MAP": lambda: _registry_map("source"),
    "PRETRAINED_VOCAB_POSITIONAL_EMBEDDINGS_SIZE_MAP": lambda: _registry_map("max_len"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
