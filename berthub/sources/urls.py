"""Plain-URL downloads into the cache: pytorch-pretrained-BERT's archives and any direct file URL.

Hub repos go through huggingface_hub (berthub.sources.hub_cache); this module covers what it does not: a URL with
no hub behind it. Each URL gets one human-readable folder in `<cache>/berthub-urls/`:

    bert-base-uncased.tar.gz--3f9c0e2a1b4d/
        bert-base-uncased.tar.gz        the verified download (appears only when complete)
        bert-base-uncased.tar.gz.partial  bytes so far; the next attempt resumes it with Range
        source.json                     url, file name, sha256, size, etag
        extracted/                      the archive's files (archives only)

A file lock per URL (in `<cache>/.locks/berthub-urls/`) makes concurrent processes download once;
the others wait and reuse the result. Nothing half-written is ever at a final path: downloads and
extractions land in temporary names and are renamed into place after verification.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import requests
from filelock import FileLock
from tqdm.auto import tqdm

from berthub.errors import AuthError, CorruptDownloadError, NetworkError, NotFoundError
from berthub.files import write_bytes_atomic
from berthub.sources import archives, hashed
from berthub.sources.hashed import sha256_of  # noqa: F401 (berthub.sources.urls.sha256_of, as before)
from berthub.sources.settings import EXTRACTED_FOLDER, HASHED_FOLDER, SOURCE_FILE, URLS_FOLDER

logger = logging.getLogger("berthub.sources")

_CHUNK = 1 << 20
_STREAM_CHUNK = 1 << 20  # 64 KiB reads halve the throughput on fast links; a dropped link loses < 1 MiB


@dataclass(frozen=True)
class Retry:
    """How hard to try: `attempts` requests at most, sleeping backoff_s, 2*backoff_s, ... (at most
    max_backoff_s) in between; each request waits `timeout_s` (connect, read) seconds, as requests takes it."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    timeout_s: tuple[float, float] = (10.0, 60.0)

    def sleep_before(self, attempt: int) -> None:
        """Wait before retry number `attempt` (1 = first retry)."""
        time.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))


class _Retryable(Exception):
    """A failure worth another attempt (connection lost, 5xx, 429, short body)."""


_RETRYABLE = (
    _Retryable,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the connection dropped mid-body
    requests.exceptions.ContentDecodingError,
)


def url_folder(url: str, cache_dir: Path) -> Path:
    """The cache folder of `url`: `<cache>/berthub-urls/<file name>--<12 hex of sha256(url)>`."""
    return Path(cache_dir) / URLS_FOLDER / f"{_file_name(url)}--{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def fetch_url(
    url: str,
    *,
    cache_dir: Path,
    sha256: str | None = None,
    local_files_only: bool = False,
    retry: Retry = Retry(),
    progress: bool = True,
    extract: bool = True,
) -> Path:
    """What `url` gives, cached: the folder its model files were extracted to if it is an archive (and
    `extract`), else the downloaded file itself.

    A cached file is returned without any network call once it checks out: hashed when it was
    downloaded (and each file extracted from it when it was extracted), it is trusted while a stat
    says it is unchanged and hashed again otherwise (berthub.sources.hashed). A damaged download is
    downloaded again (offline: removed, CorruptDownloadError naming it); a damaged extracted file is
    extracted again. `sha256` (hex) is checked after download; on mismatch the file is removed and
    CorruptDownloadError raised. Raises NotFoundError (404, or not cached with local_files_only),
    AuthError (401/403), NetworkError (unreachable after retries).
    """
    folder = url_folder(url, cache_dir)
    extracted = folder / EXTRACTED_FOLDER
    if extract:
        root = archives.extracted_root(extracted, sha256.lower() if sha256 else read_source(folder).get("sha256"))
        if root is not None:
            return root
    file = _cached_download(url, cache_dir, sha256, local_files_only, retry, progress)
    if not extract or not archives.is_archive(file):
        return file
    with FileLock(_lock_path(folder)):
        try:
            return archives.extract_once(url, file, extracted, read_source(folder).get("sha256"))
        except CorruptDownloadError:
            shutil.rmtree(folder, ignore_errors=True)  # a refused or damaged archive leaves the cache
            raise


