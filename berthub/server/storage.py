"""On-disk storage of the hub: content-addressed blobs and immutable commits per repo.

Layout under the server's root:

    blobs/ab/ab12...ef          file contents, named by their sha256, shared by every repo
    repos/<ns>/<name>/repo.json     creation time and visibility
    repos/<ns>/<name>/commits/<id>.json   one immutable commit: parent, message and the full file tree
    repos/<ns>/<name>/refs/heads/main     the commit id a branch points to (refs/tags/<tag> likewise)
    locks/<ns>--<name>.lock     serialises writers of one repo, across threads and worker processes
    tmp/                        uploads in flight; emptied when the server starts

Every file is written to tmp/, fsynced and renamed into place, and a commit becomes visible only
when its branch file is renamed over the old one, after the commit and all its blobs exist. An
upload or commit killed at any point therefore leaves the previous revision intact and nothing
half-written visible; one that fails (a full disk, EIO, a client gone) also removes what it wrote
to tmp/, so the next write succeeds as soon as there is space again (server.disk).

What is read from disk is remembered in `cache` (server.cache), keyed by the repo's folder, never by
the spelling of its id in the URL, and bounded in bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import filelock

from berthub.files import fsync_dir, write_text_atomic
from berthub.server.blobs import BlobWriter
from berthub.server.cache import BoundedCache
from berthub.server.disk import DEFAULT_MIN_FREE, check_room
from berthub.server.errors import (
    BadRequest,
    Conflict,
    EntryNotFound,
    PreconditionFailed,
    RepoNotFound,
    RevisionNotFound,
)
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

LOCK_TIMEOUT_S = 120


def repo_not_found_message(repo_id: str) -> str:
    """The one answer for a repo that is missing or private to the caller: they must not differ."""
    return (f"Repository '{repo_id}' not found on this hub (or it is private and the request carried no valid "
            "token). Check the id, or create it (HfApi.create_repo or `berthub push`).")


class Storage:
    """All reads and writes of the hub's data; safe to share between threads and worker processes."""

    def __init__(self, root: str | os.PathLike, cache: BoundedCache | None = None,
                 min_free_space: int = DEFAULT_MIN_FREE) -> None:
        self.root = Path(root).resolve()
        self.blobs_dir = self.root / "blobs"
        self.repos_dir = self.root / "repos"
        self.tmp_dir = self.root / "tmp"
        self.locks_dir = self.root / "locks"
        self._blobs = str(self.blobs_dir)
        for folder in (self.blobs_dir, self.repos_dir, self.tmp_dir, self.locks_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.cache = cache if cache is not None else BoundedCache()
        self.min_free_space = min_free_space

    def check_room(self, needed: int, what: str) -> None:
        """507 unless `needed` more bytes leave the reserve (`--min-free-space`) free."""
        check_room(self.root, needed, self.min_free_space, what)

    def recover(self) -> int:
        """Remove uploads left in tmp/ by a crash. Call once at start, before serving. Returns a count."""
        removed = 0
        for entry in self.tmp_dir.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        return removed

    # ---- blobs -------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.blobs_dir / sha256[:2] / sha256

    def blob_file(self, sha256: str) -> str:
        """blob_path as a plain string: hot paths (model info on every request) skip pathlib's cost."""
        return f"{self._blobs}/{sha256[:2]}/{sha256}"

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        try:
            stat = self.blob_path(sha256).stat()
        except FileNotFoundError:
            return False
        return size is None or stat.st_size == size

    def blob_writer(self, expected_sha256: str | None = None, expected_size: int | None = None) -> BlobWriter:
        self.check_room(expected_size or 0, f"Upload of {expected_sha256 or 'a file'}")
        return BlobWriter(self.tmp_dir, self.blob_path, expected_sha256, expected_size)

    def put_bytes(self, data: bytes) -> str:
        """Store small content (regular files sent inline in a commit); returns its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        if self.has_blob(sha256, len(data)):
            return sha256  # stored before: content addressing makes writing it again a no-op
        writer = self.blob_writer()
        writer.write(data)
        return writer.finish()[0]

    # ---- repos -------------------------------------------------------------------------------
    def _repo_dir(self, repo_id: str) -> Path:
        """The repo's folder. Repo ids are case-insensitive, as on the public hub: `Acme/Pub` names the
        folder of `acme/pub`. Remembered under the lower-cased id (every request resolves its repo twice),
        only for repos that exist: 64 spellings of one id are one entry, and ids of no repo are none;
        repo() forgets an entry whose repo has gone."""
        key = ("repo-dir", repo_id.lower())
        known = self.cache.get(key)
        if known is not None:  # only valid ids are ever kept
            return known
        exact = self.repos_dir / validate_repo_id(repo_id)
        found = exact if exact.is_dir() else self._case_variant(repo_id)
        if found is None:
            return exact
        return self.cache.put(key, found, sys.getsizeof(str(found)) + 200)

    def _case_variant(self, repo_id: str) -> Path | None:
        namespace, name = repo_id.lower().split("/")
        for folder in _children(self.repos_dir):
            if folder.name.lower() == namespace:
                for repo_dir in _children(folder):
                    if repo_dir.name.lower() == name:
                        return repo_dir
        return None

    def _lock(self, repo_id: str) -> filelock.BaseFileLock:
        # Lower-cased: writers of `Acme/Pub` and `acme/pub` queue on one lock, since they are one repo.
        return filelock.FileLock(self.locks_dir / (repo_id.lower().replace("/", "--") + ".lock"),
                                 timeout=LOCK_TIMEOUT_S)

    def repo(self, repo_id: str) -> RepoMeta:
        """The repo's metadata, under its id as created (whatever case `repo_id` is written in)."""
        repo_dir = self._repo_dir(repo_id)
        try:
            data = json.loads((repo_dir / "repo.json").read_text())
        except FileNotFoundError:
            key = ("repo-dir", repo_id.lower())
            if key in self.cache:  # deleted since (perhaps by another worker): look again, in any case
                self.cache.discard(key)
                return self.repo(repo_id)
            raise RepoNotFound(repo_not_found_message(repo_id)) from None
        return RepoMeta(f"{repo_dir.parent.name}/{repo_dir.name}", bool(data.get("private")), data["created_at"],
                        data.get("gated") or None)

    def update_repo_settings(self, repo_id: str, *, private: bool | None = None,
                             gated: str | bool | None = None) -> RepoMeta:
        """Change visibility and gating ("auto", "manual", or False for none); None leaves a setting as is."""
        with self._locked(repo_id):
            meta = self.repo(repo_id)
            settings = {"created_at": meta.created_at, "private": meta.private if private is None else private,
                        "gated": meta.gated if gated is None else (gated or None)}
            _atomic_write(self._repo_dir(repo_id) / "repo.json", json.dumps(settings))
        return self.repo(repo_id)

    def list_repos(self) -> list[RepoMeta]:
        repos = []
        for namespace in sorted(self.repos_dir.iterdir()):
            if not namespace.is_dir() or namespace.name.startswith("."):
                continue
            for name in sorted(namespace.iterdir()):
                try:
                    repos.append(self.repo(f"{namespace.name}/{name.name}"))
                except (RepoNotFound, BadRequest):
                    continue  # half-deleted or foreign folder: not a repo
        return repos

    def create_repo(self, repo_id: str, *, private: bool = False, author: str = "berthub") -> RepoMeta:
        """A new repo whose main branch holds one empty initial commit. 409 if it exists, in any case."""
        with self._locked(repo_id):
            repo_dir = self._repo_dir(repo_id)
            if repo_dir.exists():
                existing = f"{repo_dir.parent.name}/{repo_dir.name}"
                same = "" if existing == repo_id else f" as '{existing}' (repo ids are case-insensitive)"
                raise Conflict(f"Repository '{repo_id}' already exists{same}; push to it, or delete it first.")
            self.check_room(0, f"Creating '{repo_id}'")
            staging = self.tmp_dir / f"repo-{uuid.uuid4().hex}"
            created = now_iso()
            try:
                (staging / "commits").mkdir(parents=True)
                (staging / "refs" / "heads").mkdir(parents=True)
                _atomic_write(staging / "repo.json", json.dumps({"created_at": created, "private": private}))
                initial = make_commit(None, "initial commit", "", author, {})
                _atomic_write(staging / "commits" / f"{initial.id}.json", json.dumps(initial.to_json()))
                _atomic_write(staging / "refs" / "heads" / "main", initial.id)
                repo_dir.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, repo_dir)  # the repo appears whole or not at all
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # gone already unless something failed
            fsync_dir(repo_dir.parent)
        return RepoMeta(repo_id, private, created)

    def delete_repo(self, repo_id: str) -> None:
        """Remove a repo (blobs stay: other repos may share them)."""
        repo_dir = self._repo_dir(repo_id)
        with self._locked(repo_id):
            self.repo(repo_id)
            trash = self.tmp_dir / f"deleted-{uuid.uuid4().hex}"
            os.rename(repo_dir, trash)
            self.cache.discard(("repo-dir", repo_id.lower()))
        shutil.rmtree(trash, ignore_errors=True)

    def _locked(self, repo_id: str) -> _Held:
        lock = self._lock(repo_id)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise Conflict(f"Repository '{repo_id}' is busy with another write for over {LOCK_TIMEOUT_S}s; "
                           "retry later.") from None
        return _Held(lock)

    # ---- revisions ---------------------------------------------------------------------------
    def resolve(self, repo_id: str, revision: str = "main", *, cached_only: bool = False) -> Commit | None:
        """The commit a branch, tag or full commit id names. With `cached_only`, None when its tree is
        not in memory: the caller then reads it in a thread, so a big tree is never parsed on the loop."""
        repo_dir = self._repo_dir(repo_id)
        commit_id = None
        if COMMIT_ID.fullmatch(revision) and (repo_dir / "commits" / f"{revision}.json").exists():
            commit_id = revision
        else:
            for kind in ("heads", "tags"):
                try:
                    commit_id = (repo_dir / "refs" / kind / validate_ref_name(revision)).read_text().strip()
                    break
                except (FileNotFoundError, BadRequest):
                    continue
        if commit_id is None:
            self.repo(repo_id)  # only now: a missing repo is a different error than a missing revision
            raise RevisionNotFound(f"Revision '{revision}' not found in '{repo_id}': use a branch ('main'), "
                                   "a tag or a full 40-character commit id.")
        if cached_only:
            return self.cache.get(("commit", str(repo_dir), commit_id))
        return self.commit(repo_id, commit_id)

    def commit(self, repo_id: str, commit_id: str) -> Commit:
        repo_dir = self._repo_dir(repo_id)
        return self.cache.remember(("commit", str(repo_dir), commit_id),
                                   lambda: self._read_commit(repo_dir, repo_id, commit_id), Commit.memory_size)

    def _read_commit(self, repo_dir: Path, repo_id: str, commit_id: str) -> Commit:
        try:
            return Commit.from_json(json.loads((repo_dir / "commits" / f"{commit_id}.json").read_text()))
        except FileNotFoundError:
            raise RevisionNotFound(f"Commit '{commit_id}' not found in '{repo_id}'.") from None

    def history(self, repo_id: str, revision: str = "main", limit: int = 1000) -> list[CommitHeader]:
        """Commits reachable from `revision`, newest first, without their trees: a request holds one
        tree at a time, however long the history and big the trees."""
        headers = [self.resolve(repo_id, revision).header]
        while headers[-1].parent and len(headers) < limit:
            headers.append(self._header(repo_id, headers[-1].parent))
        return headers

    def _header(self, repo_id: str, commit_id: str) -> CommitHeader:
        repo_dir = self._repo_dir(repo_id)
        cached = self.cache.get(("commit", str(repo_dir), commit_id))
        if cached is not None:
            return cached.header
        return self.cache.remember(("header", str(repo_dir), commit_id),
                                   lambda: self._read_commit(repo_dir, repo_id, commit_id).header,
                                   CommitHeader.memory_size)

    def refs(self, repo_id: str) -> dict[str, dict[str, str]]:
        """{"heads": {name: commit id}, "tags": {...}}."""
        self.repo(repo_id)
        refs = self._repo_dir(repo_id) / "refs"
        return {kind: {name: (refs / kind / name).read_text().strip() for name in _ref_names(refs / kind)}
                for kind in ("heads", "tags")}

    def create_ref(self, repo_id: str, kind: str, name: str, revision: str = "main") -> str:
        """A new branch (`kind="heads"`) or tag (`"tags"`) at `revision`; 409 if the name is taken, in
        any letter case (refs are files: `Main` and `main` would be one on Windows and macOS)."""
        validate_ref_name(name, "branch" if kind == "heads" else "tag", new=True)
        with self._locked(repo_id):
            commit = self.resolve(repo_id, revision)
            refs = self._repo_dir(repo_id) / "refs"
            taken = [other for folder in ("tags", "heads") for other in _ref_names(refs / folder)
                     if other.lower() == name.lower()]
            if taken:
                raise Conflict(f"A branch or tag named '{taken[0]}' already exists in '{repo_id}'; pick another "
                               "name.")
            self.check_room(0, f"Creating {kind[:-1]} '{name}' in '{repo_id}'")
            (refs / kind).mkdir(exist_ok=True)
            _atomic_write(refs / kind / name, commit.id)
        return commit.id

    def apply(self, repo_id: str, branch: str, operations: list[Operation], *, title: str,
              message: str = "", author: str = "berthub", parent: str | None = None) -> Commit:
        """Commit `operations` on top of `branch`; concurrent callers queue and each lands in turn."""
        validate_ref_name(branch, "branch")
        validate_commit_text(title, message)
        with self._locked(repo_id):
            head_file = self._repo_dir(repo_id) / "refs" / "heads" / branch
            self.repo(repo_id)
            if not head_file.exists():
                raise RevisionNotFound(f"Branch '{branch}' not found in '{repo_id}'; commit to 'main'.")
            head = self.commit(repo_id, head_file.read_text().strip())
            if parent is not None and parent != head.id:
                raise PreconditionFailed(f"'{branch}' of '{repo_id}' moved to {head.id} since parent commit "
                                         f"{parent}; fetch the new head and retry.")
            files = _apply_operations(dict(head.files), operations, self)
            commit = make_commit(head.id, title, message, author, files)
            self.check_room(0, f"Commit to '{repo_id}'")
            commit_file = self._repo_dir(repo_id) / "commits" / f"{commit.id}.json"
            _atomic_write(commit_file, json.dumps(commit.to_json()))
            try:
                _atomic_write(head_file, commit.id)  # the commit becomes visible here, all at once
            except BaseException:
                if _read(head_file) != commit.id:  # not visible: the commit file would only take space
                    commit_file.unlink(missing_ok=True)
                raise
        return commit


