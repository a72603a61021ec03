"""What every route shares: the server's configuration, who is asking and what they may do, and the
hub's error shape.

The permission points every route calls (berthub.server.accounts.policy has the rules):
- `authorize(request, repo_id, action)`: may the caller do `action` on the repo? `"view"` (its metadata,
  listings, pages), `"read"` (its files: a gated repo asks for access here), `"write"` (commits,
  uploads, branches, tags), `"admin"` (delete, settings). Returns the repo's metadata, or raises the
  hub's answer: a repo the caller may not see is 404 exactly like a missing one, a gated repo's files
  401/403 `GatedRepo`, writes without a token 401, with an unknown one 403, without the role 403.
- `readable_repo(request, repo_id)` = `authorize(request, repo_id, "view")`.
- `writer(request, repo_id=None)`: the name a write is made as; checks write access to `repo_id`, or to
  the repo the route's path names (`{org}/{name}`); a route naming no repo gets any write credential.
- `reader(request)` / `caller(request)`: who is asking (None / an anonymous Caller when no one).

Credentials are resolved before the route (berthub.server.accounts.auth): a bearer token (token-file
tokens are hub admins; database tokens carry their user's rights, capped by role and scope) or, for
GET and HEAD only, a web session cookie. A read carrying a token the hub does not know is served as
anonymous, because clients often send a huggingface.co token they have lying around (HF_TOKEN) to
every endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from berthub.server.accounts.auth import CREDENTIALS, NO_CREDENTIALS, Authenticator, Credentials
from berthub.server.accounts.policy import DOWNLOAD, VIEW, Caller, may, may_create
from berthub.server.cache import DEFAULT_CACHE_SIZE
from berthub.server.connections import DEFAULT_HEADER_LIMITS, HeaderLimits
from berthub.server.db.engine import Database, default_url
from berthub.server.disk import DEFAULT_MIN_FREE
from berthub.server.errors import Forbidden, GatedRepo, HubError, RepoNotFound, TooManyRequests, Unauthorized
from berthub.server.info import DEFAULT_MAX_CARD
from berthub.server.names import validate_repo_id
from berthub.server.objects import Commit, RepoMeta
from berthub.server.storage import Storage, repo_not_found_message

PREFETCHED = "berthub.repo"  # the ASGI scope key of the RepoMeta a request has read
DEFAULT_MAX_UPLOAD = 50 * 1000**3  # the public hub's limit per file over plain HTTP
DEFAULT_MAX_COMMIT = 256 * 1024**2  # regular files travel base64-encoded inside the commit body
DEFAULT_MAX_REQUEST = 1024**2  # every other body (JSON calls): what HfApi sends is a few kB


@dataclass(frozen=True)
class ServerConfig:
    """Everything `berthub serve` is started with; also passed to worker processes as JSON.

    Every limit the server enforces is here (docs/security.md lists them with their options): body
    sizes, the header limits (server.connections), the memory between requests (server.cache) and
    the disk reserve (server.disk).
    """

    root: Path
    tokens: dict[str, str] = field(default_factory=dict)  # token -> name recorded as commit author
    max_upload_size: int = DEFAULT_MAX_UPLOAD  # one LFS file (streamed PUT) or one inline file
    public_url: str | None = None
    max_commit_size: int = DEFAULT_MAX_COMMIT  # the ndjson body of one commit
    max_request_size: int = DEFAULT_MAX_REQUEST  # any other request body
    max_card_size: int = DEFAULT_MAX_CARD  # README.md / config.json parsed for pages and model info
    cache_size: int = DEFAULT_CACHE_SIZE  # bytes of everything remembered between requests
    max_header_size: int = DEFAULT_HEADER_LIMITS.max_bytes  # request line + headers of one request
    max_headers: int = DEFAULT_HEADER_LIMITS.max_count
    header_timeout: float = DEFAULT_HEADER_LIMITS.timeout_s  # seconds to send the request line + headers
    min_free_space: int = DEFAULT_MIN_FREE  # disk bytes writes leave free; /api/health says "low" below
    database: str | None = None  # SQLAlchemy URL of the hub's database; None: SQLite under root
    storage: str | None = None  # where blobs live: None (under root), a folder, or s3://bucket/prefix
    redirect_downloads: bool = False  # GET /resolve of a blob in S3 answers 302 to a presigned URL
    mirror_of: str | None = None  # the upstream hub repos this hub does not hold are fetched from
    mirror_refresh: float = 300.0  # seconds a mirrored branch is served before the upstream is asked again
    mirror_allow: tuple[str, ...] = ()  # repo id patterns (fnmatch, case-insensitive) that may be mirrored

    @property
    def header_limits(self) -> HeaderLimits:
        return HeaderLimits(self.max_header_size, self.max_headers, self.header_timeout)

    @property
    def database_url(self) -> str:
        return self.database or default_url(self.root)

    def to_json(self) -> dict[str, Any]:
        return {**{item.name: getattr(self, item.name) for item in fields(self)}, "root": str(self.root)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerConfig:
        known = {item.name for item in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        return cls(**{**values, "root": Path(data["root"]), "mirror_allow": tuple(values.get("mirror_allow", ()))})


@dataclass(frozen=True)
class Hub:
    """Per-app state the routes reach through `request.app.state.hub`."""

    config: ServerConfig
    storage: Storage
    secret: bytes
    auth: Authenticator


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


async def resolved(request: Request, repo_id: str, revision: str) -> Commit:
    """The commit `revision` names: from memory on the event loop, else read in a thread (a tree of
    100,000 files takes a while to parse, and the loop must keep answering meanwhile). Where naming the
    commit takes a network round trip (PostgreSQL, a mirror asking its upstream) it is all done in a thread."""
    storage = hub_of(request).storage
    meta = prefetched(request, repo_id)
    if storage.db.cheap_reads and not (meta is not None and meta.mirrored):
        commit = storage.resolve(repo_id, revision, cached_only=True, meta=meta)
        if commit is not None:
            return commit
    return await run_in_threadpool(lambda: storage.resolve(repo_id, revision, meta=meta))


def prefetched(request: Request, repo_id: str) -> RepoMeta | None:
    """The repo's metadata if this request already read it (server.prefetch, or a permission check)."""
    meta = request.scope.get(PREFETCHED)
    return meta if meta is not None and meta.repo_id.lower() == repo_id.lower() else None


