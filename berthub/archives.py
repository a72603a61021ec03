"""Model archives (pytorch-pretrained-BERT's .tar.gz releases, zips): checked, then extracted atomically.

An archive is unpacked into a temporary folder next to its final place and renamed into place when
complete. Members that could escape the folder or are not plain files and folders (absolute paths,
`..`, symlinks, hard links, devices, fifos) refuse the whole archive and remove it from the cache.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from berthub.errors import CorruptDownloadError, NotFoundError

EXTRACTED_FOLDER = "extracted"


def is_archive(path: Path) -> bool:
    """Whether `path` is a tar (any compression) or zip file, judged by content, not name."""
    return tarfile.is_tarfile(path) or zipfile.is_zipfile(path)


def extract_archive(archive: Path, destination: Path) -> None:
    """Extract `archive` into the new folder `destination`, refusing unsafe members.

    Refused (CorruptDownloadError, nothing extracted): absolute paths, paths with `..` that escape
    `destination`, symlinks, hard links, devices and fifos. Only regular files and folders pass.
    """
    destination.mkdir(parents=True)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(archive, member.name, _tar_kind(member))
            tar.extractall(destination, members=members, filter="data")
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                _check_member(archive, info.filename, "a symlink" if is_link else None)
            zipped.extractall(destination)
    else:
        raise NotFoundError(f"'{archive.name}' is not a tar or zip archive, so it holds no model files to extract.")


def extract_once(url: str, archive: Path, extracted: Path) -> None:
    temporary = extracted.with_name(f"{EXTRACTED_FOLDER}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        extract_archive(archive, temporary)
    except CorruptDownloadError:
        shutil.rmtree(archive.parent, ignore_errors=True)  # an unsafe archive does not stay in the cache
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        shutil.rmtree(archive.parent, ignore_errors=True)
        raise CorruptDownloadError(
            f"The archive downloaded from '{url}' is damaged ({type(error).__name__}: {error}); it was removed "
            "from the cache. Retry; if it fails again the file on the server is broken."
        ) from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    os.replace(temporary, extracted)


def _check_member(archive: Path, name: str, refused_kind: str | None) -> None:
    if refused_kind is not None:
        raise CorruptDownloadError(
            f"Refusing archive '{archive.name}' from the cache: member '{name}' is {refused_kind}; "
            "model archives may only hold regular files and folders. The archive was removed."
        )
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise CorruptDownloadError(
            f"Refusing archive '{archive.name}': member '{name}' has an absolute path or '..', so it could be "
            "written outside the extraction folder. The archive was removed from the cache; do not use it."
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