def _cached_download(url: str, cache_dir: Path, sha256: str | None, local_files_only: bool, retry: Retry,
                     progress: bool) -> Path:
    folder = url_folder(url, cache_dir)
    target = folder / _file_name(url)
    problem = _cache_problem(folder, target, sha256)
    if problem is None:
        return target
    if local_files_only:
        raise _unusable_offline(url, folder, target, problem)
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(_lock_path(folder)):
        problem = _cache_problem(folder, target, sha256)
        if problem is not None:
            if target.is_file():
                logger.warning("The cached download %s of '%s' %s; downloading it again.", target, url, problem)
            _download(url, target, sha256, retry, progress)
    return target


def _unusable_offline(url: str, folder: Path, target: Path, problem: str) -> Exception:
    if not target.is_file():
        return NotFoundError(
            f"'{url}' is not in the cache ({folder}) and network access is off (offline mode or "
            "local_files_only). Download it once while online, e.g. `berthub download URL`."
        )
    return CorruptDownloadError(
        f"The cached download {target} of '{url}' {problem}, so it is not used, and network access is off "
        "(offline mode or local_files_only). Download it again while online, e.g. `berthub download URL`."
    )


def read_source(folder: Path) -> dict:
    """What `source.json` recorded for a URL folder (url, file, sha256, size, etag); {} if absent."""
    try:
        return json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _file_name(url: str) -> str:
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "download"


def _lock_path(folder: Path) -> Path:
    lock = folder.parent.parent / ".locks" / URLS_FOLDER / f"{folder.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    return lock


def _cache_problem(folder: Path, target: Path, sha256: str | None) -> str | None:
    """What keeps `target` from being used (a phrase), or None when it is the complete download that
    source.json describes (its size, then its sha256: a stat against the record of its hash, else a
    re-hash) and, when asked, has the sha256 `sha256`."""
    if not target.is_file():
        return "is missing"
    source = read_source(folder)
    recorded = source.get("sha256")
    if not (isinstance(recorded, str) and len(recorded) == 64 and hashed.is_digest(recorded)):
        return f"has no sha256 recorded in {SOURCE_FILE} (an interrupted download)"
    if sha256 is not None and recorded != sha256.lower():
        return f"has sha256 {recorded}, not the {sha256.lower()} asked for"
    if isinstance(source.get("size"), int) and target.stat().st_size != source["size"]:
        return f"is {target.stat().st_size} bytes, not the {source['size']} downloaded (damaged)"
    actual = hashed.mismatch(target, recorded, folder / HASHED_FOLDER)
    return None if actual is None else f"hashes to {actual}, not to the {recorded} downloaded (damaged)"


@dataclass(frozen=True)
class Streamed:
    """What stream_to_file wrote: its size, the server's ETag, and its sha256."""

    size: int
    etag: str | None
    sha256: str


def stream_to_file(
    url: str,
    target: Path,
    *,
    sha256: str | None = None,
    headers: dict[str, str] | None = None,
    size: int | None = None,
    partial_suffix: str = ".partial",
    label: str | None = None,
    retry: Retry = Retry(),
    progress: bool = True,
) -> Streamed:
    """Download `url` to `target`: into `<target><partial_suffix>` (resumed with Range if it exists,
    retried with backoff), checked (size; sha256 when given), then renamed to `target` atomically.

    The sha256 of the bytes is always computed (and returned). `label` names the progress bar
    (default: the file name). The caller holds whatever lock keeps other processes off `target`.
    """
    partial = _Partial(target.with_name(target.name + partial_suffix))
    partial.label = label or target.name
    try:
        etag = _stream_with_retries(url, partial, headers or {}, retry, progress)
        actual = partial.sha256()
        problem = _mismatch(partial.size, actual, size, sha256)
        if problem:
            partial.restart()
            raise CorruptDownloadError(
                f"Download of '{url}' is corrupt: {problem}. The file was removed from the cache; retry, or fix "
                "the expected sha256 if the file changed upstream."
            )
    finally:
        partial.close()
    os.replace(partial.path, target)
    return Streamed(partial.size, etag, actual)


def _stream_with_retries(url: str, partial: _Partial, headers: dict[str, str], retry: Retry,
                         progress: bool) -> str | None:
    """The etag of a complete transfer into `partial`, after up to `retry.attempts` tries."""
    last_error = None
    with requests.Session() as session:  # proxies come from HTTP(S)_PROXY / NO_PROXY
        for attempt in range(retry.attempts):
            if attempt:
                retry.sleep_before(attempt)
            try:
                return _stream_once(session, url, partial, headers, retry, progress)
            except _RETRYABLE as error:
                last_error = error
    raise NetworkError(
        f"Could not download '{url}' after {retry.attempts} attempts: {last_error}. Check your "
        "connection or proxy (HTTPS_PROXY); the bytes so far are kept and the next try resumes them."
    ) from last_error


