"""Who may do what: the hub's permission rules as plain functions of a caller and a repo.

A namespace is a user or an organisation. A user owns their own namespace (admin there); in an
organisation they have the role of their membership: `read` sees its private repos, `write` also
creates repos and pushes, `admin` also deletes repos, changes their settings (private, gated) and
manages members. A token's role caps what its user may do (`read` tokens never write), and a token
limited to repos or organisations acts as no one outside them. Hub admins (--token-file /
BERTHUB_SERVER_TOKEN tokens) may do everything everywhere. Anonymous callers see public repos.

Gated repos show their metadata to everyone who may see the repo, but their files only to callers
with a role in the namespace or an accepted access request.

Nothing here touches the database or the request: berthub.server.accounts.auth builds the `Caller`,
berthub.server.http turns a refusal into the hub's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berthub.server.objects import RepoMeta

ROLES = ("read", "write", "admin")  # membership roles, weakest first
TOKEN_ROLES = ("read", "write")
NONE, READ, WRITE, ADMIN = 0, 1, 2, 3
_RANK = {"read": READ, "write": WRITE, "admin": ADMIN}

VIEW = "view"  # see the repo: model info, listings, tree, refs, history, its page
DOWNLOAD = "read"  # its files' contents (a gated repo asks for access here)
ACTIONS = {VIEW: READ, DOWNLOAD: READ, "write": WRITE, "admin": ADMIN}


@dataclass(frozen=True)
class Scope:
    """What a limited token may touch: lower-cased repo ids and organisation names."""

    repos: frozenset[str] = frozenset()
    orgs: frozenset[str] = frozenset()

    def covers(self, repo_id: str) -> bool:
        key = repo_id.lower()
        return key in self.repos or key.split("/")[0] in self.orgs

    def covers_namespace(self, namespace: str) -> bool:
        return namespace.lower() in self.orgs


@dataclass(frozen=True)
class Caller:
    """Who is asking. `name` is None for anonymous callers.

    `roles` maps lower-cased organisation names to the caller's role there; `granted` holds the
    lower-cased ids of gated repos whose access request was accepted. `token_role` is None for a web
    session (a signed-in person acts with all of their rights). `expires_at` (Unix seconds) ends the
    credential: a token's expiry or a session's.
    """

    name: str | None = None
    hub_admin: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    granted: frozenset[str] = frozenset()
    token_name: str | None = None
    token_role: str | None = None
    scope: Scope | None = None
    expires_at: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.name is None and not self.hub_admin


ANONYMOUS = Caller()


def namespace_role(caller: Caller, namespace: str) -> int:
    """The caller's rank in `namespace` before token limits: owner = admin, else the membership role."""
    if caller.hub_admin:
        return ADMIN
    if caller.name is None:
        return NONE
    key = namespace.lower()
    if key == caller.name.lower():
        return ADMIN
    return _RANK.get(caller.roles.get(key, ""), NONE)


def _capped(caller: Caller, rank: int) -> int:
    if caller.token_role == "read":
        return min(rank, READ)
    return rank


def repo_role(caller: Caller, repo_id: str) -> int:
    """The caller's rank on one repo: the namespace role, limited by the token's scope and role."""
    if caller.scope is not None and not caller.hub_admin and not caller.scope.covers(repo_id):
        return NONE
    return _capped(caller, namespace_role(caller, repo_id.split("/")[0]))


def may(caller: Caller, meta: RepoMeta, action: str) -> bool:
    """Whether `caller` may do `action` (VIEW, DOWNLOAD, "write", "admin") on the repo `meta`."""
    rank = repo_role(caller, meta.repo_id)
    if action == VIEW:
        return not meta.private or rank >= READ
    if action == DOWNLOAD:
        if meta.private:
            return rank >= READ
        return not meta.gated or rank >= READ or has_access(caller, meta.repo_id)
    return rank >= ACTIONS[action]


def has_access(caller: Caller, repo_id: str) -> bool:
    """An accepted access request for a gated repo, usable by this credential."""
    key = repo_id.lower()
    covered = caller.scope is None or caller.scope.covers(repo_id)
    return caller.name is not None and key in caller.granted and covered


def may_create(caller: Caller, namespace: str) -> bool:
    """Whether `caller` may create repos in `namespace` (a repo-limited token may not; an org-limited one
    may, in its orgs; a user-namespace needs an unlimited token)."""
    if caller.scope is not None and not caller.hub_admin and not caller.scope.covers_namespace(namespace):
        return False
    return _capped(caller, namespace_role(caller, namespace)) >= WRITE


def may_manage(caller: Caller, org: str) -> bool:
    """Whether `caller` may add and remove members of `org`."""
    if caller.scope is not None and not caller.hub_admin and not caller.scope.covers_namespace(org):
        return False
    return _capped(caller, namespace_role(caller, org)) >= ADMIN
