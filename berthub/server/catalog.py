"""Repos, commits and refs in the hub's database: what every replica of a hub shares.

`Catalog` is the SQL of server.storage: which repos exist (ids are case-insensitive: one row per
lower-cased id), the immutable commits with their file trees, and the branches and tags. A branch moves
only in `land`: one transaction inserts the new commit and moves the branch with a compare-and-swap
(`UPDATE refs ... WHERE commit_id = <the head the commit was built on>`), so of two commits built on
the same head, through any replicas, exactly one lands and the other is rebuilt on top of it: history
stays linear and nothing is lost. Reads go through `Database.rows` (microseconds on SQLite).
"""

from __future__ import annotations

import json
import uuid
import zlib
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from berthub.server.db import schema
from berthub.server.db.engine import Database
from berthub.server.errors import Conflict
from berthub.server.objects import Commit, CommitHeader, FileEntry, RepoMeta

_repos, _commits, _refs = schema.repos, schema.commits, schema.refs
_REPO = select(_repos.c.repo_id, _repos.c.private, _repos.c.created_at, _repos.c.gated, _repos.c.uid,
               _repos.c.mirrored)
_BY_KEY = _REPO.where(_repos.c.repo_key == bindparam("key"))
_ALL = _REPO.order_by(_repos.c.repo_id)
_REF = select(_refs.c.commit_id).where(_refs.c.repo_uid == bindparam("uid"), _refs.c.name == bindparam("name")) \
    .order_by(_refs.c.kind)  # "heads" before "tags" (a name is never both: name_key is unique)
_BRANCH = select(_refs.c.commit_id).where(_refs.c.repo_uid == bindparam("uid"), _refs.c.kind == "heads",
                                         _refs.c.name == bindparam("name"))
_HAS_COMMIT = select(_commits.c.commit_id).where(_commits.c.repo_uid == bindparam("uid"),
                                                 _commits.c.commit_id == bindparam("commit"))
_HEADER_COLUMNS = (_commits.c.commit_id, _commits.c.parent, _commits.c.title, _commits.c.message,
                   _commits.c.author, _commits.c.date)
_COMMIT = select(*_HEADER_COLUMNS, _commits.c.tree).where(_commits.c.repo_uid == bindparam("uid"),
                                                          _commits.c.commit_id == bindparam("commit"))
_REFS = select(_refs.c.kind, _refs.c.name, _refs.c.commit_id, _refs.c.checked_at) \
    .where(_refs.c.repo_uid == bindparam("uid")).order_by(_refs.c.kind, _refs.c.name)


def _history() -> Any:
    """Commit headers from one commit down its parents, newest first, in one recursive query."""
    start = select(*_HEADER_COLUMNS, literal(0).label("depth")).where(
        _commits.c.repo_uid == bindparam("uid"), _commits.c.commit_id == bindparam("commit")) \
        .cte("history", recursive=True)
    step = select(*_HEADER_COLUMNS, (start.c.depth + 1).label("depth")).join(
        start, and_(_commits.c.repo_uid == bindparam("uid"), _commits.c.commit_id == start.c.parent)) \
        .where(start.c.depth < bindparam("limit") - 1)
    history = start.union_all(step)
    return select(*(column for column in history.c if column.name != "depth")).order_by(history.c.depth)


_HISTORY = _history()
_COUNTS = select(select(func.count()).select_from(_repos).scalar_subquery(),
                 select(func.count()).select_from(_commits).scalar_subquery())


def pack_tree(files: dict[str, FileEntry]) -> bytes:
    return zlib.compress(json.dumps([entry.row() for entry in files.values()]).encode(), 1)


def unpack_tree(data: bytes) -> dict[str, FileEntry]:
    return {row[0]: FileEntry(*row) for row in json.loads(zlib.decompress(data))}


def conflict(repo_id: str, existing: str) -> Conflict:
    """The answer to creating a repo that exists (perhaps spelt in another letter case)."""
    same = "" if existing == repo_id else f" as '{existing}' (repo ids are case-insensitive)"
    return Conflict(f"Repository '{repo_id}' already exists{same}; push to it, or delete it first.")