def base_url(request: Request) -> str:
    """Absolute URL prefix for links handed to clients (LFS upload hrefs, commit urls).

    `--public-url` when given, else the address the connection actually arrived at (the listening
    socket's, as the ASGI server reports it). Never the Host header: a client choosing it could make
    the hub hand other clients upload links, or pages, pointing at a host of its choosing.
    """
    configured = hub_of(request).config.public_url
    if configured:
        return configured.rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    host = f"[{host}]" if ":" in host else host  # IPv6 literal
    return f"{request.url.scheme}://{host}:{port}"


def credentials(request: Request) -> Credentials:
    return request.scope.get(CREDENTIALS, NO_CREDENTIALS)


def caller(request: Request) -> Caller:
    """Who is asking: the bearer token's caller; without a token, the signed-in person for GET and HEAD
    (pages, downloads from pages; a cookie never authorises a change outside the CSRF-checked forms)."""
    found = credentials(request)
    if found.bearer == "throttled":
        raise _throttled(found)
    if found.bearer == "none" and found.session is not None and request.method in ("GET", "HEAD"):
        return found.session
    return found.caller


def authenticated(request: Request) -> Caller:
    """The caller of a request that needs a token: 401 without one, 403 with one the hub does not know."""
    found = credentials(request)
    if found.bearer == "valid":
        return found.caller
    if found.bearer == "throttled":
        raise _throttled(found)
    if found.bearer == "none":
        raise Unauthorized(
            "This hub needs a token for writes: send 'Authorization: Bearer <token>' "
            "(huggingface_hub: token=... or HF_TOKEN; berthub: BERTHUB_TOKEN)."
        )
    raise Forbidden("Invalid credentials in Authorization header: the token is not one of this hub's tokens, "
                    "or it expired or was revoked (`berthub accounts token list USER`).")


def _throttled(found: Credentials) -> TooManyRequests:
    return TooManyRequests("Too many unknown tokens from this address: tokens are not checked for "
                           f"{found.retry_after} s. Use a valid token, then retry.", found.retry_after)