def _apply_operations(files: dict[str, FileEntry], operations: list[Operation],
                      storage: Storage) -> dict[str, FileEntry]:
    for operation in operations:
        if isinstance(operation, AddFile):
            entry = operation.entry
            validate_path(entry.path)
            if not storage.has_blob(entry.sha256, entry.size):
                raise BadRequest(f"File '{entry.path}' refers to content {entry.sha256} ({entry.size} bytes) "
                                 "that was never uploaded to this hub; upload it (LFS batch) before committing.")
            files[entry.path] = entry
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


def _ref_names(folder: Path) -> list[str]:
    """Branch or tag names in a refs folder, sorted; temp files of an interrupted write are not refs."""
    try:
        return sorted(name for name in os.listdir(folder) if not name.startswith("."))
    except FileNotFoundError:
        return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _children(folder: Path) -> list[Path]:
    try:
        return [entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith(".")]
    except FileNotFoundError:
        return []


class _Held:
    """Context manager releasing an already-acquired lock (acquisition errors were mapped earlier)."""

    def __init__(self, lock: filelock.BaseFileLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


def _atomic_write(path: Path, text: str) -> None:
    """temp file in the same folder + fsync + rename: readers see the old or the new file, never half;
    the folder is fsynced too so the rename itself survives a power cut."""
    write_text_atomic(path, text)
    fsync_dir(path.parent)
