"""Model archives (pytorch-pretrained-BERT's .tar.gz releases, zips): checked, then extracted atomically.

An archive is unpacked into a temporary folder next to its final place and renamed into place when
complete. Members that could escape the folder or are not plain files and folders (absolute paths,
`..`, symlinks, hard links, devices, fifos) refuse the whole archive (berthub.sources.urls then removes
a downloaded one from the cache).

Archive bombs (1 GiB of zeros packs into ~1 MB) are refused before anything is written: the sizes the
archive declares for its members (which are what extraction writes: tar reads exactly that many
bytes, zip stops there and checks the CRC) may add up to at most `ExtractLimits.max_size` bytes and
`ExtractLimits.max_ratio` times the archive's own size. Defaults: 20 GiB and 100x; BERTHUB_MAX_EXTRACT_SIZE
and BERTHUB_MAX_EXTRACT_RATIO (read at call time) or `limits=` change them.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from berthub.errors import ConfigError, CorruptDownloadError, NotFoundError
from berthub.sources.settings import EXTRACTED_FOLDER, MAX_EXTRACT_RATIO_VARIABLE, MAX_EXTRACT_SIZE_VARIABLE

_MAX_SIZE_ENV, _MAX_RATIO_ENV = MAX_EXTRACT_SIZE_VARIABLE, MAX_EXTRACT_RATIO_VARIABLE


@dataclass(frozen=True)
class ExtractLimits:
    """How much an archive may unpack to: in total bytes, and as a multiple of its own size.

    Model weights barely compress (~1.1x) and vocabularies ~3x, so 100x leaves a wide margin while a
    bomb (1000x and more) is refused.
    """

    max_size: int = 20 * 1024**3
    max_ratio: float = 100.0

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


def is_archive(path: Path) -> bool:
    """Whether `path` is a tar (any compression) or zip file, judged by content, not name."""
    return tarfile.is_tarfile(path) or zipfile.is_zipfile(path)


def extract_archive(archive: Path, destination: Path, limits: ExtractLimits | None = None) -> None:
    """Extract `archive` into the new folder `destination`, refusing unsafe members and bombs.

    Refused (CorruptDownloadError, `destination` not created): absolute paths, paths with `..` that
    escape `destination`, symlinks, hard links, devices and fifos, and archives that would unpack to
    more than `limits` allow (default: ExtractLimits.from_env()). Only regular files and folders pass.
    """
    limits = limits or ExtractLimits.from_env()
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            members, total = [], 0
            for member in tar:  # one header at a time: a bomb is refused before its data is decompressed
                _check_member(archive, member.name, _tar_kind(member))
                total += member.size if member.isfile() else 0
                _check_size(archive, total, limits)
                members.append(member)
            destination.mkdir(parents=True)
            tar.extractall(destination, members=members, filter="data")
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                _check_member(archive, info.filename, "a symlink" if is_link else None)
            _check_size(archive, sum(info.file_size for info in zipped.infolist()), limits)
            destination.mkdir(parents=True)
            zipped.extractall(destination)
    else:
        raise NotFoundError(f"'{archive.name}' is not a tar or zip archive, so it holds no model files to extract.")


def _check_size(archive: Path, total: int, limits: ExtractLimits) -> None:
    packed = max(archive.stat().st_size, 1)
    if total > limits.max_size:
        why = f"would unpack to {total} bytes, over the limit of {limits.max_size} ({_MAX_SIZE_ENV})"
    elif total / packed > limits.max_ratio:
        why = (f"would unpack to {total} bytes from {packed} ({total / packed:.0f}x), over the limit of "
               f"{limits.max_ratio:g}x ({_MAX_RATIO_ENV})")
    else:
        return
    raise CorruptDownloadError(
        f"Refusing archive '{archive.name}': it {why}, so it looks like an archive bomb; nothing was extracted. "
        f"If you trust it, raise {_MAX_SIZE_ENV} / {_MAX_RATIO_ENV}."
    )


def extract_once(url: str, archive: Path, extracted: Path) -> None:
    """Extract `archive` to `extracted` atomically (a temporary sibling folder, renamed when complete).

    `url` names the archive in errors. A refused or damaged archive raises CorruptDownloadError and
    leaves nothing extracted; the archive itself is left alone: removing a cached download is the
    caller's business (berthub.sources.urls does), and a local archive is the user's.
    """
    temporary = extracted.with_name(f"{EXTRACTED_FOLDER}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        extract_archive(archive, temporary)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise CorruptDownloadError(
            f"The archive '{url}' is damaged ({type(error).__name__}: {error}); nothing was extracted. If it was "
            "downloaded, retry; if it fails again the file on the server is broken."
        ) from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    os.replace(temporary, extracted)


def _check_member(archive: Path, name: str, refused_kind: str | None) -> None:
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


def content_root(extracted: Path) -> Path:
    children = list(extracted.iterdir())
    if len(children) == 1 and children[0].is_dir():
        return children[0]
    return extracted
