"""pytorch-pretrained-BERT 0.6's `file_utils` module: file names, the cache folder and `cached_path`.

    from berthub.file_utils import PYTORCH_PRETRAINED_BERT_CACHE, WEIGHTS_NAME, CONFIG_NAME, cached_path

`PYTORCH_PRETRAINED_BERT_CACHE` is berthub's cache root (BERTHUB_CACHE; 0.6's environment variable
of the same name still works, with a deprecation warning), read when the name is used, so a
setting made after import counts. Files go through berthub's one downloader (berthub.download):
resumed, locked, verified, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from berthub.errors import NotFoundError
from berthub.hub import CONFIG_NAME, LEGACY_CONFIG_NAME, HubSettings, cache_root
from berthub.pretrained import PYTORCH_NAME

__all__ = ["BERT_CONFIG_NAME", "CONFIG_NAME", "TF_WEIGHTS_NAME", "WEIGHTS_NAME", "cached_path"]

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
        from berthub import download

        settings = HubSettings.from_env(cache_dir=cache_dir)
        return str(download.download_url(text, cache_dir=settings.cache_dir, local_files_only=settings.offline))
    if Path(text).expanduser().exists():
        return text
    if scheme and len(scheme) > 1:  # "C:\..." parses as scheme "c"
        raise NotFoundError(f"Cannot fetch '{text}': only http(s) URLs and local files are supported.")
    raise NotFoundError(f"File '{text}' not found (from {Path.cwd()}): check the path.")


def __getattr__(name: str) -> Path:
    if name == "PYTORCH_PRETRAINED_BERT_CACHE":
        return cache_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
