"""Reading the repo a request names before its route runs, on a worker thread, when that may block.

Routes check permissions synchronously (server.http), and on SQLite the repo's row is read in
microseconds, so with the default database this layer does nothing. Where the read may take a network
round trip (PostgreSQL) or much longer (a mirror fetching a repo it does not hold from its upstream,
server.mirror), `Prefetch` reads it first in the thread pool and leaves it in the request's scope, where
the permission check finds it: the event loop never waits on the database or the upstream.

The repo id is taken from the path's shape only (`/{org}/{name}/...` and `/api/models/{org}/{name}...`);
a path that names no valid repo id, or a repo that does not exist, is left to the route to answer.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from berthub.server.errors import HubError
from berthub.server.http import PREFETCHED
from berthub.server.names import validate_repo_id
from berthub.server.storage import Storage

_API = "/api/models/"


def repo_in_path(path: str) -> str | None:
    """The repo id a request path names, if it names one (its validity is checked by the caller)."""
    if path.startswith(_API):
        parts = path[len(_API):].split("/")
    elif path.startswith("/api/"):
        return None
    else:
        parts = path[1:].split("/")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    name = parts[1][:-4] if parts[1].endswith(".git") else parts[1]  # /{org}/{name}.git/info/lfs/...
    return f"{parts[0]}/{name}"


class Prefetch:
    def __init__(self, app: Callable, storage: Storage) -> None:
        self.app, self.storage = app, storage

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and (not self.storage.db.cheap_reads or self.storage.upstream is not None):
            repo_id = repo_in_path(scope["path"])
            if repo_id is not None:
                scope[PREFETCHED] = await run_in_threadpool(self._read, repo_id)
        await self.app(scope, receive, send)

    def _read(self, repo_id: str) -> object:
        try:
            return self.storage.repo(validate_repo_id(repo_id))
        except HubError:
            return None  # not a repo id, or no such repo: the route gives the answer
