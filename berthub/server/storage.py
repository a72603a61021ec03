"""The hub's data: repos, commits and refs in the database, file contents in an object store.

    database (server.catalog)          repos, immutable commits with their file trees, branches and tags
    object store (server.objectstore)  blobs/ab/ab12...ef: file contents named by their sha256, shared by
                                       every repo; on local disk under --root (the default) or in S3
    --root/tmp/                        uploads in flight; emptied when the server starts

A commit becomes visible when its branch moves to it, in the database transaction that stores it, and
only after all its content is stored: an upload or commit killed at any point leaves the previous
revision intact and nothing half-written visible. Commits to one branch never wait on a lock: each is
built on the head it read and lands by compare-and-swap, rebuilt on the new head when another commit
landed first (server.catalog), so concurrent commits, through any number of server processes sharing
the database, land one after another.

What is read is remembered in `cache` (server.cache) under immutable ids only: a commit under its
repo's uid (never reused) and its id. Which commit a branch names, and a repo's settings, are read from
the database on every request, so every worker and replica answers the same.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import BinaryIO, Protocol

from berthub.server.blobs import BlobWriter
from berthub.server.cache import BoundedCache
from berthub.server.catalog import Catalog, conflict
from berthub.server.db.engine import Database, default_url
from berthub.server.disk import DEFAULT_MIN_FREE, check_free, free_bytes
from berthub.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    Forbidden,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
)
from berthub.server.metrics import blob_written
from berthub.server.names import (
    COMMIT_ID,
    validate_commit_text,
    validate_path,
    validate_ref_name,
    validate_repo_id,
    validate_tree,
)
from berthub.server.objects import (
    AddFile,
    Commit,
    CommitHeader,
    FileEntry,
    Operation,
    RepoMeta,
    make_commit,
    now_iso,
)
from berthub.server.objectstore.base import ObjectStore, blob_key
from berthub.server.objectstore.local import LocalObjectStore
from berthub.server.objectstore.reading import open_object

COMMIT_RETRY_S = 120  # how long a commit is rebuilt on newer heads before the hub answers 409 "busy"


def repo_not_found_message(repo_id: str) -> str:
    """The one answer for a repo that is missing or private to the caller: they must not differ."""
    return (f"Repository '{repo_id}' not found on this hub (or it is private and the request carried no valid "
            "token). Check the id, or create it (HfApi.create_repo or `berthub push`).")


class Upstream(Protocol):
    """Where repos this hub does not hold come from (server.mirror.Mirror, with `--mirror-of`)."""

    def repo(self, repo_id: str) -> RepoMeta | None:
        """Fetch and keep `repo_id` from the upstream; None when the upstream has no such repo for us."""

    def revision(self, meta: RepoMeta, revision: str) -> str | None:
        """The commit a mirrored repo's `revision` names (refreshed, or fetched and kept), or None."""

    def content(self, meta: RepoMeta, commit_id: str, entry: FileEntry) -> None:
        """Fetch and keep the content of a mirrored repo's file (of commit `commit_id`)."""


