"""The hub's data model: file entries, immutable commits, repo metadata and commit operations.

Plain frozen dataclasses plus the git conventions huggingface_hub expects (git blob ids, LFS pointers,
the hub's timestamp format). `storage.Storage` persists them (server.catalog: the database).
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

# Memory of one tree entry besides its path: the FileEntry, its sha256 and oid strings, its size and the
# tree's dict slot (measured with tracemalloc; tests/security/test_hub_memory.py keeps it honest).
_ENTRY_BYTES = 320
_COMMIT_BYTES = 1024


def now_iso() -> str:
    """The hub's timestamp format (milliseconds, UTC, trailing Z), which huggingface_hub parses."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_oid(data: bytes) -> str:
    """The id git gives a file's content: sha1 of `blob <size>\\0<content>`."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands for a large file in git's view of the repo."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True, slots=True)
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

    def row(self) -> list:
        """The entry as stored in a commit file: [path, sha256, size, oid, lfs]."""
        return [self.path, self.sha256, self.size, self.oid, self.lfs]

    @property
    def etag(self) -> str:
        """What the hub sends as ETag: the sha256 for LFS files, git's oid for regular ones."""
        return self.sha256 if self.lfs else self.oid


@dataclass(frozen=True, slots=True)
class CommitHeader:
    """Who, when and why of a commit, without its tree: what history lists (trees can be huge)."""

    id: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str

    def memory_size(self) -> int:
        """About the bytes this header occupies in memory (for server.cache)."""
        return _COMMIT_BYTES + sys.getsizeof(self.title) + sys.getsizeof(self.message)


@dataclass(frozen=True)
class Commit(CommitHeader):
    """An immutable snapshot of a repo: the whole file tree plus who, when and why (its header)."""

    files: dict[str, FileEntry] = field(repr=False)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.files.values())

    @property
    def header(self) -> CommitHeader:
        """The header alone, holding no reference to the tree (what the cache keeps for history)."""
        return CommitHeader(self.id, self.parent, self.title, self.message, self.author, self.date)

    def memory_size(self) -> int:
        """About the bytes this commit occupies in memory, its tree included (for server.cache)."""
        return super().memory_size() + sum(_ENTRY_BYTES + sys.getsizeof(path) for path in self.files)

    def to_json(self) -> dict:
        return {"id": self.id, "parent": self.parent, "title": self.title, "message": self.message,
                "author": self.author, "date": self.date,
                "files": [entry.row() for entry in self.files.values()]}

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
    uid: str = ""  # the database's id of the repo, never reused: caches key its commits by it
    mirrored: bool = False  # fetched from the upstream of `--mirror-of`: read-only on this hub


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
    body = json.dumps([parent, title, message, author, date, [entry.row() for entry in files.values()],
                       uuid.uuid4().hex])
    return Commit(hashlib.sha1(body.encode()).hexdigest(), parent, title, message, author, date, files)
