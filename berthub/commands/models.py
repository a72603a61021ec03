"""`berthub models`, `berthub download`, `berthub cache ls | rm | verify`: the registry and the cache."""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from berthub.errors import BerthubError, NotFoundError

if TYPE_CHECKING:
    from huggingface_hub import CachedRevisionInfo

_MODELS_EPILOG = """examples:
  berthub models                        every registered name, its hub repo, cached or not, size on disk
  berthub models 'bert-large-*'         only names matching a shell pattern
  berthub models --cached --long        cached ones, with descriptions and where each entry comes from
"""
_DOWNLOAD_EPILOG = """examples:
  berthub download bert-base-chinese                      config, weights and vocabulary into the cache
  berthub download google-bert/bert-base-cased --revision main
  berthub download https://example.org/bert-base-uncased.tar.gz
  BERTHUB_CACHE=/data/hub berthub download bert-large-uncased

Afterwards loads need no network; BERTHUB_OFFLINE=1 makes them skip it entirely.
"""
_CACHE_EPILOG = """examples:
  berthub cache ls                         hub repos and URL downloads in the cache, with sizes
  berthub cache rm bert-base-chinese       remove a name's repo (also: a repo id, or a URL)
  berthub cache verify                     re-hash every file against its etag / recorded sha256
  berthub cache verify bert-base-uncased   only one model
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    models = subparsers.add_parser(
        "models", help="list registered model names", description="List registered model names.",
        epilog=_MODELS_EPILOG, formatter_class=raw,
    )  # fmt: skip
    models.add_argument("pattern", nargs="?", default="*", help="shell pattern on names (default: all)")
    models.add_argument("--cached", action="store_true", help="only names whose model files are cached")
    models.add_argument("--long", action="store_true", help="also show descriptions and entry sources")
    _cache_option(models)
    models.set_defaults(func=run_models)

    download = subparsers.add_parser(
        "download", help="download a model into the cache",
        description="Download a model's config, weights and vocabulary into the cache (nothing else).",
        epilog=_DOWNLOAD_EPILOG, formatter_class=raw,
    )  # fmt: skip
    download.add_argument("name", help="registry name, hub repo id, or http(s) URL of an archive")
    download.add_argument("--revision", help="branch, tag or commit of a hub repo (default: the entry's, or main)")
    download.add_argument("--token", help="token for private repos (default: BERTHUB_TOKEN / HF_TOKEN)")
    _cache_option(download)
    download.set_defaults(func=run_download)

    cache = subparsers.add_parser(
        "cache", help="inspect, remove or verify cached models", description="Inspect the model cache.",
        epilog=_CACHE_EPILOG, formatter_class=raw,
    )  # fmt: skip
    actions = cache.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", help="list cached hub repos and URL downloads")
    rm = actions.add_parser("rm", help="remove cached models (names, repo ids or URLs)")
    rm.add_argument("names", nargs="+", metavar="NAME")
    verify = actions.add_parser("verify", help="re-hash cached files against their etags / sha256")
    verify.add_argument("names", nargs="*", metavar="NAME", help="only these (default: everything)")
    for parser, handler in ((ls, run_cache_ls), (rm, run_cache_rm), (verify, run_cache_verify)):
        _cache_option(parser)
        parser.set_defaults(func=handler)


def _cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, help="cache root (default: BERTHUB_CACHE, else huggingface_hub's)")


# -- berthub models / download --------------------------------------------------------------------


def run_models(args: argparse.Namespace) -> int:
    from berthub.sources import registry
    from berthub.sources.settings import HubSettings

    cache = HubSettings.from_env(cache_dir=args.cache_dir).cache_dir
    sizes = {entry.key: entry.size for entry in _cache_entries(cache)}
    rows = []
    for name in registry.list_models(args.pattern):
        entry = registry.model_entry(name)
        cached = _is_cached(name, cache)
        if args.cached and not cached:
            continue
        key = entry.repo_id or entry.url
        row = [name, key, "yes" if cached else "no", _size(sizes[key]) if key in sizes else "-"]
        rows.append(row + ([entry.description, entry.source] if args.long else []))
    header = ["NAME", "SOURCE", "CACHED", "SIZE"] + (["DESCRIPTION", "REGISTERED BY"] if args.long else [])
    _print_table(header, rows)
    for problem in registry.plugin_problems():
        print(f"note: {problem}")
    return 0


def _is_cached(name: str, cache: Path) -> bool:
    from berthub.sources import resolve

    try:
        resolve.resolve_model(name, cache_dir=cache, local_files_only=True)
        resolve.resolve_tokenizer(name, cache_dir=cache, local_files_only=True)
    except NotFoundError:
        return False
    return True


def run_download(args: argparse.Namespace) -> int:
    from berthub.sources import resolve

    options = dict(revision=args.revision, cache_dir=args.cache_dir, token=args.token)
    model = resolve.resolve_model(args.name, **options)
    print(f"model:     {model.directory}")
    try:
        tokenizer = resolve.resolve_tokenizer(args.name, **options)
        print(f"tokenizer: {tokenizer.directory}")
    except NotFoundError as error:  # a model without its own vocabulary is still a model
        print(f"tokenizer: none ({error})")
    return 0


# -- berthub cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CacheEntry:
    key: str  # hub repo id, or the URL
    path: Path
    size: int
    files: int
    detail: str  # revisions (hub) or "url" (plain URL)
    last_used: float


def _cache_entries(cache: Path) -> list[_CacheEntry]:
    """Hub model repos (huggingface_hub's scan) and berthub's URL downloads in `cache`."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    from berthub.sources.settings import HASHED_FOLDER, URLS_FOLDER
    from berthub.sources.urls import read_source

    entries = []
    try:
        repos = [repo for repo in scan_cache_dir(cache).repos if repo.repo_type == "model"]
    except CacheNotFound:
        repos = []
    for repo in repos:
        revisions = ", ".join(_revision(r) for r in sorted(repo.revisions, key=lambda r: r.last_modified))
        entries.append(
            _CacheEntry(repo.repo_id, repo.repo_path, repo.size_on_disk, repo.nb_files, revisions, repo.last_accessed)
        )
    for folder in sorted((cache / URLS_FOLDER).glob("*")):
        files = [path for path in folder.rglob("*") if path.is_file() and HASHED_FOLDER not in path.parts]
        url = read_source(folder).get("url", folder.name)
        size = sum(path.stat().st_size for path in files)
        last = max((path.stat().st_atime for path in files), default=0.0)
        entries.append(_CacheEntry(url, folder, size, len(files), "url download", last))
    return entries


def _revision(revision: CachedRevisionInfo) -> str:
    """`main (0123456789ab)` for a snapshot a ref points to, else the short commit."""
    short = revision.commit_hash[:12]
    return f"{' '.join(sorted(revision.refs))} ({short})" if revision.refs else short


def run_cache_ls(args: argparse.Namespace) -> int:
    from berthub.sources import registry
    from berthub.sources.settings import HubSettings

    cache = HubSettings.from_env(cache_dir=args.cache_dir).cache_dir
    entries = _cache_entries(cache)
    names: dict[str, list[str]] = {}
    for name in registry.list_models():
        entry = registry.model_entry(name)
        names.setdefault(entry.repo_id or entry.url, []).append(name)
    print(f"cache: {cache}")
    rows = [
        [e.key, ", ".join(names.get(e.key, [])) or "-", e.detail, str(e.files), _size(e.size), _ago(e.last_used)]
        for e in sorted(entries, key=lambda e: e.key)
    ]
    _print_table(["REPO / URL", "NAMES", "REVISIONS", "FILES", "SIZE", "LAST USED"], rows)
    print(f"{len(entries)} entries, {_size(sum(e.size for e in entries))} on disk")
    return 0


def run_cache_rm(args: argparse.Namespace) -> int:
    from berthub.sources.settings import HubSettings

    cache = HubSettings.from_env(cache_dir=args.cache_dir).cache_dir
    by_key = {entry.key: entry for entry in _cache_entries(cache)}
    chosen = [_entry_for(name, by_key, cache) for name in args.names]
    for entry in chosen:
        shutil.rmtree(entry.path)
        print(f"removed {entry.key} ({_size(entry.size)}) from {entry.path.parent}")
    return 0


def _entry_for(name: str, by_key: dict[str, _CacheEntry], cache: Path) -> _CacheEntry:
    from berthub.sources import registry

    key = name
    if "/" not in name:
        entry = registry.model_entry(name)
        key = entry.repo_id or entry.url
    if key not in by_key:
        raise NotFoundError(f"'{name}' is not in the cache {cache}. `berthub cache ls` lists what is.")
    return by_key[key]


def run_cache_verify(args: argparse.Namespace) -> int:
    from berthub.sources.settings import HubSettings

    cache = HubSettings.from_env(cache_dir=args.cache_dir).cache_dir
    if not cache.is_dir():
        raise NotFoundError(f"The cache {cache} does not exist, so there is nothing to verify. Check --cache-dir "
                            "or BERTHUB_CACHE.")
    entries = _cache_entries(cache)
    if args.names:
        by_key = {entry.key: entry for entry in entries}
        entries = [_entry_for(name, by_key, cache) for name in args.names]
    corrupt = checked = 0
    for entry in entries:
        problems, count = _verify(entry)
        checked += count
        corrupt += len(problems)
        for problem in problems:
            print(f"CORRUPT {entry.key}: {problem}")
        if not problems:
            print(f"ok      {entry.key} ({count} files checked)")
    if corrupt:
        raise BerthubError(
            f"{corrupt} cached file(s) do not match their checksums. Remove them with `berthub cache rm NAME` "
            "and download again (`berthub download NAME`)."
        )
    print(f"{checked} files verified in {cache}")
    return 0


def _verify(entry: _CacheEntry) -> tuple[list[str], int]:
    """Problems found (one line each) and the number of files checked."""
    if entry.detail == "url download":
        return _verify_url_download(entry.path)
    blobs = [path for path in (entry.path / "blobs").iterdir() if path.is_file()]
    problems = [f"blobs/{blob.name}: {why}" for blob in blobs for why in _blob_problems(blob)]
    return problems, len(blobs)


def _verify_url_download(folder: Path) -> tuple[list[str], int]:
    """The download against the sha256 recorded when it arrived, and each file extracted from it against
    the sha256 recorded when it was extracted; every byte read (and the hash records renewed)."""
    from berthub.sources import archives, hashed
    from berthub.sources.settings import EXTRACTED_FOLDER, HASHED_FOLDER
    from berthub.sources.urls import read_source

    recorded = read_source(folder)
    download, expected = folder / recorded.get("file", "?"), recorded.get("sha256")
    if not download.is_file():
        return [f"{download.name} is missing (an unfinished download?)"], 0
    if not (isinstance(expected, str) and hashed.is_digest(expected)):
        return [f"{download.name} has no sha256 recorded (an unfinished download?)"], 1
    actual = hashed.mismatch(download, expected, folder / HASHED_FOLDER, rehash=True)
    problems = [] if actual is None else [f"{download.name} hashes to {actual}"]
    extracted = folder / EXTRACTED_FOLDER
    if not extracted.is_dir():
        return problems, 1
    damaged = archives.damaged_extracted(extracted, rehash=True)
    problems += [f"{path.relative_to(folder)}: {why}" for path, why in damaged.items()]
    return problems, 1 + len(archives.extracted_files(extracted))


def _blob_problems(blob: Path) -> Iterable[str]:
    """huggingface_hub names blobs by their etag: sha256 for LFS files, the git blob sha1 for the others."""
    from berthub.sources.integrity import content_problem

    if blob.name.endswith(".incomplete"):
        return [f"an unfinished download ({_size(blob.stat().st_size)}); it is resumed on the next download"]
    problem = content_problem(blob)  # None too for an etag that is no content hash: nothing to check against
    return [problem] if problem else []


# -- formatting ------------------------------------------------------------------------------------


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _ago(timestamp: float) -> str:
    if not timestamp:
        return "-"
    seconds = time.time() - timestamp
    for unit, length in (("day", 86400), ("hour", 3600), ("min", 60)):
        if seconds >= length:
            return f"{int(seconds // length)} {unit}{'s' if unit != 'min' and seconds >= 2 * length else ''} ago"
    return "just now"