def writer(request: Request, repo_id: str | None = None) -> str:
    """The user a write is made as. With `repo_id`, or when the route's path names a repo, the caller
    must have write access to it; a route that names no repo (LFS verify) needs a write credential."""
    who = authenticated(request)
    repo_id = repo_id or _route_repo(request)
    if repo_id is not None:
        _check(request, who, repo_id, "write")
    elif who.token_role == "read":
        raise Forbidden(f"Token '{who.token_name}' is read-only: writes need a write token.")
    return str(who.name)


def reader(request: Request) -> str | None:
    """The name of who is asking, or None for anonymous (unknown tokens read as anonymous)."""
    return caller(request).name


def readable_repo(request: Request, repo_id: str) -> RepoMeta:
    """The repo if the caller may see it; private repos are 404 to others, as on the public hub, with
    exactly the answer a missing repo gets (same status, code and message), so existence does not leak."""
    return authorize(request, repo_id, VIEW)


def authorize(request: Request, repo_id: str, action: str = DOWNLOAD) -> RepoMeta:
    """May the caller do `action` ("view", "read", "write", "admin") on `repo_id`? Its metadata if so;
    otherwise the hub's answer is raised (see the module docstring)."""
    who = authenticated(request) if action in ("write", "admin") else caller(request)
    return _check(request, who, repo_id, action)


def authorize_create(request: Request, namespace: str) -> Caller:
    """The caller, if they may create repos in `namespace`; 401/403 otherwise."""
    who = authenticated(request)
    if not may_create(who, namespace):
        raise Forbidden(f"{_who(who)} may not create repos in '{namespace}': users create repos in their own "
                        "namespace and in organisations where they have the write role"
                        f"{_limits(who)}.")
    return who


def _check(request: Request, who: Caller, repo_id: str, action: str) -> RepoMeta:
    meta = prefetched(request, repo_id) or hub_of(request).storage.repo(repo_id)
    request.scope[PREFETCHED] = meta
    if not may(who, meta, VIEW):
        raise RepoNotFound(repo_not_found_message(repo_id))
    if may(who, meta, action):
        return meta
    if action == DOWNLOAD:
        page = f"{base_url(request)}/{meta.repo_id}"
        raise GatedRepo(f"Access to model {meta.repo_id} is restricted: sign in and request access on {page}, "
                        "then use a token of that account (BERTHUB_TOKEN or HF_TOKEN).", anonymous=who.anonymous)
    needs = "write" if action == "write" else "admin"
    verb = "write to" if action == "write" else "delete or change the settings of"
    raise Forbidden(f"{_who(who)} may not {verb} '{meta.repo_id}': that needs the {needs} role in "
                    f"'{meta.repo_id.split('/')[0]}'{_limits(who)}.")


def _who(who: Caller) -> str:
    return f"'{who.name}'" if who.name else "An anonymous caller"


def _limits(who: Caller) -> str:
    if who.token_role == "read":
        return f" (token '{who.token_name}' is read-only)"
    if who.scope is not None:
        listed = sorted(who.scope.repos | who.scope.orgs)
        return f" (token '{who.token_name}' is limited to {', '.join(listed)})"
    return ""


def _route_repo(request: Request) -> str | None:
    params = request.path_params
    if "org" in params and "name" in params:
        return validate_repo_id(f"{params['org']}/{params['name']}")
    return None


def _header_safe(message: str) -> str:
    return " ".join(message.encode("ascii", "replace").decode().split())[:1000]


def error_response(error: HubError) -> JSONResponse:
    """The public hub's error shape: {"error": message} plus X-Error-Code / X-Error-Message headers."""
    headers = {"X-Error-Message": _header_safe(str(error)), **error.headers}
    if error.code:
        headers["X-Error-Code"] = error.code
    return JSONResponse({"error": str(error), **error.body}, status_code=error.status, headers=headers)


def adopt_legacy_secret(root: Path, database: Database) -> None:
    """A root from before the database kept its signing key in a file: keep using it (hub_settings)."""
    path = root / "secret"
    if path.is_file():
        database.adopt_secret(path.read_text().strip())