def _meta(row: tuple) -> RepoMeta:
    return RepoMeta(row[0], bool(row[1]), row[2], row[3] or None, uid=row[4], mirrored=bool(row[5]))


def _commit_row(uid: str, commit: Commit) -> dict[str, Any]:
    return {"repo_uid": uid, "commit_id": commit.id, "parent": commit.parent, "title": commit.title,
            "message": commit.message, "author": commit.author, "date": commit.date, "tree": pack_tree(commit.files)}


class Catalog:
    def __init__(self, database: Database) -> None:
        self.db = database

    # ---- reading -------------------------------------------------------------------------------
    def repo(self, repo_id: str) -> RepoMeta | None:
        """The repo whose id is `repo_id` in any letter case, or None."""
        found = self.db.rows(_BY_KEY, key=repo_id.lower())
        return _meta(found[0]) if found else None

    def repos(self) -> list[RepoMeta]:
        return [_meta(row) for row in self.db.rows(_ALL)]

    def ref(self, uid: str, name: str) -> str | None:
        """The commit the branch or tag `name` points to (a branch wins), or None."""
        found = self.db.rows(_REF, uid=uid, name=name)
        return found[0][0] if found else None

    def branch(self, uid: str, name: str) -> str | None:
        """The commit the branch `name` points to, or None."""
        found = self.db.rows(_BRANCH, uid=uid, name=name)
        return found[0][0] if found else None

    def has_commit(self, uid: str, commit_id: str) -> bool:
        return bool(self.db.rows(_HAS_COMMIT, uid=uid, commit=commit_id))

    def commit(self, uid: str, commit_id: str) -> Commit | None:
        found = self.db.rows(_COMMIT, uid=uid, commit=commit_id)
        if not found:
            return None
        *header, tree = found[0]
        return Commit(*header, files=unpack_tree(tree))

    def history(self, uid: str, commit_id: str, limit: int) -> list[CommitHeader]:
        return [CommitHeader(*row) for row in self.db.rows(_HISTORY, uid=uid, commit=commit_id, limit=limit)]

    def refs(self, uid: str) -> list[tuple[str, str, str, int | None]]:
        """(kind, name, commit id, checked_at) of every branch and tag."""
        return [tuple(row) for row in self.db.rows(_REFS, uid=uid)]

    def counts(self) -> tuple[int, int]:
        """(repos, commits) the database holds."""
        return self.db.rows(_COUNTS)[0]

    # ---- writing -------------------------------------------------------------------------------
    def create_repo(self, repo_id: str, *, private: bool, created_at: str, initial: Commit,
                    mirrored: bool = False, gated: str | None = None) -> RepoMeta:
        """A new repo holding `initial`, with `main` pointing at it. Conflict when a repo of that id
        exists, in any letter case."""
        uid = uuid.uuid4().hex
        row = {"uid": uid, "repo_id": repo_id, "repo_key": repo_id.lower(), "private": private, "gated": gated,
               "created_at": created_at, "mirrored": mirrored}
        try:
            with self.db.write() as connection:
                connection.execute(insert(_repos).values(row))
                connection.execute(insert(_commits).values(_commit_row(uid, initial)))
                connection.execute(insert(_refs).values(repo_uid=uid, kind="heads", name="main", name_key="main",
                                                        commit_id=initial.id))
        except IntegrityError:
            existing = self.repo(repo_id)
            if existing is None:
                raise
            raise conflict(repo_id, existing.repo_id) from None
        return _meta(tuple(row[key] for key in ("repo_id", "private", "created_at", "gated", "uid", "mirrored")))

    def import_repo(self, meta: RepoMeta, commits: list[Commit], refs: list[tuple[str, str, str]]) -> RepoMeta:
        """A repo with its whole history and refs ((kind, name, commit id)), kept as they are (ids
        included), in one transaction: all of it becomes visible at once, or none of it."""
        uid = uuid.uuid4().hex
        with self.db.write() as connection:
            connection.execute(insert(_repos).values(uid=uid, repo_id=meta.repo_id, repo_key=meta.repo_id.lower(),
                                                     private=meta.private, gated=meta.gated,
                                                     created_at=meta.created_at, mirrored=False))
            for commit in commits:
                connection.execute(insert(_commits).values(_commit_row(uid, commit)))
            for kind, name, commit_id in refs:
                connection.execute(insert(_refs).values(repo_uid=uid, kind=kind, name=name, name_key=name.lower(),
                                                        commit_id=commit_id))
        return self.repo(meta.repo_id)

    def commit_ids(self, uid: str) -> set[str]:
        with self.db.read() as connection:
            return set(connection.execute(select(_commits.c.commit_id).where(_commits.c.repo_uid == uid)).scalars())

    def delete_repo(self, uid: str) -> None:
        """Remove a repo with its commits and refs (foreign keys cascade)."""
        with self.db.write() as connection:
            connection.execute(delete(_refs).where(_refs.c.repo_uid == uid))
            connection.execute(delete(_commits).where(_commits.c.repo_uid == uid))
            connection.execute(delete(_repos).where(_repos.c.uid == uid))

    def update_settings(self, uid: str, *, private: bool, gated: str | None) -> None:
        with self.db.write() as connection:
            connection.execute(update(_repos).where(_repos.c.uid == uid).values(private=private, gated=gated))

    def create_ref(self, uid: str, kind: str, name: str, commit_id: str) -> str | None:
        """Add a branch or tag; None when done, else the name of the branch or tag that has this name in
        another (or the same) letter case."""
        try:
            with self.db.write() as connection:
                connection.execute(insert(_refs).values(repo_uid=uid, kind=kind, name=name, name_key=name.lower(),
                                                        commit_id=commit_id))
        except IntegrityError:
            taken = [ref_name for _, ref_name, _, _ in self.refs(uid) if ref_name.lower() == name.lower()]
            if not taken:
                raise
            return taken[0]
        return None

    def land(self, uid: str, branch: str, head: str, commit: Commit) -> bool:
        """Insert `commit` and move `branch` from `head` to it, in one transaction; False (nothing
        changed) when the branch no longer points at `head` or the repo is gone."""
        moved = (update(_refs).where(_refs.c.repo_uid == uid, _refs.c.kind == "heads", _refs.c.name == branch,
                                     _refs.c.commit_id == head).values(commit_id=commit.id))
        try:
            with self.db.write() as connection:
                if connection.execute(moved).rowcount != 1:
                    raise _Lost
                connection.execute(insert(_commits).values(_commit_row(uid, commit)))
        except (_Lost, IntegrityError):  # moved by another writer, or the repo deleted meanwhile
            return False
        return True

    def add_commit(self, uid: str, commit: Commit) -> None:
        """Keep a commit no ref points to yet (a mirror pins upstream commits by id); a no-op if held."""
        with self.db.write() as connection:
            if not connection.execute(_HAS_COMMIT, {"uid": uid, "commit": commit.id}).first():
                connection.execute(insert(_commits).values(_commit_row(uid, commit)))

    def set_ref(self, uid: str, kind: str, name: str, commit_id: str, checked_at: int) -> None:
        """Point a mirrored branch or tag at `commit_id` (creating it), noting when the upstream said so."""
        with self.db.write() as connection:
            changed = connection.execute(update(_refs).where(_refs.c.repo_uid == uid, _refs.c.kind == kind,
                                                             _refs.c.name == name)
                                         .values(commit_id=commit_id, checked_at=checked_at)).rowcount
            if not changed:
                connection.execute(insert(_refs).values(repo_uid=uid, kind=kind, name=name, name_key=name.lower(),
                                                        commit_id=commit_id, checked_at=checked_at))


class _Lost(Exception):
    """The compare-and-swap of `land` found the branch moved: roll the transaction back."""