def _mismatch(size: int, actual: str | None, expected_size: int | None, expected_sha256: str | None) -> str | None:
    if expected_size is not None and size != expected_size:
        return f"{size} bytes arrived but the hub announced {expected_size}"
    if expected_sha256 is not None and actual != expected_sha256.lower():
        return f"its sha256 is {actual} but {expected_sha256.lower()} was expected"
    return None


class _Partial:
    """The partial file being written, its size, and the running sha256 of its bytes.

    The sha256 runs on a helper thread (hashlib releases the GIL on large buffers), so hashing a
    chunk overlaps with receiving and writing the next one instead of adding to the transfer time.
    """

    def __init__(self, path: Path) -> None:
        self.path, self.label = path, path.name
        self._hasher = ThreadPoolExecutor(1, thread_name_prefix="berthub-sha256")
        self._pending: Future | None = None
        self.digest = hashlib.sha256()
        self.size = path.stat().st_size if path.is_file() else 0  # left by an interrupted attempt: resume it
        if self.size:
            with open(path, "rb") as file:
                for chunk in iter(lambda: file.read(_CHUNK), b""):
                    self.digest.update(chunk)

    def append(self, chunk: bytes) -> None:
        self._pending = self._hasher.submit(self.digest.update, chunk)  # one worker: updates stay in order
        self.size += len(chunk)

    def sha256(self) -> str:
        """The hex sha256 of every byte appended so far (waits for the hashing thread)."""
        if self._pending is not None:
            self._pending.result()
        return self.digest.hexdigest()

    def restart(self) -> None:
        if self._pending is not None:
            self._pending.result()
        self.path.unlink(missing_ok=True)
        self.digest, self.size = hashlib.sha256(), 0

    def close(self) -> None:
        self._hasher.shutdown(wait=True)


def _download(url: str, target: Path, sha256: str | None, retry: Retry, progress: bool) -> None:
    streamed = stream_to_file(url, target, sha256=sha256, retry=retry, progress=progress)
    source = {"url": url, "file": target.name, "sha256": streamed.sha256, "size": streamed.size, "etag": streamed.etag}
    write_bytes_atomic(target.parent / SOURCE_FILE, json.dumps(source, indent=1).encode())
    hashed.remember(target, streamed.sha256, target.parent / HASHED_FOLDER)  # hashed while streaming


def _stream_once(
    session: requests.Session, url: str, partial: _Partial, headers: dict[str, str], retry: Retry, progress: bool
) -> str | None:
    headers = {**headers, "Accept-Encoding": "identity"}  # the bytes on disk are the bytes announced
    if partial.size:
        headers["Range"] = f"bytes={partial.size}-"
    with session.get(url, headers=headers, stream=True, timeout=retry.timeout_s) as response:
        if response.status_code == 416:  # our partial is not a prefix of what the server has now
            partial.restart()
            raise _Retryable("the server refused to resume (416); starting again")
        _raise_for_status(url, response)
        if response.status_code == 200 and partial.size:  # the server ignored Range: start over
            partial.restart()
        length = response.headers.get("Content-Length")
        total = partial.size + int(length) if length else None
        with (
            open(partial.path, "ab") as file,
            tqdm(
                total=total, initial=partial.size, unit="B", unit_scale=True, unit_divisor=1024, desc=partial.label,
                disable=not progress, leave=True,
            ) as bar,
        ):  # fmt: skip
            for chunk in response.iter_content(_STREAM_CHUNK):
                file.write(chunk)
                partial.append(chunk)
                bar.update(len(chunk))
        if total is not None and partial.size != total:
            raise _Retryable(f"connection closed after {partial.size} of {total} bytes")
        return response.headers.get("ETag")


def _raise_for_status(url: str, response: requests.Response) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status == 404:
        raise NotFoundError(f"No file at '{url}' (HTTP 404). Check the URL.")
    if status in (401, 403):
        raise AuthError(
            f"'{url}' refused access (HTTP {status}). For a hub repo set BERTHUB_TOKEN; berthub sends no "
            "credentials to plain URLs, so download such a file yourself and load the local directory."
        )
    if status == 429 or status >= 500:
        raise _Retryable(f"HTTP {status} from the server")
    raise NotFoundError(f"Unexpected HTTP {status} for '{url}'; nothing was downloaded.")
