"""The hub's data model: file entries, immutable commits, repo metadata and commit operations.

Plain frozen dataclasses plus the git conventions huggingface_hub expects (git blob ids, LFS pointers,
the hub's timestamp format). `storage.Storage` persists them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone


def now_iso() -> str:
    """The hub's timestamp format (milliseconds, UTC, trailing Z), which huggingface_hub parses."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_oid(data: bytes) -> str:
    """The id git gives a file's content: sha1 of `blob <size>\\0<content>`."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands for a large file in git's view of the repo."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit's tree. `oid` is git's id (of the content, or of the LFS pointer)."""

    path: str
    sha256: str
    size: int
    oid: str
    lfs: bool

    @classmethod
    def regular(cls, path: str, data: bytes) -> FileEntry:
        return cls(path, hashlib.sha256(data).hexdigest(), len(data), git_blob_oid(data), False)

    @classmethod
    def large(cls, path: str, sha256: str, size: int) -> FileEntry:
        return cls(path, sha256, size, git_blob_oid(lfs_pointer(sha256, size)), True)

    @property
    def etag(self) -> str:
        """What the hub sends as ETag: the sha256 for LFS files, git's oid for regular ones."""
        return self.sha256 if self.lfs else self.oid


@dataclass(frozen=True)
class Commit:
    """An immutable snapshot of a repo: the whole file tree plus who, when and why."""

    id: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, FileEntry] = field(repr=False)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.files.values())

    def to_json(self) -> dict:
        return {"id": self.id, "parent": self.parent, "title": self.title, "message": self.message,
                "author": self.author, "date": self.date,
                "files": [[e.path, e.sha256, e.size, e.oid, e.lfs] for e in self.files.values()]}

    @classmethod
    def from_json(cls, data: dict) -> Commit:
        files = {row[0]: FileEntry(*row) for row in data["files"]}
        return cls(data["id"], data["parent"], data["title"], data["message"], data["author"],
                   data["date"], files)


@dataclass(frozen=True)
class RepoMeta:
    repo_id: str
    private: bool
    created_at: str
    gated: str | None = None  # None, or how access requests are answered: "auto" (at once) or "manual"


@dataclass(frozen=True)
class AddFile:
    entry: FileEntry


@dataclass(frozen=True)
class DeletePath:
    path: str
    folder: bool = False


Operation = AddFile | DeletePath


def make_commit(parent: str | None, title: str, message: str, author: str,
                files: dict[str, FileEntry]) -> Commit:
    """A new commit; its id is a sha1 over its content and a random salt, so ids never collide."""
    date = now_iso()
    body = json.dumps([parent, title, message, author, date, [list(vars(e).values()) for e in files.values()],
                       uuid.uuid4().hex])
    return Commit(hashlib.sha1(body.encode()).hexdigest(), parent, title, message, author, date, files)
