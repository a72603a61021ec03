"""Hub repos into huggingface_hub's cache: the part of berthub.sources.resolve that talks to a hub.

One HEAD request with a short timeout (`PROBE_TIMEOUT_S`) finds the commit a revision points to;
each file is then taken from the cache or downloaded at that commit, and refs/<revision> recorded so
offline loads find it. Small files go through hf_hub_download; weights stream through
berthub.sources.urls into the same layout (blobs/<etag>, snapshot links, huggingface_hub's lock files).
When the hub is unreachable or answers 5xx, the cached files of the revision are used, with one
warning. Every failure becomes a berthub error that says what to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from filelock import FileLock
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import are_progress_bars_disabled, build_hf_headers

from berthub.errors import CorruptDownloadError, NetworkError, NotFoundError
from berthub.files import link_or_copy, write_text_atomic
from berthub.sources import integrity, urls
from berthub.sources.hub_errors import network_error, status_of, translated, transport_errors
from berthub.sources.settings import PROBE_TIMEOUT_S, WEIGHTS_NAMES, HubSettings, Wanted

logger = logging.getLogger("berthub.sources")

T = TypeVar("T")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


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


def from_hub(repo_id: str, revision: str, wanted: Wanted, settings: HubSettings, asked: str) -> tuple[Path, str]:
    """The snapshot folder holding `wanted` at `revision`, and its commit, every file checked (`_checked`)."""
    repo = _Repo(asked, repo_id, revision, settings)
    names = [name for names in wanted.groups for name in names] + list(wanted.optional)
    return _checked(repo, names, lambda: _located(repo, wanted))


def optional_file(repo_id: str, commit: str, name: str, settings: HubSettings) -> Path | None:
    """`name` of `repo_id` at `commit` from the cache, else downloaded, checked as `from_hub` checks; None
    when the repo has no such file (or, offline, when the cache does not hold it)."""
    repo = _Repo(repo_id, repo_id, commit, settings)
    if settings.offline:
        cached = try_to_load_from_cache(repo_id, name, cache_dir=settings.cache_dir, revision=commit)
        found = Path(cached) if isinstance(cached, str) else None
    else:
        found = _fetch(repo, commit, name)
    if found is None:
        return None

    def again() -> tuple[Path, str]:
        return _fetch_first(repo, commit, (name,)).parent, commit

    directory, _ = _checked(repo, [name], lambda: (found.parent, commit), again)
    return directory / name


def _checked(repo: _Repo, names: list[str], locate: Callable[[], tuple[Path, str]],
             again: Callable[[], tuple[Path, str]] | None = None) -> tuple[Path, str]:
    """`locate()`'s snapshot folder and commit once the files `names` in it pass their checks.

    A cached file that fails (integrity.file_problem: the safetensors size, and the content: a stat
    against the record of its hash, or a full re-hash with settings.verify) is removed; online it is
    fetched again (by `again`, default `locate`), offline the load fails naming it.
    """
    settings = repo.settings
    directory, commit = locate()
    damaged = integrity.damaged_files(directory, names, full=settings.verify)
    if not damaged:
        return directory, commit
    integrity.remove_cached(damaged)
    reasons = _reasons(damaged)
    if settings.offline:
        raise CorruptDownloadError(
            f"The cached files of {repo} were damaged ({reasons}) and have been removed from {directory}. Load "
            f"it again while online (or `berthub download {repo.asked}`) to fetch them anew."
        )
    logger.warning("Cached files of %s were damaged (%s); removed them and downloading again.", repo, reasons)
    try:
        directory, commit = (again or locate)()
    except (NetworkError, NotFoundError) as error:
        raise CorruptDownloadError(f"The cached files of {repo} were damaged ({reasons}) and have been removed "
                                   f"from {directory}, and downloading them again failed: {error}") from error
    damaged = integrity.damaged_files(directory, names, full=settings.verify)
    if damaged:
        integrity.remove_cached(damaged)
        raise CorruptDownloadError(f"{repo} on {settings.endpoint} serves damaged files even when downloaded "
                                   f"anew ({_reasons(damaged)}).")
    return directory, commit


def _reasons(damaged: dict[Path, str]) -> str:
    return "; ".join(f"{path.name}: {why}" for path, why in damaged.items())


def _located(repo: _Repo, wanted: Wanted) -> tuple[Path, str]:
    """The snapshot folder holding `wanted` (from the cache, else downloaded), and its commit."""
    settings = repo.settings
    if settings.offline:
        return _from_cache(repo, wanted, unreachable=None)
    if _COMMIT.match(repo.revision):
        try:  # a commit never changes: if its files are cached, there is nothing to ask the hub
            return _from_cache(repo, wanted, unreachable=None)
        except NotFoundError:
            pass
    commit, cached = _commit_or_cached(repo, wanted)
    if cached is not None:
        return cached, commit
    paths = [_fetch_first(repo, commit, names) for names in wanted.groups]
    for name in wanted.optional:
        _fetch(repo, commit, name)
    _remember_ref(repo, commit)
    return paths[0].parent, commit


def _commit_or_cached(repo: _Repo, wanted: Wanted) -> tuple[str, Path | None]:
    """(commit, None) from the hub, or (commit, snapshot folder) from the cache while the hub is down.

    With the revision cached, one failed probe is enough: the cache answers at once. With a cold
    cache there is nothing to fall back on, so a hub answering 5xx/429 is asked again with
    urls.Retry's backoff before the load fails.
    """
    retry, attempt = urls.Retry(), 1
    while True:
        try:
            return _probe(repo, wanted.groups[0][0]), None
        except _Unreachable as unreachable:
            try:
                directory, commit = _from_cache(repo, wanted, unreachable=str(unreachable))
            except NetworkError:
                if attempt == retry.attempts or not unreachable.answered:
                    raise
                logger.info("Hub %s: %s; retrying (%d of %d).", repo.settings.endpoint, unreachable, attempt,
                            retry.attempts - 1)
                retry.sleep_before(attempt)
                attempt += 1
                continue
            logger.warning(
                "Hub %s is unreachable (%s); loading %s from the cache (%s). Set BERTHUB_OFFLINE=1 to skip this "
                "check.", repo.settings.endpoint, unreachable, repo, directory,
            )  # fmt: skip
            return commit, directory


class _Unreachable(Exception):
    """The hub did not answer usefully (connection failed, timed out, 5xx): try the cache.

    `answered`: the hub is up but overloaded or failing (HTTP 5xx/429), which is worth asking again;
    a refused or silent connection is not (retrying it only multiplies the wait).
    """

    def __init__(self, reason: str, answered: bool = False) -> None:
        super().__init__(reason)
        self.answered = answered


def _probe(repo: _Repo, filename: str) -> str:
    """The commit `repo.revision` points to now, from one short HEAD request."""
    endpoint = repo.settings.endpoint
    url = hf_hub_url(repo.repo_id, filename, revision=repo.revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, token=repo.settings.token, timeout=PROBE_TIMEOUT_S, endpoint=endpoint)
    except transport_errors() as error:
        raise _Unreachable(f"{type(error).__name__}: {error}") from error
    except HfHubHTTPError as error:
        if status_of(error) == 429 or status_of(error) >= 500:
            raise _Unreachable(f"HTTP {status_of(error)}", answered=True) from error
        raise translated(error, repo, filename) from error
    if metadata.commit_hash is None:
        raise NetworkError(
            f"{endpoint} answered without an X-Repo-Commit header, so it is not a Hugging Face-compatible "
            "hub. Check BERTHUB_ENDPOINT (or HF_ENDPOINT) and your proxy settings."
        )
    if not _COMMIT.match(metadata.commit_hash):  # it becomes a folder name in the cache: never trust it
        raise NetworkError(
            f"{endpoint} answered X-Repo-Commit {metadata.commit_hash[:80]!r} for {repo}, which is not a 40-hex "
            "commit id; refusing to use it. Check BERTHUB_ENDPOINT (or HF_ENDPOINT) and your proxy settings."
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
    cached = try_to_load_from_cache(repo.repo_id, name, cache_dir=repo.settings.cache_dir, revision=commit)
    if isinstance(cached, str):
        return Path(cached)
    if cached is not None:  # the cache remembers that the hub has no such file at this commit
        return None
    try:
        if name in WEIGHTS_NAMES:
            return _retrying(repo, name, lambda: _fetch_large(repo, commit, name))
        return Path(_retrying(repo, name, lambda: _hf_download(repo, commit, name)))
    except LocalEntryNotFoundError as error:  # the connection failed after the probe succeeded
        raise network_error(repo, str(error.__cause__ or error)) from error
    except EntryNotFoundError:
        return None
    except HfHubHTTPError as error:
        raise translated(error, repo, name) from error
    except transport_errors() as error:
        raise network_error(repo, f"{type(error).__name__}: {error}") from error


def _retrying(repo: _Repo, name: str, fetch: Callable[[], T]) -> T:
    """`fetch()`, asked again with urls.Retry's backoff while the hub answers 5xx or 429 (its
    metadata call or huggingface_hub's download); any other failure, or the last attempt's, is raised."""
    retry, attempt = urls.Retry(), 1
    while True:
        try:
            return fetch()
        except (HfHubHTTPError, LocalEntryNotFoundError) as error:
            cause = error if isinstance(error, HfHubHTTPError) else error.__cause__
            status = status_of(cause) if isinstance(cause, HfHubHTTPError) else 0
            if not (status == 429 or status >= 500) or attempt == retry.attempts:
                raise
            logger.info("Hub %s answered HTTP %d for %s of %s; retrying (%d of %d).", repo.settings.endpoint,
                        status, name, repo, attempt, retry.attempts - 1)
        retry.sleep_before(attempt)
        attempt += 1


def _hf_download(repo: _Repo, commit: str, name: str) -> str:
    settings = repo.settings
    return hf_hub_download(
        repo.repo_id, name, revision=commit, cache_dir=settings.cache_dir, endpoint=settings.endpoint,
        token=settings.token, library_name="berthub",
    )  # fmt: skip


def _fetch_large(repo: _Repo, commit: str, name: str) -> Path:
    """A weights file into huggingface_hub's cache layout (blobs/<etag>, snapshot link, its lock file),
    with the bytes streamed by berthub.sources.urls: 1 MiB reads through requests move them about twice as
    fast as huggingface_hub's httpx client on fast links, resuming its `.incomplete` files all the same.
    An LFS file's etag is its sha256: a transfer that does not hash to it is removed, never cached."""
    settings = repo.settings
    url = hf_hub_url(repo.repo_id, name, revision=commit, endpoint=settings.endpoint)
    try:
        metadata = get_hf_file_metadata(url, token=settings.token, endpoint=settings.endpoint)
    except EntryNotFoundError:
        _remember_missing(repo, commit, name)
        raise
    if metadata.etag is None or not _SHA256.match(metadata.etag):  # not an LFS file: its etag is no blob name
        return Path(_hf_download(repo, commit, name))
    folder = settings.cache_dir / repo_folder_name(repo_id=repo.repo_id, repo_type="model")
    blob, pointer = folder / "blobs" / metadata.etag, folder / "snapshots" / commit / name
    lock = settings.cache_dir / ".locks" / folder.name / f"{metadata.etag}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    blob.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):  # the lock huggingface_hub takes for this blob
        if not blob.is_file():
            same_host = urlsplit(metadata.location).netloc == urlsplit(url).netloc  # no token to a CDN
            urls.stream_to_file(
                metadata.location, blob, sha256=metadata.etag, size=metadata.size, partial_suffix=".incomplete",
                label=name, headers=build_hf_headers(token=settings.token) if same_host else {},
                progress=not are_progress_bars_disabled(),
            )  # fmt: skip
            integrity.remember_blob(blob)  # hashed while streaming: loads trust it while a stat says unchanged
        link_or_copy(blob, pointer, symlink=True)  # as huggingface_hub links snapshots to blobs
    return pointer


def _remember_missing(repo: _Repo, commit: str, name: str) -> None:
    """Record that `name` does not exist at `commit`, where huggingface_hub records it (`.no_exist`)."""
    marker = repo.settings.cache_dir / repo_folder_name(repo_id=repo.repo_id, repo_type="model") / ".no_exist"
    try:
        (marker / commit).mkdir(parents=True, exist_ok=True)
        (marker / commit / name).touch()
    except OSError:
        pass  # only costs one more request next time


def _from_cache(repo: _Repo, wanted: Wanted, unreachable: str | None) -> tuple[Path, str]:
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
                raise network_error(repo, unreachable, missing)
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
        write_text_atomic(ref, commit)
    except OSError as error:  # a read-only cache still serves this load; only offline reuse suffers
        logger.warning("Could not record %s -> %s in the cache (%s).", repo, commit[:12], error)
