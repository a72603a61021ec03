"""Access requests to gated repos: asked for by signed-in users, answered by the repo's writers.

A repo gated "auto" accepts each request at once; "manual" leaves it pending until someone with
write access to the repo accepts or rejects it (HfApi.accept_access_request / reject_access_request),
or grants access without a request (HfApi.grant_access). Requests are keyed by the lower-cased repo
id and removed with the repo, so a new repo of the same name starts with no grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row, delete, insert, select, update

from berthub.errors import ConfigError, NotFoundError
from berthub.server.accounts.store import USER, now
from berthub.server.db.engine import Database, bump_generation
from berthub.server.db.schema import access_requests, accounts

STATUSES = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class AccessRequest:
    id: int
    user: str
    status: str
    created_at: int


class AccessRequests:
    """Access requests in the hub database. Methods block: call them from a thread."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def ask(self, repo_id: str, user: str, gated: str) -> str:
        """`user` asks for access; returns the request's status (an earlier request keeps its own)."""
        with self.db.write() as connection:
            user_id = _user_id(connection, user)
            existing = self._find(connection, repo_id, user_id)
            if existing is not None:
                return existing.status
            status = "accepted" if gated == "auto" else "pending"
            connection.execute(insert(access_requests).values(repo_key=repo_id.lower(), user_id=user_id,
                                                              status=status, created_at=now(), updated_at=now()))
            bump_generation(connection)
            return status

    def status(self, repo_id: str, user: str) -> str | None:
        with self.db.read() as connection:
            row = connection.execute(select(access_requests.c.status).join_from(
                access_requests, accounts, accounts.c.id == access_requests.c.user_id).where(
                access_requests.c.repo_key == repo_id.lower(), accounts.c.name_key == user.lower())).first()
            return row.status if row is not None else None

    def listing(self, repo_id: str, status: str) -> list[AccessRequest]:
        with self.db.read() as connection:
            rows = connection.execute(select(access_requests, accounts.c.name).join_from(
                access_requests, accounts, accounts.c.id == access_requests.c.user_id).where(
                access_requests.c.repo_key == repo_id.lower(), access_requests.c.status == status).order_by(
                access_requests.c.created_at, access_requests.c.id))
            return [AccessRequest(row.id, row.name, row.status, row.created_at) for row in rows]

    def answer(self, repo_id: str, status: str, *, user: str | None = None, request_id: str | None = None) -> None:
        """Set the status of an existing request, named by its user or its id."""
        if status not in STATUSES:
            raise ConfigError(f"Invalid access request status {status!r}: use one of {', '.join(STATUSES)}.")
        with self.db.write() as connection:
            match = access_requests.c.repo_key == repo_id.lower()
            if user is not None:
                match &= access_requests.c.user_id == _user_id(connection, user)
            elif request_id is not None and str(request_id).isdigit():
                match &= access_requests.c.id == int(request_id)
            else:
                raise ConfigError("Name the access request by 'user' or by a numeric 'requestId'.")
            changed = connection.execute(update(access_requests).where(match).values(
                status=status, updated_at=now())).rowcount
            if not changed:
                raise NotFoundError(f"No access request from {user or 'id ' + str(request_id)} for '{repo_id}'.")
            bump_generation(connection)

    def grant(self, repo_id: str, user: str) -> None:
        """Accept `user` without a request of theirs; refused when they already have access."""
        with self.db.write() as connection:
            user_id = _user_id(connection, user)
            existing = self._find(connection, repo_id, user_id)
            if existing is not None and existing.status == "accepted":
                raise ConfigError(f"'{user}' already has access to '{repo_id}'.")
            if existing is None:
                connection.execute(insert(access_requests).values(repo_key=repo_id.lower(), user_id=user_id,
                                                                  status="accepted", created_at=now(),
                                                                  updated_at=now()))
            else:
                connection.execute(update(access_requests).where(access_requests.c.id == existing.id).values(
                    status="accepted", updated_at=now()))
            bump_generation(connection)

    def forget(self, repo_id: str) -> None:
        """Remove every request for a repo (it was deleted)."""
        with self.db.write() as connection:
            connection.execute(delete(access_requests).where(access_requests.c.repo_key == repo_id.lower()))
            bump_generation(connection)

    def _find(self, connection: Connection, repo_id: str, user_id: int) -> Row | None:
        return connection.execute(select(access_requests.c.id, access_requests.c.status).where(
            access_requests.c.repo_key == repo_id.lower(), access_requests.c.user_id == user_id)).first()


def _user_id(connection: Connection, user: str) -> int:
    user_id = connection.execute(select(accounts.c.id).where(accounts.c.name_key == user.lower(),
                                                             accounts.c.kind == USER)).scalar()
    if user_id is None:
        raise NotFoundError(f"No user named '{user}' on this hub.")
    return user_id
