"""Resolve what a user names to local files: a registry name, a hub repo id, a directory or a URL.

`resolve_model` and `resolve_tokenizer` are the only entry points the rest of berthub uses; they
return a `Resolved` whose directory holds the files loading needs, fetching only those:

    model:      config.json + model.safetensors (or pytorch_model.bin when the repo has no safetensors)
    tokenizer:  vocab.txt (+ tokenizer_config.json when the repo has one)

Hub repos go through huggingface_hub (its cache layout, locks, etags and resume), so files that
transformers or huggingface_hub already downloaded are reused. Settings are read at call time:

    BERTHUB_ENDPOINT (HF_ENDPOINT)   hub URL, default https://huggingface.co
    BERTHUB_TOKEN (HF_TOKEN)         token for private or gated repos
    BERTHUB_CACHE (HF_HUB_CACHE)     cache root, default huggingface_hub's (~/.cache/huggingface/hub)
    BERTHUB_OFFLINE (HF_HUB_OFFLINE) 1 = no network call at all, files come from the cache

Online, one HEAD request with a short timeout finds the commit the revision points to; every file
is then taken from the cache or downloaded at that commit. If the hub cannot be reached (or answers
5xx) the cached files of the revision are used, with one warning. Proxies come from the usual
HTTP(S)_PROXY / NO_PROXY variables.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name

from berthub import download
from berthub.errors import AuthError, NetworkError, NotFoundError
from berthub.registry import ModelEntry, model_entry

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
LEGACY_CONFIG_NAME = "bert_config.json"  # pytorch-pretrained-BERT archives and Google's releases
WEIGHTS_NAMES = ("model.safetensors", "pytorch_model.bin")
VOCAB_NAME = "vocab.txt"
TOKENIZER_CONFIG_NAME = "tokenizer_config.json"
DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0  # how long a load waits for the hub before falling back to the cache
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


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

    @classmethod
    def from_env(
        cls,
        *,
        cache_dir: str | Path | None = None,
        token: str | None = None,
        local_files_only: bool = False,
        endpoint: str | None = None,
    ) -> HubSettings:
        offline = _env("BERTHUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") or "0"
        return cls(
            endpoint=(endpoint or _env("BERTHUB_ENDPOINT", "HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"),
            token=token or _env("BERTHUB_TOKEN", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
            cache_dir=Path(cache_dir or _env("BERTHUB_CACHE", "HF_HUB_CACHE") or _default_cache()).expanduser(),
            offline=local_files_only or offline.strip().lower() in ("1", "true", "yes", "on"),
        )


@dataclass(frozen=True)
class _Wanted:
    """The files a load needs: each group lists alternatives in order of preference."""

    what: str
    groups: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()


MODEL_FILES = _Wanted("model", ((CONFIG_NAME,), WEIGHTS_NAMES))
TOKENIZER_FILES = _Wanted("tokenizer", ((VOCAB_NAME,),), (TOKENIZER_CONFIG_NAME,))


def resolve_model(
    name_or_path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
) -> Resolved:
    """Directory with a config (config.json, or bert_config.json in local folders) and one weights file.

    `name_or_path`: a registry name ("bert-base-chinese"), a hub repo id ("google-bert/bert-base-chinese",
    with `revision`), a local directory, or an http(s) URL of a .tar.gz / .zip archive.
    """
    settings = HubSettings.from_env(
        cache_dir=cache_dir, token=token, local_files_only=local_files_only, endpoint=endpoint
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
) -> Resolved:
    """Directory with vocab.txt (and tokenizer_config.json when the source has one).

    Accepts what resolve_model accepts, plus a URL of a vocabulary file itself.
    """
    settings = HubSettings.from_env(
        cache_dir=cache_dir, token=token, local_files_only=local_files_only, endpoint=endpoint
    )
    return _resolve(name_or_path, TOKENIZER_FILES, revision, settings)


def _resolve(name_or_path: str | Path, wanted: _Wanted, revision: str | None, settings: HubSettings) -> Resolved:
    text = str(name_or_path)
    local = Path(text).expanduser()
    if local.is_dir():
        return Resolved(_checked_directory(local, wanted, text))
    if text.startswith(("http://", "https://")):
        return Resolved(_from_url(text, None, wanted, settings))
    if isinstance(name_or_path, Path) or text.startswith((".", "/", "~", "\\")) or text.count("/") > 1:
        raise NotFoundError(f"No directory '{text}' (from {Path.cwd()}): check the path.")
    if "/" not in text:
        entry = model_entry(text)
        if entry.url is not None:
            return Resolved(_from_url(entry.url, entry.sha256, wanted, settings), entry)
        directory, commit = _from_hub(entry.repo_id, revision or entry.revision, wanted, settings, text)
        return Resolved(directory, entry, commit)
    directory, commit = _from_hub(text, revision or "main", wanted, settings, text)
    return Resolved(directory, None, commit)


# -- local directories and plain URLs ----------------------------------------------------------


def _checked_directory(directory: Path, wanted: _Wanted, asked: str) -> Path:
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


def _from_url(url: str, sha256: str | None, wanted: _Wanted, settings: HubSettings) -> Path:
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


def _add_config_json(directory: Path) -> None:
    """Archives of pytorch-pretrained-BERT name the config bert_config.json; give it the usual name too."""
    legacy, config = directory / LEGACY_CONFIG_NAME, directory / CONFIG_NAME
    if legacy.is_file() and not config.exists():
        temporary = directory / f".{CONFIG_NAME}.tmp-{os.getpid()}"
        shutil.copyfile(legacy, temporary)
        os.replace(temporary, config)


def _named(file: Path, name: str) -> Path:
    """`file` under the name `name` in its own cache folder (a hard link, or a copy where links fail)."""
    target = file.with_name(name)
    if not target.exists():
        temporary = file.with_name(f".{name}.tmp-{os.getpid()}")
        temporary.unlink(missing_ok=True)
        try:
            os.link(file, temporary)
        except OSError:
            shutil.copyfile(file, temporary)
        os.replace(temporary, target)
    return target


# -- hub repos ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Repo:
    """One hub lookup: what the user asked for, the repo and revision it means, and the settings."""

    asked: str
    repo_id: str
    revision: str
    settings: HubSettings

    def __str__(self) -> str:
        what = f"'{self.repo_id}'" if self.asked == self.repo_id else f"'{self.asked}' ({self.repo_id})"
        return f"{what} at revision {self.revision}"


def _from_hub(repo_id: str, revision: str, wanted: _Wanted, settings: HubSettings, asked: str) -> tuple[Path, str]:
    repo = _Repo(asked, repo_id, revision, settings)
    if settings.offline:
        return _from_cache(repo, wanted, unreachable=None)
    if _COMMIT.match(revision):
        try:  # a commit never changes: if its files are cached, there is nothing to ask the hub
            return _from_cache(repo, wanted, unreachable=None)
        except NotFoundError:
            pass
    try:
        commit = _probe(repo, wanted.groups[0][0])
    except _Unreachable as unreachable:
        directory, commit = _from_cache(repo, wanted, unreachable=str(unreachable))
        logger.warning(
            "Hub %s is unreachable (%s); loading %s from the cache (%s). Set BERTHUB_OFFLINE=1 to skip this check.",
            settings.endpoint, unreachable, repo, directory,
        )  # fmt: skip
        return directory, commit
    paths = [_fetch_first(repo, commit, names) for names in wanted.groups]
    for name in wanted.optional:
        _fetch(repo, commit, name)
    _remember_ref(repo, commit)
    return paths[0].parent, commit


class _Unreachable(Exception):
    """The hub did not answer usefully (connection failed, timed out, 5xx): try the cache."""


def _probe(repo: _Repo, filename: str) -> str:
    """The commit `repo.revision` points to now, from one short HEAD request."""
    endpoint = repo.settings.endpoint
    url = hf_hub_url(repo.repo_id, filename, revision=repo.revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, token=repo.settings.token, timeout=PROBE_TIMEOUT_S, endpoint=endpoint)
    except _transport_errors() as error:
        raise _Unreachable(f"{type(error).__name__}: {error}") from error
    except HfHubHTTPError as error:
        if _status(error) == 429 or _status(error) >= 500:
            raise _Unreachable(f"HTTP {_status(error)}") from error
        raise _translated(error, repo, filename) from error
    if metadata.commit_hash is None:
        raise NetworkError(
            f"{endpoint} answered without an X-Repo-Commit header, so it is not a Hugging Face-compatible "
            "hub. Check BERTHUB_ENDPOINT (or HF_ENDPOINT) and your proxy settings."
        )
    return metadata.commit_hash


def _fetch_first(repo: _Repo, commit: str, names: tuple[str, ...]) -> Path:
    for name in names:
        found = _fetch(repo, commit, name)
        if found is not None:
            return found
    raise NotFoundError(
        f"{repo} (commit {commit[:12]}) on {repo.settings.endpoint} has no {' or '.join(names)}, "
        "so it is not a BERT repo berthub can load."
    )


def _fetch(repo: _Repo, commit: str, name: str) -> Path | None:
    """The file from the cache, else downloaded; None when the repo does not have it at `commit`."""
    settings = repo.settings
    cached = try_to_load_from_cache(repo.repo_id, name, cache_dir=settings.cache_dir, revision=commit)
    if isinstance(cached, str):
        return Path(cached)
    if cached is not None:  # the cache remembers that the hub has no such file at this commit
        return None
    try:
        path = hf_hub_download(
            repo.repo_id, name, revision=commit, cache_dir=settings.cache_dir, endpoint=settings.endpoint,
            token=settings.token, library_name="berthub",
        )  # fmt: skip
    except LocalEntryNotFoundError as error:  # the connection failed after the probe succeeded
        raise _network_error(repo, str(error.__cause__ or error)) from error
    except EntryNotFoundError:
        return None
    except HfHubHTTPError as error:
        raise _translated(error, repo, name) from error
    except _transport_errors() as error:
        raise _network_error(repo, f"{type(error).__name__}: {error}") from error
    return Path(path)


def _from_cache(repo: _Repo, wanted: _Wanted, unreachable: str | None) -> tuple[Path, str]:
    found: list[Path] = []
    for names in wanted.groups:
        for name in names:
            cached = try_to_load_from_cache(
                repo.repo_id, name, cache_dir=repo.settings.cache_dir, revision=repo.revision
            )
            if isinstance(cached, str):
                found.append(Path(cached))
                break
        else:
            missing = " or ".join(names)
            if unreachable is not None:
                raise _network_error(repo, unreachable, missing)
            raise NotFoundError(
                f"{repo} is not in the cache {repo.settings.cache_dir} ({missing} is missing) and network access "
                f"is off (BERTHUB_OFFLINE=1 or local_files_only). Run `berthub download {repo.asked}` while "
                "online, or point BERTHUB_CACHE at a cache that has it."
            )
    return found[0].parent, found[0].parent.name


def _remember_ref(repo: _Repo, commit: str) -> None:
    """Point refs/<revision> at `commit`, as huggingface_hub does, so offline loads find this snapshot."""
    if repo.revision == commit:
        return
    folder = repo.settings.cache_dir / repo_folder_name(repo_id=repo.repo_id, repo_type="model")
    ref = folder / "refs" / repo.revision
    try:
        if ref.is_file() and ref.read_text() == commit:
            return
        ref.parent.mkdir(parents=True, exist_ok=True)
        temporary = ref.with_name(f".{ref.name}.tmp-{os.getpid()}")
        temporary.write_text(commit)
        os.replace(temporary, ref)
    except OSError as error:  # a read-only cache still serves this load; only offline reuse suffers
        logger.warning("Could not record %s -> %s in the cache (%s).", repo, commit[:12], error)


# -- errors ---------------------------------------------------------------------------------------


def _status(error: HfHubHTTPError) -> int:
    response = getattr(error, "response", None)
    return int(getattr(response, "status_code", 0) or 0)


def _translated(error: HfHubHTTPError, repo: _Repo, filename: str) -> Exception:
    status, where = _status(error), f"on {repo.settings.endpoint}"
    if isinstance(error, GatedRepoError) or status in (401, 403):
        hint = "the token was refused: check it" if repo.settings.token else "set BERTHUB_TOKEN (or pass token=)"
        return AuthError(
            f"{repo} {where} needs a token with access (HTTP {status}): {hint}. "
            "A repo that does not exist can also answer this way: check the name."
        )
    if isinstance(error, RevisionNotFoundError):
        return NotFoundError(f"{repo} {where}: no such revision. Check the branch, tag or commit.")
    if isinstance(error, RepositoryNotFoundError) or (status == 404 and not isinstance(error, EntryNotFoundError)):
        return NotFoundError(
            f"No repository '{repo.repo_id}' {where} (HTTP {status}): check the repo id; `berthub models` lists names."
        )
    if isinstance(error, EntryNotFoundError):
        return NotFoundError(f"{repo} {where} has no file {filename}.")
    return NetworkError(f"The hub {repo.settings.endpoint} answered HTTP {status} for {repo}: {error}")


def _network_error(repo: _Repo, reason: str, missing: str | None = None) -> NetworkError:
    cached = f", and its {missing} is not in the cache {repo.settings.cache_dir}" if missing else ""
    return NetworkError(
        f"Cannot reach the hub at {repo.settings.endpoint} for {repo} ({reason}){cached}. Check your connection "
        "or proxy (HTTPS_PROXY). Once `berthub download NAME` has filled the cache, loads work without the "
        "network, and BERTHUB_OFFLINE=1 makes them skip it entirely."
    )


@functools.cache
def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "no usable connection", whichever HTTP client huggingface_hub is built on."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


# -- environment ----------------------------------------------------------------------------------


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _default_cache() -> Path:
    home = _env("HF_HOME") or os.path.join(_env("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"
