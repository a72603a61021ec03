"""Users, organisations, memberships and tokens in the hub database; who a token or a session is.

Tokens are `bh_` + 43 random URL-safe characters (256 bits). Only their sha256 is stored: a token
is shown once, when it is created, and a leaked database holds nothing that authenticates. (A fast
hash suffices for random 256-bit secrets; passwords, chosen by people, get scrypt.) Every change
bumps the accounts generation in its transaction, so servers drop what they cached (auth.py).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from berthub.errors import ConfigError, NotFoundError
from berthub.server.accounts import passwords
from berthub.server.accounts.policy import ROLES, TOKEN_ROLES, Caller, Scope
from berthub.server.db.engine import Database, bump_generation
from berthub.server.db.schema import access_requests, accounts, memberships, token_scopes, tokens
from berthub.server.errors import BadRequest
from berthub.server.names import validate_repo_id

TOKEN_PREFIX = "bh_"
USER, ORG = "user", "org"
# Paths a browser asks for by itself: an account with one of these names would have no page (the web
# pages' own first segments are reserved for every namespace by names.RESERVED_NAMESPACES).
RESERVED_NAMES = frozenset({"favicon.ico", "robots.txt"})


def digest(secret: str) -> str:
    """What the database stores for a token or a session cookie."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Account:
    name: str
    kind: str  # USER or ORG


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: everything but the secret, which exists only in the creator's hands."""

    id: int
    name: str
    role: str
    repos: tuple[str, ...]
    orgs: tuple[str, ...]
    created_at: int
    expires_at: int | None
    last_used_at: int | None


def validate_name(name: str, what: str = "account") -> str:
    """A user or organisation name: it becomes the namespace of repo ids, so the same rules hold."""
    try:
        validate_repo_id(f"{name}/x")
    except BadRequest:
        raise ConfigError(f"Invalid {what} name {name!r}: use 1-96 letters, digits, '.', '_' or '-', starting and "
                          "ending with a letter or digit (it becomes the namespace of repo ids).") from None
    if name.lower() in RESERVED_NAMES:
        raise ConfigError(f"Invalid {what} name {name!r}: it is a page of the hub; pick another name.")
    return name


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ConfigError(f"Invalid {what} {value!r}: use one of {', '.join(allowed)}.")
    return value


