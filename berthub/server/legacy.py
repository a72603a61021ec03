"""Moving a hub of berthub 0.2 and earlier into the database: `berthub hub migrate`.

Those releases kept repos, commits and refs as files under the root:

    repos/<ns>/<name>/repo.json               created_at, private, gated
    repos/<ns>/<name>/commits/<id>.json       one commit: parent, message, the full file tree
    repos/<ns>/<name>/refs/{heads,tags}/<n>   the commit id a branch or tag points to
    blobs/ab/ab12...ef                        file contents (the local object store's layout, unchanged)
    secret                                    the key that signs upload links and CSRF tokens

`migrate_root` copies the blobs into the object store first when it is not that folder (S3), the
accounts (users, organisations, tokens, access requests) from the root's berthub.db when the hub's
database is another one (PostgreSQL), then each repo (every commit under its own id, every ref, its
settings) into the database in one transaction per repo, so a repo appears whole or not at all; then
renames repos/ to repos.migrated/ (kept: nothing is deleted). An interrupted run is simply run again:
blobs already stored and repos already in the database with the same commits are skipped. A repo the
database holds with other commits stops the migration with an error naming it, before anything of it
is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select, text

from berthub.errors import ConfigError
from berthub.server.db import schema
from berthub.server.db.engine import Database, default_url
from berthub.server.names import SHA256
from berthub.server.objects import Commit, RepoMeta
from berthub.server.objectstore.base import blob_key
from berthub.server.storage import Storage
from berthub.sources.settings import DATABASE_FILE

MIGRATED = "repos.migrated"
_ACCOUNT_TABLES = (schema.accounts, schema.memberships, schema.tokens, schema.token_scopes, schema.web_sessions,
                   schema.access_requests, schema.accounts_state)


@dataclass
class MigrationReport:
    repos: int = 0
    commits: int = 0
    refs: int = 0
    blobs: int = 0  # copied into the object store (0 when it is the root's own blobs/ folder)
    accounts: int = 0  # rows copied from the root's berthub.db into another database
    skipped: list[str] = field(default_factory=list)  # repos the database held already

    def summary(self) -> str:
        kept = f"; {len(self.skipped)} already in the database" if self.skipped else ""
        return (f"moved {self.repos} repo(s), {self.commits} commit(s) and {self.refs} ref(s) into the database, "
                f"{self.blobs} blob(s) into the object store, {self.accounts} accounts row(s){kept}")


def needs_migration(root: Path) -> bool:
    """Whether `root` still holds repos in the on-disk layout of berthub 0.2 and earlier."""
    folder = root / "repos"
    return folder.is_dir() and any(_repo_dirs(folder))


def blobs_in_place(root: Path, storage: Storage) -> bool:
    """Whether the storage's blobs are the root's own blobs/ folder (nothing to copy)."""
    path = storage.objects.local_path(blob_key("0" * 64))
    return path is not None and path.parent.parent == (root / "blobs").resolve()


def migrate_root(root: Path, storage: Storage, progress: Callable[[Iterator, int, str], Iterator] | None = None
                 ) -> MigrationReport:
    """Move `root`'s on-disk repos into `storage`'s database (and blobs into its store); see the module."""
    progress = progress or (lambda items, total, what: items)
    report = MigrationReport()
    legacy = root / "repos"
    if not blobs_in_place(root, storage):
        blobs = sorted(path for path in (root / "blobs").glob("*/*") if SHA256.fullmatch(path.name))
        for path in progress(iter(blobs), len(blobs), "blobs"):
            if not storage.has_blob(path.name, path.stat().st_size):
                _copy_blob(storage, path)
                report.blobs += 1
    _move_accounts(root, storage.db, report)
    folders = list(_repo_dirs(legacy))
    for folder in progress(iter(folders), len(folders), "repos"):
        _migrate_repo(folder, storage, report)
    secret = root / "secret"
    if secret.is_file():
        storage.db.adopt_secret(secret.read_text().strip())
    os.rename(legacy, _free_name(root / MIGRATED))
    return report


def _move_accounts(root: Path, target: Database, report: MigrationReport) -> None:
    """The root's own accounts database, copied row for row (ids kept) into the hub's database when that
    is another one and holds no accounts yet."""
    source_path = root / DATABASE_FILE
    if not source_path.is_file() or target.sqlite_path == str(source_path.resolve()):
        return
    source = Database.open(default_url(root))
    try:
        names = {database: _account_names(database) for database in (source, target)}
        if names[target]:
            if names[source] <= names[target]:
                return  # moved by an earlier run
            raise ConfigError("Cannot move the accounts of --root's berthub.db: the hub's database already has "
                              "other accounts. Nothing was moved; add them there with `berthub accounts`.")
        with source.read() as reading, target.write() as writing:
            for table in _ACCOUNT_TABLES:
                rows = [dict(row._mapping) for row in reading.execute(select(table))]
                if table is schema.accounts_state:
                    writing.execute(table.delete())
                if rows:
                    writing.execute(insert(table), rows)
                    report.accounts += len(rows)
            if writing.dialect.name == "postgresql":  # explicit ids do not move PostgreSQL's sequences
                for table in _ACCOUNT_TABLES:
                    if "id" in table.c and table is not schema.accounts_state:
                        writing.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                             f"coalesce((SELECT max(id) FROM {table.name}), 0) + 1, false)"))
    finally:
        source.close()


def _account_names(database: Database) -> set[str]:
    with database.read() as connection:
        return set(connection.execute(select(schema.accounts.c.name_key)).scalars())


def _copy_blob(storage: Storage, path: Path) -> None:
    """Through a temporary copy (S3: multipart for large ones), never read whole into memory."""
    handle, tmp_path = storage.objects.temp_file()
    with handle, open(path, "rb") as source:
        while block := source.read(8 * 1024**2):
            handle.write(block)
    storage.objects.put_file(blob_key(path.name), tmp_path)


def _migrate_repo(folder: Path, storage: Storage, report: MigrationReport) -> None:
    repo_id = f"{folder.parent.name}/{folder.name}"
    settings = json.loads((folder / "repo.json").read_text())
    commits = [Commit.from_json(json.loads(path.read_text())) for path in sorted((folder / "commits").glob("*.json"))]
    refs = [(kind, path.name, path.read_text().strip()) for kind in ("heads", "tags")
            for path in sorted((folder / "refs" / kind).glob("*")) if not path.name.startswith(".")]
    held = {commit.id for commit in commits}
    dangling = [f"{kind[:-1]} {name}" for kind, name, commit_id in refs if commit_id not in held]
    if dangling:
        raise ConfigError(f"Cannot migrate '{repo_id}': {', '.join(dangling)} point(s) at commits missing from "
                          f"{folder / 'commits'}. Nothing of this repo was moved.")
    existing = storage.catalog.repo(repo_id)
    if existing is not None:
        if held <= storage.catalog.commit_ids(existing.uid):
            report.skipped.append(repo_id)
            return
        raise ConfigError(f"Cannot migrate '{repo_id}': the database already holds a repo '{existing.repo_id}' with "
                          "other commits. Rename or delete one of them, then run `berthub hub migrate` again.")
    meta = RepoMeta(repo_id, bool(settings.get("private")), settings["created_at"], settings.get("gated") or None)
    storage.catalog.import_repo(meta, commits, refs)
    report.repos += 1
    report.commits += len(commits)
    report.refs += len(refs)


def _repo_dirs(legacy: Path) -> Iterator[Path]:
    for namespace in sorted(legacy.iterdir()) if legacy.is_dir() else ():
        if namespace.is_dir() and not namespace.name.startswith("."):
            for folder in sorted(namespace.iterdir()):
                if (folder / "repo.json").is_file():
                    yield folder


def _free_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}-{number}")
    return candidate
