"""What every route shares: the server's configuration, who is asking, and the hub's error shape.

Reads are public (private repos only for token holders); writes need `Authorization: Bearer <token>`
with one of the server's tokens. A read that carries a token the server does not know is served as
anonymous rather than refused, because clients often send a huggingface.co token they have lying
around (HF_TOKEN) to every endpoint.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from berthub.server.cache import DEFAULT_CACHE_SIZE
from berthub.server.connections import DEFAULT_HEADER_LIMITS, HeaderLimits
from berthub.server.disk import DEFAULT_MIN_FREE
from berthub.server.errors import Forbidden, HubError, RepoNotFound, Unauthorized
from berthub.server.info import DEFAULT_MAX_CARD
from berthub.server.objects import Commit, RepoMeta
from berthub.server.storage import Storage, repo_not_found_message

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

    @property
    def header_limits(self) -> HeaderLimits:
        return HeaderLimits(self.max_header_size, self.max_headers, self.header_timeout)

    def to_json(self) -> dict[str, Any]:
        return {**{item.name: getattr(self, item.name) for item in fields(self)}, "root": str(self.root)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerConfig:
        known = {item.name for item in fields(cls)}
        return cls(**{**{key: value for key, value in data.items() if key in known}, "root": Path(data["root"])})


@dataclass(frozen=True)
class Hub:
    """Per-app state the routes reach through `request.app.state.hub`."""

    config: ServerConfig
    storage: Storage
    secret: bytes


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


async def resolved(request: Request, repo_id: str, revision: str) -> Commit:
    """The commit `revision` names: from memory on the event loop, else read in a thread (a tree of
    100,000 files takes a while to parse, and the loop must keep answering meanwhile)."""
    storage = hub_of(request).storage
    commit = storage.resolve(repo_id, revision, cached_only=True)
    return commit if commit is not None else await run_in_threadpool(storage.resolve, repo_id, revision)


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


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _user_for(config: ServerConfig, token: str) -> str | None:
    found = None
    for known, user in config.tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):  # constant time: no timing oracle
            found = user
    return found


def writer(request: Request) -> str:
    """The user a write is made as; 401 without a token, 403 with one the server does not know."""
    token = _bearer(request)
    config = hub_of(request).config
    if token is None:
        raise Unauthorized(
            "This hub needs a token for writes: send 'Authorization: Bearer <token>' "
            "(huggingface_hub: token=... or HF_TOKEN; berthub: BERTHUB_TOKEN)."
        )
    user = _user_for(config, token)
    if user is None:
        hint = "" if config.tokens else " This server was started without tokens, so it is read-only."
        raise Forbidden("Invalid credentials in Authorization header: the token is not one of this hub's "
                        f"write tokens.{hint}")
    return user


def reader(request: Request) -> str | None:
    """The user behind a read, or None for anonymous (unknown tokens read as anonymous)."""
    token = _bearer(request)
    return _user_for(hub_of(request).config, token) if token else None


def readable_repo(request: Request, repo_id: str) -> RepoMeta:
    """The repo if the caller may see it; private repos are 404 to others, as on the public hub, with
    exactly the answer a missing repo gets (same status, code and message), so existence does not leak."""
    meta = hub_of(request).storage.repo(repo_id)
    if meta.private and reader(request) is None:
        raise RepoNotFound(repo_not_found_message(repo_id))
    return meta


def _header_safe(message: str) -> str:
    return " ".join(message.encode("ascii", "replace").decode().split())[:1000]


def error_response(error: HubError) -> JSONResponse:
    """The public hub's error shape: {"error": message} plus X-Error-Code / X-Error-Message headers."""
    headers = {"X-Error-Message": _header_safe(str(error)), **error.headers}
    if error.code:
        headers["X-Error-Code"] = error.code
    return JSONResponse({"error": str(error), **error.body}, status_code=error.status, headers=headers)


def load_secret(root: Path) -> bytes:
    """The key that signs LFS upload URLs; created once per root so every worker shares it."""
    path = root / "secret"
    if not path.exists():
        tmp = root / f".secret-{secrets.token_hex(8)}"
        tmp.write_text(secrets.token_hex(32))
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # atomic create-if-absent: concurrent workers agree on one secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip().encode()