class Accounts:
    """The accounts half of the hub database. Methods block: call them from a thread, not the event loop."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # ---- accounts ------------------------------------------------------------------------------
    def add_user(self, name: str, password: str | None = None) -> None:
        """A new user; without a password they can use tokens but not sign in to the web pages."""
        hashed = passwords.hash_password(passwords.check_strength(password)) if password is not None else None
        with self.db.write() as connection:
            self._add_account(connection, validate_name(name, "user"), USER, hashed)

    def add_org(self, name: str, admin: str | None = None) -> None:
        """A new organisation, with `admin` as its first admin when given."""
        with self.db.write() as connection:
            self._add_account(connection, validate_name(name, "organisation"), ORG, None)
            if admin is not None:
                self._set_member(connection, name, admin, "admin")

    def _add_account(self, connection: Connection, name: str, kind: str, hashed: str | None) -> None:
        existing = self._find(connection, name)
        if existing is not None:
            raise ConfigError(f"The name '{name}' is taken by the {_kind(existing.kind)} '{existing.name}'; "
                              "names are case-insensitive and shared by users and organisations.")
        connection.execute(insert(accounts).values(name=name, name_key=name.lower(), kind=kind,
                                                   password_hash=hashed, created_at=now()))
        bump_generation(connection)

    def set_password(self, name: str, password: str) -> None:
        hashed = passwords.hash_password(passwords.check_strength(password))
        with self.db.write() as connection:
            user = self._require(connection, name, USER)
            connection.execute(update(accounts).where(accounts.c.id == user).values(password_hash=hashed))
            bump_generation(connection)

    def check_password(self, name: str, password: str) -> str | None:
        """The user's name as created when `password` is theirs, else None (same cost either way)."""
        with self.db.read() as connection:
            row = connection.execute(select(accounts.c.name, accounts.c.password_hash).where(
                accounts.c.name_key == name.lower(), accounts.c.kind == USER)).first()
        stored = row.password_hash if row is not None else None
        return row.name if passwords.verify_password(password, stored) and row is not None else None

    def account(self, name: str) -> Account | None:
        with self.db.read() as connection:
            return self._find(connection, name)

    def _find(self, connection: Connection, name: str) -> Account | None:
        row = connection.execute(select(accounts.c.name, accounts.c.kind).where(
            accounts.c.name_key == name.lower())).first()
        return Account(row.name, row.kind) if row is not None else None

    def _require(self, connection: Connection, name: str, kind: str) -> int:
        row = connection.execute(select(accounts.c.id, accounts.c.kind).where(
            accounts.c.name_key == name.lower())).first()
        if row is None or row.kind != kind:
            hint = "`berthub accounts user add`" if kind == USER else "`berthub accounts org create`"
            raise NotFoundError(f"No {_kind(kind)} named '{name}' on this hub; create it with {hint}.")
        return row.id

    # ---- memberships ---------------------------------------------------------------------------
    def set_member(self, org: str, user: str, role: str = "read") -> None:
        """Add `user` to `org` with `role`, or change their role."""
        with self.db.write() as connection:
            self._set_member(connection, org, user, role)

    def _set_member(self, connection: Connection, org: str, user: str, role: str) -> None:
        _choice(role, ROLES, "role")
        org_id, user_id = self._require(connection, org, ORG), self._require(connection, user, USER)
        connection.execute(delete(memberships).where(memberships.c.org_id == org_id,
                                                     memberships.c.user_id == user_id))
        connection.execute(insert(memberships).values(org_id=org_id, user_id=user_id, role=role))
        bump_generation(connection)

    def remove_member(self, org: str, user: str) -> None:
        with self.db.write() as connection:
            org_id, user_id = self._require(connection, org, ORG), self._require(connection, user, USER)
            removed = connection.execute(delete(memberships).where(memberships.c.org_id == org_id,
                                                                   memberships.c.user_id == user_id)).rowcount
            if not removed:
                raise NotFoundError(f"'{user}' is not a member of '{org}'.")
            bump_generation(connection)

    def members(self, org: str) -> list[tuple[str, str]]:
        """(user name, role) of every member of `org`, by name."""
        with self.db.read() as connection:
            org_id = self._require(connection, org, ORG)
            rows = connection.execute(select(accounts.c.name, memberships.c.role).join_from(
                memberships, accounts, accounts.c.id == memberships.c.user_id).where(
                memberships.c.org_id == org_id).order_by(accounts.c.name_key))
            return [(row.name, row.role) for row in rows]

    def orgs_of(self, user: str) -> list[tuple[str, str]]:
        """(organisation name, role) of every organisation `user` belongs to."""
        with self.db.read() as connection:
            return _orgs_of(connection, self._require(connection, user, USER))

    # ---- tokens --------------------------------------------------------------------------------
    def create_token(self, user: str, name: str, role: str = "read", *, repos: tuple[str, ...] = (),
                     orgs: tuple[str, ...] = (), expires_at: int | None = None) -> str:
        """A new token for `user`; returns the secret, which is not stored and cannot be shown again."""
        _choice(role, TOKEN_ROLES, "token role")
        if not name.strip() or len(name) > 100:
            raise ConfigError(f"Invalid token name {name!r}: give 1-100 characters.")
        targets = [("repo", validate_repo_id(repo).lower()) for repo in repos]
        targets += [("org", validate_name(org, "organisation").lower()) for org in orgs]
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as connection:
            user_id = self._require(connection, user, USER)
            taken = connection.execute(select(tokens.c.id).where(tokens.c.user_id == user_id,
                                                                 tokens.c.name == name)).first()
            if taken is not None:
                raise ConfigError(f"'{user}' already has a token named '{name}'; revoke it or pick another name.")
            token_id = connection.execute(insert(tokens).values(
                user_id=user_id, name=name, hash=digest(secret), role=role, created_at=now(),
                expires_at=expires_at)).inserted_primary_key[0]
            for kind, target in dict.fromkeys(targets):
                connection.execute(insert(token_scopes).values(token_id=token_id, kind=kind, target=target))
            bump_generation(connection)
        return secret

    def tokens(self, user: str) -> list[TokenInfo]:
        with self.db.read() as connection:
            user_id = self._require(connection, user, USER)
            rows = connection.execute(select(tokens).where(tokens.c.user_id == user_id).order_by(tokens.c.id)).all()
            scopes = _scopes(connection, [row.id for row in rows])
        return [TokenInfo(row.id, row.name, row.role, tuple(sorted(scopes.get(row.id, {}).get("repo", ()))),
                          tuple(sorted(scopes.get(row.id, {}).get("org", ()))), row.created_at, row.expires_at,
                          row.last_used_at) for row in rows]

    def revoke_token(self, user: str, name: str | None = None, *, token_id: int | None = None) -> None:
        """Delete `user`'s token called `name` (or with id `token_id`): it stops working at once, everywhere."""
        with self.db.write() as connection:
            user_id = self._require(connection, user, USER)
            match = tokens.c.id == token_id if token_id is not None else tokens.c.name == name
            removed = connection.execute(delete(tokens).where(tokens.c.user_id == user_id, match)).rowcount
            if not removed:
                what = f"named {name!r}" if token_id is None else f"with id {token_id}"
                raise NotFoundError(f"'{user}' has no token {what}; `berthub accounts token list {user}` shows them.")
            bump_generation(connection)

    def touch_token(self, token_hash: str, at: int) -> None:
        """Record when a token was last used (no generation bump: it changes no one's rights)."""
        with self.db.write() as connection:
            connection.execute(update(tokens).where(tokens.c.hash == token_hash).values(last_used_at=at))

    def caller_for_token(self, token_hash: str) -> Caller | None:
        """Who the token with this hash acts as, with its role, scope and expiry; None when unknown."""
        with self.db.read() as connection:
            row = connection.execute(select(tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.expires_at,
                                            tokens.c.user_id, accounts.c.name.label("user")).join_from(
                tokens, accounts, accounts.c.id == tokens.c.user_id).where(tokens.c.hash == token_hash)).first()
            if row is None:
                return None
            scope = _scopes(connection, [row.id]).get(row.id)
            return _caller(connection, row.user_id, row.user, token_name=row.name, token_role=row.role,
                           expires_at=row.expires_at,
                           scope=Scope(frozenset(scope.get("repo", ())), frozenset(scope.get("org", ())))
                           if scope else None)


