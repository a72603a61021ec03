"""Model archives (pytorch-pretrained-BERT's .tar.gz releases, Google's zips): only a model's files,
bounded, extracted once, checked on every use.

Only the members a model needs are written: its config, weights, vocabulary, tokenizer config,
training record and TF checkpoint files (settings.ARCHIVE_MEMBER_NAMES / _PATTERNS, matched on the
member's file name). Every other member is skipped, never written, and named in one warning.
Refused outright, before anything is written (CorruptDownloadError; berthub.sources.urls then removes
a downloaded archive from the cache):
- members that could escape the folder or are not plain files and folders (absolute paths, `..`,
  symlinks, hard links, devices, fifos), wanted or not, and archives of over `max_members` members;
- archive bombs: the members that count may add up to at most `ExtractLimits.max_size` bytes and
  `max_ratio` times the archive's own size. In a zip only the wanted members count (a skipped one is
  never read), and each may unpack to at most `max_ratio` times its own compressed size; in a tar
  every member counts, skipped or not, since a tar is one stream and reaching a member decompresses
  everything before it.
The declared sizes are what extraction writes: tar reads exactly that many bytes, zip stops there and
checks the CRC. Defaults: 20 GiB and 100x; BERTHUB_MAX_EXTRACT_SIZE and BERTHUB_MAX_EXTRACT_RATIO (read
at call time) or `limits=` change them. A tar is read one header at a time, so a bomb is refused at its
header, before its data is decompressed.

`extract_once` unpacks into a temporary folder renamed into place when complete, hashes each file as
it writes it and records the hashes in `extracted.json` beside the folder (settings.EXTRACTED_MANIFEST);
`extracted_root` checks every file against it on each use (berthub.sources.hashed: a stat while the
file is unchanged, a re-hash otherwise), so a damaged extracted file is extracted again, never loaded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from berthub.errors import ConfigError, CorruptDownloadError, NotFoundError
from berthub.files import link_or_copy, write_text_atomic
from berthub.sources import hashed
from berthub.sources.settings import (
    ARCHIVE_MEMBER_NAMES,
    ARCHIVE_MEMBER_PATTERNS,
    CONFIG_NAME,
    EXTRACTED_FOLDER,
    EXTRACTED_MANIFEST,
    HASHED_FOLDER,
    LEGACY_CONFIG_NAME,
    MAX_EXTRACT_RATIO_VARIABLE,
    MAX_EXTRACT_SIZE_VARIABLE,
)

logger = logging.getLogger("berthub.sources")

_MAX_SIZE_ENV, _MAX_RATIO_ENV = MAX_EXTRACT_SIZE_VARIABLE, MAX_EXTRACT_RATIO_VARIABLE
_CHUNK = 1 << 20
# What reading a broken archive raises; the last three: member paths that clash (a file where a folder goes).
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, NotADirectoryError, IsADirectoryError,
            FileExistsError)


@dataclass(frozen=True)
class ExtractLimits:
    """How much an archive may unpack to: in bytes, and as a multiple of its compressed size.

    Model weights barely compress (~1.1x) and vocabularies ~3x, so 100x leaves a wide margin while a
    bomb (1000x and more) is refused. `max_members` bounds what listing an archive costs.
    """

    max_size: int = 20 * 1024**3
    max_ratio: float = 100.0
    max_members: int = 100_000

    @classmethod
    def from_env(cls) -> ExtractLimits:
        values = {}
        for field_name, variable, kind in (("max_size", _MAX_SIZE_ENV, int), ("max_ratio", _MAX_RATIO_ENV, float)):
            text = os.environ.get(variable, "").strip()
            if text:
                try:
                    values[field_name] = kind(text)
                except ValueError:
                    raise ConfigError(f"{variable}={text!r} is not a number ({kind.__name__}).") from None
        return cls(**values)


@dataclass
class Extraction:
    """What `extract_archive` wrote (relative path -> sha256) and skipped (member name -> size)."""

    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def is_archive(path: Path) -> bool:
    """Whether `path` is a tar (any compression) or zip file, judged by content, not name."""
    return tarfile.is_tarfile(path) or zipfile.is_zipfile(path)


def is_model_file(name: str) -> bool:
    """Whether an archive member named `name` is one a model needs (by its file name)."""
    base = PurePosixPath(name).name
    return base in ARCHIVE_MEMBER_NAMES or any(fnmatch.fnmatchcase(base, p) for p in ARCHIVE_MEMBER_PATTERNS)


def extract_archive(archive: Path, destination: Path, limits: ExtractLimits | None = None) -> Extraction:
    """Write the model files of `archive` into the new folder `destination`; skip the rest.

    Refused (CorruptDownloadError, `destination` not created): what the module docstring lists, under
    `limits` (default: ExtractLimits.from_env()). A `bert_config.json` without a `config.json` beside
    it is also given that name (pytorch-pretrained-BERT's archives use the old one).
    """
    limits = limits or ExtractLimits.from_env()
    plan = _Plan(archive, limits)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            for member in tar:  # one header at a time: a bomb is refused before its data is decompressed
                plan.add(member.name, _tar_kind(member), member.size if member.isfile() else None, member,
                         read_through=True)
            destination.mkdir(parents=True)
            for relative, member in plan.wanted.items():
                with tar.extractfile(member) as source:
                    plan.extraction.files[relative] = _write(source, destination / relative)
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                plan.add(info.filename, "a symlink" if is_link else None, None if info.is_dir() else info.file_size,
                         info, packed=info.compress_size)
            destination.mkdir(parents=True)
            for relative, info in plan.wanted.items():
                with zipped.open(info) as source:
                    plan.extraction.files[relative] = _write(source, destination / relative)
    else:
        raise NotFoundError(f"'{archive.name}' is not a tar or zip archive, so it holds no model files to extract.")
    _alias_legacy_configs(destination, plan.extraction.files)
    return plan.extraction


class _Plan:
    """The members to write, chosen and checked one header at a time, before anything is written."""

    def __init__(self, archive: Path, limits: ExtractLimits) -> None:
        self.archive, self.limits = archive, limits
        self.packed = max(archive.stat().st_size, 1)
        self.wanted: dict[str, object] = {}  # relative path -> the archive's member (a later one replaces)
        self.extraction = Extraction()
        self.members = self.counted = 0

    def add(self, name: str, refused_kind: str | None, size: int | None, member: object, *,
            packed: int | None = None, read_through: bool = False) -> None:
        """One member: `size` None for a folder; `packed` its compressed size where known (zip);
        `read_through` when skipping it still decompresses it (tar), so it counts toward the limits."""
        self.members += 1
        if self.members > self.limits.max_members:
            self._refuse(f"has more than {self.limits.max_members} members")
        relative = _checked_name(self.archive, name, refused_kind)
        if size is None:
            return
        wanted = is_model_file(relative)
        if wanted and packed is not None and size > self.limits.max_ratio * max(packed, 1):
            self._refuse(f"member '{name}' would unpack to {size} bytes from {packed} "
                         f"({size / max(packed, 1):.0f}x), over the limit of {self.limits.max_ratio:g}x "
                         f"({_MAX_RATIO_ENV})")
        if wanted or read_through:
            self._count(size)
        if wanted:
            self.wanted[relative] = member
        else:
            self.extraction.skipped[name] = size

    def _count(self, size: int) -> None:
        self.counted += size
        if self.counted > self.limits.max_size:
            self._refuse(f"would unpack to {self.counted} bytes, over the limit of {self.limits.max_size} "
                         f"({_MAX_SIZE_ENV})")
        if self.counted > self.limits.max_ratio * self.packed:
            ratio = self.counted / self.packed
            self._refuse(f"would unpack to {self.counted} bytes from {self.packed} ({ratio:.0f}x), over the limit of "
                         f"{self.limits.max_ratio:g}x ({_MAX_RATIO_ENV})")

    def _refuse(self, why: str) -> None:
        raise CorruptDownloadError(
            f"Refusing archive '{self.archive.name}': it {why}, so it looks like an archive bomb; nothing was "
            f"extracted. If you trust it, raise {_MAX_SIZE_ENV} / {_MAX_RATIO_ENV}."
        )


def _checked_name(archive: Path, name: str, refused_kind: str | None) -> str:
    """The member's path inside the extraction folder, once it is a plain file or folder that stays there."""
    if refused_kind is not None:
        raise CorruptDownloadError(
            f"Refusing archive '{archive.name}' from the cache: member '{name}' is {refused_kind}; "
            "model archives may only hold regular files and folders. Nothing was extracted."
        )
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise CorruptDownloadError(
            f"Refusing archive '{archive.name}': member '{name}' has an absolute path or '..', so it could be "
            "written outside the extraction folder. Nothing was extracted; do not use it."
        )
    return "/".join(part for part in parts if part != ".")


def _tar_kind(member: tarfile.TarInfo) -> str | None:
    if member.isfile() or member.isdir():
        return None
    if member.issym():
        return "a symlink"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    return "a special file (fifo or unknown type)"


def _write(source: IO[bytes], target: Path) -> str:
    """Copy `source` (an archive member, which stops at its declared size) to `target`; its sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(target, "wb") as out:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _alias_legacy_configs(destination: Path, files: dict[str, str]) -> None:
    for relative, digest in list(files.items()):
        path = PurePosixPath(relative)
        alias = str(path.with_name(CONFIG_NAME))
        if path.name == LEGACY_CONFIG_NAME and alias not in files:
            link_or_copy(destination / relative, destination / alias)
            files[alias] = digest


# -- extracted once into the cache, checked on every use -------------------------------------------


def extract_once(label: str, archive: Path, extracted: Path, archive_sha256: str | None = None) -> Path:
    """The folder holding the model files of `archive`, extracted to `extracted` unless a whole extraction
    of the same archive is there (`extracted_root`); the caller holds the lock that keeps other processes
    off `extracted`.

    Extracts into a temporary sibling folder renamed into place when complete, records each file's
    sha256 (hashed while written) in the manifest beside it, and names what was skipped in one warning.
    `label` names the archive in messages; `archive_sha256` is kept in the manifest, and an extraction of
    other bytes is not reused. A refused or damaged archive raises CorruptDownloadError and leaves nothing
    extracted; the archive itself is left alone: removing a cached download is the caller's business
    (berthub.sources.urls does), and a local archive is the user's.
    """
    ready = extracted_root(extracted, archive_sha256)
    if ready is not None:
        return ready
    manifest = extracted.parent / EXTRACTED_MANIFEST
    manifest.unlink(missing_ok=True)
    shutil.rmtree(extracted, ignore_errors=True)
    temporary = extracted.with_name(f"{EXTRACTED_FOLDER}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        extraction = extract_archive(archive, temporary)
    except _DAMAGED as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise CorruptDownloadError(
            f"The archive '{label}' is damaged ({type(error).__name__}: {error}); nothing was extracted. If it "
            "was downloaded, retry; if it fails again the file on the server is broken."
        ) from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if not extraction.files:
        shutil.rmtree(temporary, ignore_errors=True)
        raise NotFoundError(f"The archive '{label}' holds none of the files a model needs (config, weights, "
                            f"vocabulary); it has {_listed(extraction.skipped)}.")
    os.replace(temporary, extracted)
    for relative, digest in extraction.files.items():
        hashed.remember(extracted / relative, digest, extracted.parent / HASHED_FOLDER)
    record = {"archive": label, "archive_sha256": archive_sha256, "files": extraction.files,
              "skipped": extraction.skipped}
    write_text_atomic(manifest, json.dumps(record, indent=1))
    if extraction.skipped:
        logger.warning("Extracted %s from '%s' and skipped what a model does not need: %s.",
                       ", ".join(extraction.files), label, _listed(extraction.skipped))
    return content_root(extracted)


def extracted_root(extracted: Path, archive_sha256: str | None = None) -> Path | None:
    """The content root of `extracted` when it is a whole extraction of the archive `archive_sha256`
    (its manifest lists every file with its sha256, and each file still has it); else None, after a
    warning naming a damaged file."""
    manifest = _manifest(extracted)
    if not manifest.get("files") or manifest.get("archive_sha256") != archive_sha256:
        return None
    damaged = damaged_extracted(extracted, manifest)
    if damaged:
        path, problem = next(iter(damaged.items()))
        logger.warning("%s, extracted from '%s', %s; extracting the archive again.", path, manifest.get("archive"),
                       problem)
        return None
    return content_root(extracted)


def damaged_extracted(extracted: Path, manifest: dict | None = None, *, rehash: bool = False) -> dict[Path, str]:
    """The files of the extraction `extracted` that no longer hold what its manifest recorded, with why
    (each trusted while a stat says it is unchanged since it was hashed, unless `rehash`)."""
    files = (manifest or _manifest(extracted)).get("files")
    if not isinstance(files, dict) or not files:
        return {extracted: f"has no list of its files ({EXTRACTED_MANIFEST} is missing or unreadable)"}
    problems = {}
    for relative, digest in files.items():
        path = extracted / str(relative)
        problem = _extracted_problem(path, digest, extracted.parent / HASHED_FOLDER, rehash)
        if problem:
            problems[path] = problem
    return problems


def extracted_files(extracted: Path) -> dict[str, str]:
    """What the manifest of the extraction `extracted` lists: relative path -> sha256 ({} if none)."""
    files = _manifest(extracted).get("files")
    return files if isinstance(files, dict) else {}


def _manifest(extracted: Path) -> dict:
    try:
        manifest = json.loads((extracted.parent / EXTRACTED_MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _extracted_problem(path: Path, digest: object, records: Path, rehash: bool) -> str | None:
    if not (isinstance(digest, str) and hashed.is_digest(digest)):
        return f"has no valid sha256 in {EXTRACTED_MANIFEST}"
    if not path.is_file():
        return "is missing"
    actual = hashed.mismatch(path, digest, records, rehash=rehash)
    return None if actual is None else f"hashes to {actual}, not to the {digest} extracted (damaged)"


def _listed(members: dict[str, int], most: int = 10) -> str:
    shown = [f"{name} ({size:,} bytes)" for name, size in list(members.items())[:most]]
    more = f" and {len(members) - most} more" if len(members) > most else ""
    return (", ".join(shown) + more) or "no files"


def content_root(extracted: Path) -> Path:
    children = list(extracted.iterdir())
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return extracted