class Storage:
    """All reads and writes of the hub's data; safe to share between threads, workers and replicas."""

    def __init__(self, root: str | Path, database: Database | None = None, objects: ObjectStore | None = None,
                 cache: BoundedCache | None = None, min_free_space: int = DEFAULT_MIN_FREE) -> None:
        self.root = Path(root).resolve()
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.db = database if database is not None else Database.open(default_url(self.root))
        self.objects = objects if objects is not None else LocalObjectStore(self.root, self.tmp_dir)
        self.catalog = Catalog(self.db)
        self.cache = cache if cache is not None else BoundedCache()
        self.min_free_space = min_free_space
        self.upstream: Upstream | None = None

    def check_room(self, needed: int, what: str) -> None:
        """507 unless `needed` more bytes leave the reserve (`--min-free-space`) free. Object storage
        that cannot tell its free space counts as roomy; --root (tmp/, SQLite) keeps the reserve."""
        free = self.objects.free_bytes()
        if free is None:
            free, needed = free_bytes(self.root), 0
        check_free(free, needed, self.min_free_space, what)

    def recover(self) -> int:
        """Remove what crashed uploads left (tmp/, abandoned multipart uploads). Call once at start,
        before serving. Returns a count."""
        return self.objects.recover()

    # ---- blobs -------------------------------------------------------------------------------
    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        info = self.objects.info(blob_key(sha256))
        return info is not None and (size is None or info.size == size)

    def blob_writer(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobWriter:
        self.check_room(expected_size or 0, f"Upload of {expected_sha256 or 'a file'}")
        return BlobWriter(self.objects, expected_sha256, expected_size)

    def put_bytes(self, data: bytes) -> str:
        """Store small content (regular files sent inline in a commit); returns its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.has_blob(sha256, len(data)):  # else stored before: writing it again is a no-op
            self.check_room(0, f"Storing {sha256}")
            self.objects.put_bytes(blob_key(sha256), data)
            blob_written(len(data))
        return sha256

    def open_content(self, entry: FileEntry) -> BinaryIO:
        """A file's content as a readable binary file; FileNotFoundError when it is not stored."""
        path = self.objects.local_path(blob_key(entry.sha256))
        if path is not None:
            return open(path, "rb")
        if not self.has_blob(entry.sha256):
            raise FileNotFoundError(entry.sha256)
        return open_object(self.objects, blob_key(entry.sha256), entry.size)

    def ensure_content(self, meta: RepoMeta, commit_id: str, entry: FileEntry) -> None:
        """Fetch a mirrored repo's file content from the upstream unless it is held already."""
        if meta.mirrored and self.upstream is not None and not self.has_blob(entry.sha256, entry.size):
            self.upstream.content(meta, commit_id, entry)

    def health(self) -> dict[str, str]:
        """{"database": "ok" | the problem, "store": "ok" | the problem}: what /api/health reports."""
        found = {}
        for part, probe in (("database", self.db.ping), ("store", self.objects.check)):
            try:
                probe()
                found[part] = "ok"
            except Exception as error:  # every failure is reported, none is raised: health must answer
                found[part] = f"{type(error).__name__}: {error}"[:300]
        return found

    # ---- repos -------------------------------------------------------------------------------
    def repo(self, repo_id: str) -> RepoMeta:
        """The repo's metadata, under its id as created (whatever case `repo_id` is written in)."""
        meta = self.catalog.repo(validate_repo_id(repo_id))
        if meta is None and self.upstream is not None:
            meta = self.upstream.repo(repo_id)
        if meta is None:
            raise RepoNotFound(repo_not_found_message(repo_id))
        return meta

    def _writable(self, repo_id: str) -> RepoMeta:
        meta = self.repo(repo_id)
        if meta.mirrored:
            raise Forbidden(f"'{meta.repo_id}' is a mirror of the upstream hub's repo: it is read-only here. "
                            "Push to the upstream hub; this hub follows its branches.")
        return meta

    def update_repo_settings(self, repo_id: str, *, private: bool | None = None,
                             gated: str | bool | None = None) -> RepoMeta:
        """Change visibility and gating ("auto", "manual", or False for none); None leaves a setting as is."""
        meta = self.repo(repo_id)
        self.catalog.update_settings(meta.uid, private=meta.private if private is None else private,
                                     gated=meta.gated if gated is None else (gated or None))
        return self.repo(repo_id)

    def list_repos(self) -> list[RepoMeta]:
        return self.catalog.repos()

    def create_repo(self, repo_id: str, *, private: bool = False, author: str = "berthub") -> RepoMeta:
        """A new repo whose main branch holds one empty initial commit. 409 if it exists, in any case."""
        existing = self.catalog.repo(validate_repo_id(repo_id))
        if existing is not None:
            raise conflict(repo_id, existing.repo_id)
        self.check_room(0, f"Creating '{repo_id}'")
        initial = make_commit(None, "initial commit", "", author, {})
        return self.catalog.create_repo(repo_id, private=private, created_at=now_iso(), initial=initial)

    def delete_repo(self, repo_id: str) -> None:
        """Remove a repo (blobs stay: other repos may share them)."""
        self.catalog.delete_repo(self.repo(repo_id).uid)

    # ---- revisions ---------------------------------------------------------------------------
    def resolve(self, repo_id: str, revision: str = "main", *, cached_only: bool = False,
                meta: RepoMeta | None = None) -> Commit | None:
        """The commit a branch, tag or full commit id names. With `cached_only`, None when its tree is
        not in memory: the caller then reads it in a thread, so a big tree is never parsed on the loop.
        `meta`: the repo's metadata, when the caller just read it (one query less)."""
        meta = meta or self.repo(repo_id)
        commit_id = self._target(meta, revision)
        if cached_only:
            return self.cache.get(("commit", meta.uid, commit_id))
        return self.commit_of(meta, commit_id)

    def _target(self, meta: RepoMeta, revision: str) -> str:
        found = None
        if meta.mirrored and self.upstream is not None:
            found = self.upstream.revision(meta, revision)
        if found is None and COMMIT_ID.fullmatch(revision) and self.catalog.has_commit(meta.uid, revision):
            found = revision
        if found is None:
            try:
                found = self.catalog.ref(meta.uid, validate_ref_name(revision))
            except BadRequest:
                found = None
        if found is None:
            raise RevisionNotFound(f"Revision '{revision}' not found in '{meta.repo_id}': use a branch ('main'), "
                                   "a tag or a full 40-character commit id.")
        return found

    def commit(self, repo_id: str, commit_id: str) -> Commit:
        return self.commit_of(self.repo(repo_id), commit_id)

    def commit_of(self, meta: RepoMeta, commit_id: str) -> Commit:
        return self.cache.remember(("commit", meta.uid, commit_id), lambda: self._read_commit(meta, commit_id),
                                   Commit.memory_size)

    def _read_commit(self, meta: RepoMeta, commit_id: str) -> Commit:
        found = self.catalog.commit(meta.uid, commit_id)
        if found is None:
            raise RevisionNotFound(f"Commit '{commit_id}' not found in '{meta.repo_id}'.")
        return found

    def history(self, repo_id: str, revision: str = "main", limit: int = 1000) -> list[CommitHeader]:
        """Commits reachable from `revision`, newest first, without their trees: one query, however long
        the history and big the trees."""
        meta = self.repo(repo_id)
        return self.catalog.history(meta.uid, self._target(meta, revision), limit)

    def refs(self, repo_id: str) -> dict[str, dict[str, str]]:
        """{"heads": {name: commit id}, "tags": {...}}."""
        found: dict[str, dict[str, str]] = {"heads": {}, "tags": {}}
        for kind, name, commit_id, _ in self.catalog.refs(self.repo(repo_id).uid):
            found[kind][name] = commit_id
        return found

    def create_ref(self, repo_id: str, kind: str, name: str, revision: str = "main") -> str:
        """A new branch (`kind="heads"`) or tag (`"tags"`) at `revision`; 409 if the name is taken, in
        any letter case (`Main` and `main` would be one ref in a checkout on Windows and macOS)."""
        validate_ref_name(name, "branch" if kind == "heads" else "tag", new=True)
        meta = self._writable(repo_id)
        commit = self.resolve(repo_id, revision, meta=meta)
        self.check_room(0, f"Creating {kind[:-1]} '{name}' in '{repo_id}'")
        taken = self.catalog.create_ref(meta.uid, kind, name, commit.id)
        if taken is not None:
            raise Conflict(f"A branch or tag named '{taken}' already exists in '{repo_id}'; pick another name.")
        return commit.id

    def apply(self, repo_id: str, branch: str, operations: list[Operation], *, title: str,
              message: str = "", author: str = "berthub", parent: str | None = None) -> Commit:
        """Commit `operations` on top of `branch`; concurrent callers each land in turn (module docstring)."""
        validate_ref_name(branch, "branch")
        validate_commit_text(title, message)
        meta = self._writable(repo_id)
        _check_content(operations, self)
        deadline = time.monotonic() + COMMIT_RETRY_S
        while True:
            head_id = self.catalog.branch(meta.uid, branch)
            if head_id is None:
                self.repo(repo_id)  # gone since: 404 for the repo rather than for the branch
                raise RevisionNotFound(f"Branch '{branch}' not found in '{repo_id}'; commit to 'main'.")
            if parent is not None and parent != head_id:
                raise PreconditionFailed(f"'{branch}' of '{repo_id}' moved to {head_id} since parent commit "
                                         f"{parent}; fetch the new head and retry.")
            files = _apply_operations(dict(self.commit_of(meta, head_id).files), operations)
            commit = make_commit(head_id, title, message, author, files)
            self.check_room(0, f"Commit to '{repo_id}'")
            if self.catalog.land(meta.uid, branch, head_id, commit):
                return commit
            if time.monotonic() > deadline:
                raise Conflict(f"'{branch}' of '{repo_id}' kept moving for {COMMIT_RETRY_S}s under other commits; "
                               "retry later.")


def _check_content(operations: list[Operation], storage: Storage) -> None:
    for operation in operations:
        if isinstance(operation, AddFile):
            entry = operation.entry
            validate_path(entry.path)
            if not storage.has_blob(entry.sha256, entry.size):
                raise BadRequest(f"File '{entry.path}' refers to content {entry.sha256} ({entry.size} bytes) "
                                 "that was never uploaded to this hub; upload it (LFS batch) before committing.")


def _apply_operations(files: dict[str, FileEntry], operations: list[Operation]) -> dict[str, FileEntry]:
    for operation in operations:
        if isinstance(operation, AddFile):
            files[operation.entry.path] = operation.entry
        elif operation.folder:
            prefix = operation.path.rstrip("/") + "/"
            doomed = [path for path in files if path.startswith(prefix)]
            if not doomed:
                raise EntryNotFound(f"Cannot delete folder '{operation.path}': no file lives under it.")
            for path in doomed:
                del files[path]
        else:
            if operation.path not in files:
                raise EntryNotFound(f"Cannot delete '{operation.path}': A file with this name doesn't exist.")
            del files[operation.path]
    validate_tree(files)
    return dict(sorted(files.items()))