def user_caller(connection: Connection, user_id: int, name: str, expires_at: int) -> Caller:
    """A signed-in person (web session): all of the user's rights, no token limits."""
    return _caller(connection, user_id, name, expires_at=expires_at)


def _caller(connection: Connection, user_id: int, name: str, **credential: object) -> Caller:
    roles = {org.lower(): role for org, role in _orgs_of(connection, user_id)}
    granted = frozenset(connection.execute(select(access_requests.c.repo_key).where(
        access_requests.c.user_id == user_id, access_requests.c.status == "accepted")).scalars())
    return Caller(name=name, roles=roles, granted=granted, **credential)


def _orgs_of(connection: Connection, user_id: int) -> list[tuple[str, str]]:
    rows = connection.execute(select(accounts.c.name, memberships.c.role).join_from(
        memberships, accounts, accounts.c.id == memberships.c.org_id).where(
        memberships.c.user_id == user_id).order_by(accounts.c.name_key))
    return [(row.name, row.role) for row in rows]


def _scopes(connection: Connection, token_ids: list[int]) -> dict[int, dict[str, set[str]]]:
    found: dict[int, dict[str, set[str]]] = {}
    if token_ids:
        for row in connection.execute(select(token_scopes).where(token_scopes.c.token_id.in_(token_ids))):
            found.setdefault(row.token_id, {}).setdefault(row.kind, set()).add(row.target)
    return found


def _kind(kind: str) -> str:
    return "organisation" if kind == ORG else "user"
