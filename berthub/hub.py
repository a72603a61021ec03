"""Resolve what a user names to local files: a registry name, a hub repo id, a directory or a URL.

`resolve_model` and `resolve_tokenizer` are the only entry points the rest of berthub uses; they
return a `Resolved` whose directory holds the files loading needs, fetching only those:

    model:      config.json + model.safetensors (or pytorch_model.bin when the repo has no safetensors)
    tokenizer:  vocab.txt (+ tokenizer_config.json when the repo has one)

Hub repos go through huggingface_hub (its cache layout, locks, etags and resume), so files that
transformers or huggingface_hub already downloaded are reused. Settings are read at call time:

    BERTHUB_ENDPOINT (HF_ENDPOINT)   hub URL, default https://huggingface.co
    BERTHUB_TOKEN (HF_TOKEN)         token for private or gated repos
    BERTHUB_CACHE (HF_HUB_CACHE)     cache root, default huggingface_hub's (~/.cache/huggingface/hub);
                                     0.6's PYTORCH_PRETRAINED_BERT_CACHE is honoured with a FutureWarning
    BERTHUB_OFFLINE (HF_HUB_OFFLINE) 1 = no network call at all, files come from the cache
    BERTHUB_VERIFY                   1 = re-hash every cached file on every load (default: the
                                     free size check of safetensors files only)
    BERTHUB_MAX_EXTRACT_SIZE / _RATIO  what an archive may unpack to (berthub.archives)

Online, one HEAD request with a short timeout finds the commit the revision points to; every file
is then taken from the cache or downloaded at that commit (berthub._hub_repo). If the hub cannot be
reached (or answers 5xx) the cached files of the revision are used, with one warning. Proxies come
from the usual HTTP(S)_PROXY / NO_PROXY variables.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from berthub.errors import NotFoundError
from berthub.registry import ModelEntry, model_entry

__all__ = [
    "CONFIG_NAME", "LEGACY_CONFIG_NAME", "PROBE_TIMEOUT_S", "TOKENIZER_CONFIG_NAME", "VOCAB_NAME", "WEIGHTS_NAMES",
    "HubSettings", "Resolved", "cache_root", "resolve_model", "resolve_tokenizer",
]  # fmt: skip

# huggingface_hub and requests are imported only when a hub or a URL is used (berthub._hub_repo,
# berthub.download), so loading a local directory never pays for them.
CONFIG_NAME = "config.json"
WEIGHTS_NAMES = ("model.safetensors", "pytorch_model.bin")
VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
PROBE_TIMEOUT_S = 3.0  # how long a load waits for the hub before falling back to the cache
LEGACY_CONFIG_NAME = "bert_config.json"  # pytorch-pretrained-BERT archives and Google's releases
DEFAULT_ENDPOINT = "https://huggingface.co"
LEGACY_CACHE_VARIABLE = "PYTORCH_PRETRAINED_BERT_CACHE"  # pytorch-pretrained-BERT 0.6's cache setting
LOCAL_ARCHIVES_FOLDER = "berthub-archives"  # local .tar.gz model archives, extracted once


@dataclass(frozen=True)
class Wanted:
    """The files a load needs: each group lists alternatives in order of preference."""

    what: str
    groups: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()


MODEL_FILES = Wanted("model", ((CONFIG_NAME,), WEIGHTS_NAMES))
TOKENIZER_FILES = Wanted("tokenizer", ((VOCAB_NAME,),), (TOKENIZER_CONFIG_NAME,))


@dataclass(frozen=True)
class Resolved:
    """A local directory holding the files asked for, and the registry entry when a name was used."""

    directory: Path
    entry: ModelEntry | None = None  # set when resolved from a registry name
    commit: str | None = None  # the hub commit the files come from (None for directories and URLs)


@dataclass(frozen=True)
class HubSettings:
    """Where to fetch from and cache to, from arguments first, then the environment at call time."""

    endpoint: str
    token: str | None
    cache_dir: Path
    offline: bool
    verify: bool = False  # re-hash cached files on every load, not only the free size check

    @classmethod
    def from_env(
        cls,
        *,
        cache_dir: str | Path | None = None,
        token: str | None = None,
        local_files_only: bool = False,
        endpoint: str | None = None,
        verify: bool | None = None,
    ) -> HubSettings:
        offline = _env("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") or "0"
        return cls(
            endpoint=(endpoint or _env("BERTHUB_ENDPOINT", "HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            token=token or _env("BERTHUB_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
            cache_dir=Path(cache_dir or cache_root()).expanduser(),
            offline=local_files_only or _true(offline),
            verify=_true(_env("BERTHUB_VERIFY") or "0") if verify is None else verify,
        )


def resolve_model(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    verify: bool | None = None,
) -> Resolved:
    """Directory with a config (config.json, or bert_config.json in local folders) and one weights file.

    `name_or_path`: a registry name ("bert-base-chinese"), a hub repo id ("google-bert/bert-base-chinese",
    with `revision`), a local directory, or a local path or http(s) URL of a .tar.gz / .zip archive.
    `verify=True` (or BERTHUB_VERIFY=1) re-hashes cached hub files before they are used.
    """
    settings = HubSettings.from_env(
        cache_dir=cache_dir, token=token, local_files_only=local_files_only, endpoint=endpoint, verify=verify
    )
    return _resolve(name_or_path, MODEL_FILES, revision, settings)


def resolve_tokenizer(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    verify: bool | None = None,
) -> Resolved:
    """Directory with vocab.txt (and tokenizer_config.json when the source has one).

    Accepts what resolve_model accepts, plus a URL of a vocabulary file itself.
    """
    settings = HubSettings.from_env(
        cache_dir=cache_dir, token=token, local_files_only=local_files_only, endpoint=endpoint, verify=verify
    )
    return _resolve(name_or_path, TOKENIZER_FILES, revision, settings)


def _resolve(name_or_path: str | Path, wanted: Wanted, revision: str | None, settings: HubSettings) -> Resolved:
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
    if "/" not in text:
        entry = model_entry(text)
        if entry.url is not None:
            return Resolved(_from_url(entry.url, entry.sha256, wanted, settings), entry)
        from berthub._hub_repo import from_hub

        directory, commit = from_hub(entry.repo_id, revision or entry.revision, wanted, settings, text)
        return Resolved(directory, entry, commit)
    from berthub._hub_repo import from_hub

    directory, commit = from_hub(text, revision or "main", wanted, settings, text)
    return Resolved(directory, None, commit)


# -- local directories and plain URLs ----------------------------------------------------------


def _checked_directory(directory: Path, wanted: Wanted, asked: str) -> Path:
    names = {path.name for path in directory.iterdir()}
    if wanted is TOKENIZER_FILES:
        missing = [] if VOCAB_NAME in names else [VOCAB_NAME]
    else:
        has_tf_checkpoint = any(name.endswith(".index") for name in names)  # loaded with from_tf=True
        missing = [] if names & {CONFIG_NAME, LEGACY_CONFIG_NAME} else [f"{CONFIG_NAME} (or {LEGACY_CONFIG_NAME})"]
        missing += [] if names & set(WEIGHTS_NAMES) or has_tf_checkpoint else [" or ".join(WEIGHTS_NAMES)]
    if missing:
        present = ", ".join(sorted(names)) or "nothing"
        raise NotFoundError(
            f"'{asked}' is not a {wanted.what} directory: it has no {' and no '.join(missing)} "
            f"(it holds {present}). Save one with save_pretrained(), or pass a registry name or repo id."
        )
    return directory


def _from_url(url: str, sha256: str | None, wanted: Wanted, settings: HubSettings) -> Path:
    from berthub import download

    fetched = download.fetch_url(url, cache_dir=settings.cache_dir, sha256=sha256, local_files_only=settings.offline)
    if fetched.is_dir():
        if wanted is MODEL_FILES:
            _add_config_json(fetched)
        return _checked_directory(fetched, wanted, url)
    if wanted is TOKENIZER_FILES:
        return _named(fetched, VOCAB_NAME).parent
    raise NotFoundError(
        f"'{url}' is a single file, not an archive: a model needs {CONFIG_NAME} and weights together. "
        "Pass the URL of a .tar.gz or .zip holding both, or a local directory."
    )


def _from_local_archive(archive: Path, settings: HubSettings) -> Path:
    """A local .tar.gz / .zip (pytorch-pretrained-BERT's model archives) extracted once into the cache.

    The cache folder is keyed by the archive's absolute path, size and modification time, so a
    replaced archive is extracted afresh. Extraction works on a link (or copy) inside that folder:
    a refused archive is removed from the cache, never from where the user keeps it.
    """
    from filelock import FileLock

    from berthub import archives

    if not archives.is_archive(archive):
        raise NotFoundError(
            f"'{archive}' is a file, not a model directory or a .tar.gz / .zip model archive; pass the folder "
            f"holding {CONFIG_NAME} and the weights."
        )
    stat = archive.resolve().stat()
    key = hashlib.sha256(f"{archive.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    folder = settings.cache_dir / LOCAL_ARCHIVES_FOLDER / f"{archive.name}--{key}"
    extracted = folder / archives.EXTRACTED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not extracted.is_dir():
            archives.extract_once(str(archive), _named(archive.resolve(), archive.name, folder), extracted)
    root = archives.content_root(extracted)
    _add_config_json(root)
    return _checked_directory(root, MODEL_FILES, str(archive))


def _add_config_json(directory: Path) -> None:
    """Archives of pytorch-pretrained-BERT name the config bert_config.json; give it the usual name too."""
    legacy, config = directory / LEGACY_CONFIG_NAME, directory / CONFIG_NAME
    if legacy.is_file() and not config.exists():
        temporary = directory / f".{CONFIG_NAME}.tmp-{os.getpid()}"
        shutil.copyfile(legacy, temporary)
        os.replace(temporary, config)


def _named(file: Path, name: str, folder: Path | None = None) -> Path:
    """`file` under the name `name` in `folder` (default: its own cache folder), as a hard link or a
    copy where links fail."""
    target = (folder or file.parent) / name
    if not target.exists():
        temporary = target.with_name(f".{name}.tmp-{os.getpid()}")
        temporary.unlink(missing_ok=True)
        try:
            os.link(file, temporary)
        except OSError:
            shutil.copyfile(file, temporary)
        os.replace(temporary, target)
    return target


# -- environment ----------------------------------------------------------------------------------


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def cache_root() -> Path:
    """The cache root: BERTHUB_CACHE, else pytorch-pretrained-BERT's PYTORCH_PRETRAINED_BERT_CACHE (with a
    one-time deprecation warning), else HF_HUB_CACHE, else huggingface_hub's default."""
    legacy = _env(LEGACY_CACHE_VARIABLE)
    if legacy and not _env("BERTHUB_CACHE"):
        if LEGACY_CACHE_VARIABLE not in _warned:
            _warned.add(LEGACY_CACHE_VARIABLE)
            warnings.warn(
                f"{LEGACY_CACHE_VARIABLE} is pytorch-pretrained-BERT's name for the cache; berthub uses it "
                f"({legacy}) but reads BERTHUB_CACHE first: set BERTHUB_CACHE instead.",
                FutureWarning, stacklevel=3,
            )
        return Path(legacy).expanduser()
    return Path(_env("BERTHUB_CACHE", "HF_HUB_CACHE") or _default_cache()).expanduser()


_warned: set[str] = set()  # deprecated settings already warned about in this process


def _true(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _default_cache() -> Path:
    home = _env("HF_HOME") or os.path.join(_env("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"
