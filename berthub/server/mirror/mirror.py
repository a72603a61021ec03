"""A pull-once mirror of another hub (`berthub serve --mirror-of URL`).

A repo this hub does not hold is fetched from the upstream on its first request: its `main` commit (the
file list, with the small regular files' contents) becomes a repo of this hub marked mirrored, under the
upstream's commit id; a file's content (the weights) is fetched the first time someone downloads it, and
kept. A revision named by commit id is pinned: fetched once, never asked again. A branch or tag is
served as held for `refresh_s` seconds, then the next request asks the upstream where it points now
(the others go on being served what is held meanwhile). When the upstream is down, everything held
keeps being served; only what was never fetched answers 503.

One upstream download per file, however many clients ask at once, through however many replicas: each
fetch is claimed in the database first (server.leases); the process that gets the claim fetches, the
others wait for what it stores. `allow` (shell patterns over repo ids, case-insensitive) bounds what may
be mirrored. Mirrored repos are read-only here; listings and links always name this hub, never the
upstream, and the upstream's token never leaves this server.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from berthub.server import metrics
from berthub.server.errors import BadRequest, StorageUnavailable
from berthub.server.leases import Leases
from berthub.server.mirror.upstream import UpstreamHub, UpstreamUnavailable
from berthub.server.names import COMMIT_ID, validate_path, validate_ref_name
from berthub.server.objects import Commit, FileEntry, RepoMeta, now_iso
from berthub.server.storage import Storage

log = logging.getLogger("berthub.server.mirror")

LEASE_S = 60  # a claim lives this long unless its holder renews it (while downloading)
WAIT_S = 600  # how long a request waits for another process's fetch before answering 503
FAILURE_BACKOFF_S = 5  # after the upstream failed, ask it again only after this (per process)
_POLL_S = 0.1


class Mirror:
    """Implements server.storage.Upstream; `storage.upstream = Mirror(...)` turns mirroring on."""

    def __init__(self, storage: Storage, upstream: UpstreamHub, refresh_s: float = 300.0,
                 allow: tuple[str, ...] = ()) -> None:
        self.storage, self.upstream, self.refresh_s = storage, upstream, refresh_s
        self.allow = tuple(pattern.lower() for pattern in allow)
        self.leases = Leases(storage.db)
        self._absent: dict[str, float] = {}  # repo key -> when the upstream said it has no such repo
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def allowed(self, repo_id: str) -> bool:
        return not self.allow or any(fnmatch.fnmatchcase(repo_id.lower(), pattern) for pattern in self.allow)

    # ---- repos -------------------------------------------------------------------------------
    def repo(self, repo_id: str) -> RepoMeta | None:
        key = repo_id.lower()
        if not self.allowed(repo_id) or time.time() - self._absent.get(key, -1e9) < self.refresh_s:
            return None
        return self._once(f"mirror-repo:{key}", lambda: self._fetch_repo(repo_id),
                          lambda: self.storage.catalog.repo(repo_id))

    def _fetch_repo(self, repo_id: str) -> RepoMeta | None:
        info = self._ask("repo", lambda: self.upstream.model_info(repo_id, "main"))
        if info is None or not COMMIT_ID.fullmatch(str(info.get("sha"))):
            with self._lock:
                if len(self._absent) > 10_000:
                    self._absent.clear()
                self._absent[repo_id.lower()] = time.time()
            return None
        commit = self._commit(repo_id, info)
        upstream_id = str(info.get("id") or repo_id)
        name = upstream_id if upstream_id.lower() == repo_id.lower() else repo_id
        meta = self.storage.catalog.create_repo(name, private=bool(info.get("private")), created_at=now_iso(),
                                                initial=commit, mirrored=True, gated=_gated(info.get("gated")))
        self.storage.catalog.set_ref(meta.uid, "heads", "main", commit.id, int(time.time()))
        log.info("mirrored %s at %s from %s", name, commit.id, self.upstream.url)
        return self.storage.catalog.repo(name)

    # ---- revisions ---------------------------------------------------------------------------
    def revision(self, meta: RepoMeta, revision: str) -> str | None:
        catalog = self.storage.catalog
        if COMMIT_ID.fullmatch(revision):  # pinned: fetched once, never asked again
            if catalog.has_commit(meta.uid, revision):
                return revision
            return self._once(f"mirror-commit:{meta.uid}:{revision}", lambda: self._fetch_commit(meta, revision),
                              lambda: revision if catalog.has_commit(meta.uid, revision) else None)
        try:
            validate_ref_name(revision)
        except BadRequest:
            return None
        name = f"mirror-ref:{meta.uid}:{revision}"
        kind, commit_id, checked = self._held_ref(meta, revision)
        if commit_id is None:
            return self._once(name, lambda: self._refresh(meta, revision, None),
                              lambda: self._held_ref(meta, revision)[1])
        if time.time() - checked < self.refresh_s or not self.leases.acquire(name, LEASE_S):
            return commit_id  # fresh, or another process is asking the upstream: serve what is held
        try:
            return self._refresh(meta, revision, kind) or commit_id
        except StorageUnavailable as error:
            log.warning("serving %s@%s as held (%s): %s", meta.repo_id, revision, commit_id, error)
            return commit_id
        finally:
            self.leases.release(name)

    def _held_ref(self, meta: RepoMeta, revision: str) -> tuple[str | None, str | None, float]:
        for kind, name, commit_id, checked in self.storage.catalog.refs(meta.uid):
            if name == revision:
                return kind, commit_id, checked or 0
        return None, None, 0

    def _refresh(self, meta: RepoMeta, revision: str, kind: str | None) -> str | None:
        info = self._ask("revision", lambda: self.upstream.model_info(meta.repo_id, revision))
        if info is None or not COMMIT_ID.fullmatch(str(info.get("sha"))):
            return None
        commit_id = str(info["sha"])
        if not self.storage.catalog.has_commit(meta.uid, commit_id):
            self.storage.catalog.add_commit(meta.uid, self._commit(meta.repo_id, info))
        if kind is None:
            kind = "tags" if revision in self._ask("revision", lambda: self.upstream.tags(meta.repo_id)) else "heads"
        self.storage.catalog.set_ref(meta.uid, kind, revision, commit_id, int(time.time()))
        return commit_id

    def _fetch_commit(self, meta: RepoMeta, commit_id: str) -> str | None:
        info = self._ask("revision", lambda: self.upstream.model_info(meta.repo_id, commit_id))
        if info is None or info.get("sha") != commit_id:
            return None
        self.storage.catalog.add_commit(meta.uid, self._commit(meta.repo_id, info))
        return commit_id

    def _commit(self, repo_id: str, info: dict[str, Any]) -> Commit:
        """The upstream's commit, under its id: its file list (small regular files fetched now, for their
        sha256; large ones on first download) and its header."""
        commit_id = str(info["sha"])
        files: dict[str, FileEntry] = {}
        for sibling in info.get("siblings") or []:
            entry = self._entry(repo_id, commit_id, sibling)
            files[entry.path] = entry
        header = self._ask("revision", lambda: self.upstream.commit_header(repo_id, commit_id)) or {}
        authors = header.get("authors") if isinstance(header.get("authors"), list) else []
        author = str((authors[0] or {}).get("user") or "upstream") if authors and isinstance(authors[0], dict) \
            else "upstream"
        parent = header.get("parent") if COMMIT_ID.fullmatch(str(header.get("parent"))) else None
        return Commit(commit_id, parent, str(header.get("title") or f"mirrored from {self.upstream.url}")[:1000],
                      str(header.get("message") or "")[:65536], author[:255], _date(header.get("date")),
                      dict(sorted(files.items())))

    def _entry(self, repo_id: str, commit_id: str, sibling: Any) -> FileEntry:
        if not isinstance(sibling, dict):
            raise UpstreamUnavailable(f"the upstream's file list of {repo_id}@{commit_id} is malformed.")
        try:
            path = validate_path(str(sibling.get("rfilename")))
        except BadRequest as error:
            raise UpstreamUnavailable(f"the upstream's file list of {repo_id}@{commit_id}: {error}") from None
        lfs = sibling.get("lfs") if isinstance(sibling.get("lfs"), dict) else None
        if lfs is not None and isinstance(lfs.get("sha256"), str) and isinstance(lfs.get("size"), int):
            return FileEntry.large(path, lfs["sha256"], lfs["size"])
        data = b"".join(self._ask("file", lambda: self.upstream.download(repo_id, commit_id, path)))
        entry = FileEntry.regular(path, data)
        if sibling.get("blobId") not in (None, entry.oid):
            raise UpstreamUnavailable(f"the upstream sent '{path}' of {repo_id}@{commit_id} with other content than "
                                      "its file list names; nothing was kept.")
        self.storage.put_bytes(data)
        metrics.UPSTREAM_BYTES.inc(len(data))
        return entry

    # ---- file contents -----------------------------------------------------------------------
    def content(self, meta: RepoMeta, commit_id: str, entry: FileEntry) -> None:
        """Fetch and keep a file's content (once for all processes); 503 when it cannot be had."""
        storage = self.storage
        done = self._once(f"mirror-file:{entry.sha256}", lambda: self._download(meta, commit_id, entry),
                          lambda: True if storage.has_blob(entry.sha256, entry.size) else None)
        if not done:
            raise StorageUnavailable(f"'{entry.path}' of {meta.repo_id} is not held by this mirror and could not be "
                                     f"fetched from {self.upstream.url}; retry later.")

    def _download(self, meta: RepoMeta, commit_id: str, entry: FileEntry) -> bool:
        name = f"mirror-file:{entry.sha256}"
        writer = self.storage.blob_writer(expected_sha256=entry.sha256, expected_size=entry.size)
        renewed = time.monotonic()
        try:
            for block in self._ask("file", lambda: self.upstream.download(meta.repo_id, commit_id, entry.path)):
                writer.write(block)
                metrics.UPSTREAM_BYTES.inc(len(block))
                if time.monotonic() - renewed > LEASE_S / 3:
                    self.leases.renew(name, LEASE_S)
                    renewed = time.monotonic()
            writer.finish()  # checks size and sha256 against the file list: a lying upstream stores nothing
        except BaseException:
            writer.abort()
            raise
        return True

    # ---- helpers -----------------------------------------------------------------------------
    def _once(self, name: str, fetch: Callable[[], Any], found: Callable[[], Any]) -> Any:
        """`fetch()` in the one process that claims `name`; the others wait until `found()` says the result
        is held. A claim released without a result (nothing upstream, or it failed) or left by a dead
        holder is taken over by one of the waiters."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            result = found()
            if result is not None:
                return result
            if self.leases.acquire(name, LEASE_S):
                try:
                    result = found()  # stored by a holder that finished just before this claim
                    return result if result is not None else fetch()
                finally:
                    self.leases.release(name)
            while self.leases.held(name) and time.monotonic() < deadline:
                time.sleep(_POLL_S)
                result = found()
                if result is not None:
                    return result
        raise StorageUnavailable(f"waited {WAIT_S}s for another server's fetch of {name} from {self.upstream.url}; "
                                 "retry later.")

    def _ask(self, kind: str, call: Callable[[], Any]) -> Any:
        """`call()` to the upstream, counted in /metrics; refused at once for a few seconds after it failed."""
        if time.monotonic() - self._failed_at < FAILURE_BACKOFF_S:
            raise UpstreamUnavailable(f"the upstream hub {self.upstream.url} failed moments ago; what this hub "
                                      "holds is still served, retry later.")
        try:
            result = call()
        except UpstreamUnavailable:
            self._failed_at = time.monotonic()
            metrics.UPSTREAM.labels(kind, "error").inc()
            raise
        metrics.UPSTREAM.labels(kind, "ok").inc()
        return result


def _gated(value: Any) -> str | None:
    return value if value in ("auto", "manual") else None


def _date(value: Any) -> str:
    """The upstream's commit date in this hub's format (it must fit the database's column)."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return now_iso()
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
