"""JSON API for reading and managing repos: the routes HfApi calls, with the shapes it parses."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from berthub.server.accounts.policy import VIEW, may
from berthub.server.cards import UnreadableCard, card_metadata
from berthub.server.errors import BadRequest, Conflict, EntryNotFound, RepoNotFound
from berthub.server.http import (
    authenticated,
    authorize,
    authorize_create,
    base_url,
    caller,
    hub_of,
    readable_repo,
    resolved,
    writer,
)
from berthub.server.info import commit_json, is_cheap, model_info_json, tree_file_json
from berthub.server.names import validate_path, validate_repo_id
from berthub.server.objects import Commit
from berthub.server.payload import field, json_object

_TRUE = {"1", "true", "True", "yes"}
TREE_PAGE_SIZE = 1000  # entries per /tree answer, as on the public hub


def _repo_id(request: Request) -> str:
    return validate_repo_id(f"{request.path_params['org']}/{request.path_params['name']}")


async def _json_body(request: Request) -> dict[str, Any]:
    return json_object(await request.body(), f"{request.method} {request.url.path}")


async def list_models(request: Request) -> Response:
    """`/api/models?search=&author=&sort=&direction=&limit=&full=&config=`: visible repos."""
    query = request.query_params
    storage = hub_of(request).storage
    who = caller(request)
    search, author = query.get("search", "").lower(), query.get("author")
    full, with_config = query.get("full") in _TRUE, query.get("config") in _TRUE
    max_card_size = hub_of(request).config.max_card_size

    def collect() -> list[dict[str, Any]]:
        items = []
        for meta in storage.list_repos():
            if not may(who, meta, VIEW) or (search and search not in meta.repo_id.lower()):
                continue
            if author and meta.repo_id.split("/")[0] != author:
                continue
            commit = storage.resolve(meta.repo_id, "main")
            items.append(model_info_json(storage, meta, commit, siblings=full, with_config=with_config,
                                         max_card_size=max_card_size))
        return items

    items = await run_in_threadpool(collect)
    sort = query.get("sort", "lastModified")
    if sort in ("lastModified", "createdAt", "id"):
        items.sort(key=lambda item: item[sort], reverse=query.get("direction", "-1") == "-1")
    if query.get("limit", "").isdigit():
        items = items[: int(query["limit"])]
    return JSONResponse(items)


async def model_info(request: Request) -> Response:
    repo_id = _repo_id(request)
    meta = readable_repo(request, repo_id)
    hub = hub_of(request)
    commit = await resolved(request, repo_id, request.path_params.get("revision", "main"))
    arguments = (hub.storage, meta, commit)
    options = {"with_config": True, "max_card_size": hub.config.max_card_size}
    if is_cheap(hub.storage, commit, hub.config.max_card_size):
        return JSONResponse(model_info_json(*arguments, **options))
    # The first request for a commit parses its card and config, and big file lists take a while.
    return JSONResponse(await run_in_threadpool(model_info_json, *arguments, **options))


def _listing(commit: Commit, folder: str, recursive: bool, start: int) -> tuple[list[dict[str, Any]], bool]:
    """One page of the files and folders under `folder` ('' = root), as `/tree` lists them (folders
    first), from entry `start`; and whether more follow. Only the page's entries are built, so a request
    holds a page's worth, however many files the commit has."""
    prefix = folder.rstrip("/") + "/" if folder else ""
    folders: dict[str, None] = {}
    files = []
    for path in commit.files:
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix):].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            folders[prefix + "/".join(parts[:depth])] = None
        if recursive or len(parts) == 1:
            files.append(path)
    if prefix and not files and not folders:
        raise EntryNotFound(f"'{folder}' does not exist at revision {commit.id}.",
                            headers={"X-Repo-Commit": commit.id})
    names = [*folders, *files][start:start + TREE_PAGE_SIZE]
    page = [tree_file_json(commit.files[name]) if name in commit.files else
            {"type": "directory", "oid": commit.id, "path": name} for name in names]
    return page, start + TREE_PAGE_SIZE < len(folders) + len(files)


async def tree(request: Request) -> Response:
    """`/tree/{revision}[/{path}]`, paginated like the public hub: `Link: <...>; rel="next"` (which
    huggingface_hub follows) names the next page at the same commit, on this hub (`--public-url`)."""
    repo_id = _repo_id(request)
    readable_repo(request, repo_id)
    commit = await resolved(request, repo_id, request.path_params["revision"])
    folder = request.path_params.get("path", "")
    if folder:
        validate_path(folder)
    recursive = request.query_params.get("recursive") in _TRUE
    cursor = request.query_params.get("cursor", "0")
    if not cursor.isdigit():
        raise BadRequest(f"tree: 'cursor' must be a page start from a previous answer's Link header, got {cursor!r}.")
    page, more = await run_in_threadpool(_listing, commit, folder, recursive, int(cursor))
    headers = {"X-Repo-Commit": commit.id}
    if more:
        query = urlencode({"recursive": "true" if recursive else "false", "cursor": int(cursor) + TREE_PAGE_SIZE})
        where = quote(f"/{folder}" if folder else "")
        headers["Link"] = f'<{base_url(request)}/api/models/{repo_id}/tree/{commit.id}{where}?{query}>; rel="next"'
    return JSONResponse(page, headers=headers)


async def _requested_paths(request: Request) -> list[str]:
    """`paths` of a paths-info call: a url-encoded form (what HfApi sends) or a JSON object.

    Parsed here rather than with request.form(), which needs python-multipart; the body is already
    bounded by --max-request-size.
    """
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        paths = field(json_object(body, "paths-info"), "paths", list, "paths-info", [])
    else:
        paths = parse_qs(body.decode("utf-8", errors="replace")).get("paths", [])
    if not all(isinstance(path, str) for path in paths):
        raise BadRequest("paths-info: 'paths' must be a list of strings.")
    return paths


async def paths_info(request: Request) -> Response:
    repo_id = _repo_id(request)
    readable_repo(request, repo_id)
    commit = await resolved(request, repo_id, request.path_params["revision"])
    paths = await _requested_paths(request)

    def lookup() -> list[dict[str, Any]]:
        folders = {name.rsplit("/", depth)[0] for name in commit.files for depth in range(1, name.count("/") + 1)}
        found = []
        for path in paths:
            if path in commit.files:
                found.append(tree_file_json(commit.files[path]))
            elif path.rstrip("/") in folders:
                found.append({"type": "directory", "oid": commit.id, "path": path.rstrip("/")})
        return found

    return JSONResponse(await run_in_threadpool(lookup))


async def refs(request: Request) -> Response:
    repo_id = _repo_id(request)
    readable_repo(request, repo_id)
    found = hub_of(request).storage.refs(repo_id)
    as_list = {kind: [{"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": commit}
                      for name, commit in names.items()] for kind, names in found.items()}
    body = {"branches": as_list["heads"], "tags": as_list["tags"], "converts": []}
    if request.query_params.get("include_prs") in _TRUE:
        body["pullRequests"] = []
    return JSONResponse(body)


async def commits(request: Request) -> Response:
    repo_id = _repo_id(request)
    readable_repo(request, repo_id)
    history = await run_in_threadpool(hub_of(request).storage.history, repo_id, request.path_params["revision"])
    return JSONResponse([commit_json(commit) for commit in history])


async def create_tag(request: Request) -> Response:
    repo_id = _repo_id(request)
    writer(request)
    tag = field(await _json_body(request), "tag", str, "create_tag")
    commit_id = await run_in_threadpool(hub_of(request).storage.create_ref, repo_id, "tags", tag,
                                        request.path_params["revision"])
    return JSONResponse({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit_id})


async def create_branch(request: Request) -> Response:
    repo_id = _repo_id(request)
    writer(request)
    starting_point = field(await _json_body(request), "startingPoint", str, "create_branch", "main")
    branch = request.path_params["branch"]
    commit_id = await run_in_threadpool(hub_of(request).storage.create_ref, repo_id, "heads", branch,
                                        starting_point)
    return JSONResponse({"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": commit_id})


def _repo_id_from_body(body: dict[str, Any]) -> str:
    kind = field(body, "type", str, "Repo type", "model")
    if kind != "model":
        raise BadRequest(f"This hub stores model repos only; got repo type {kind!r}.")
    name, organization = field(body, "name", str, "Repo id"), field(body, "organization", str, "Repo id", "")
    if not organization:
        raise BadRequest(f"Invalid repo id {name!r}: repo ids are namespaced, 'namespace/name' "
                         "(for example 'google-bert/bert-base-uncased').")
    return validate_repo_id(f"{organization}/{name}")


def _private(body: dict[str, Any]) -> bool:
    """`visibility` ("public" / "private", huggingface_hub 1.x) or `private` (a bool, older clients)."""
    visibility = field(body, "visibility", str, "create_repo", None)
    if visibility not in (None, "public", "private"):
        raise BadRequest(f"create_repo: 'visibility' must be 'public' or 'private', got {visibility!r}.")
    return visibility == "private" or field(body, "private", bool, "create_repo", False)


async def create_repo(request: Request) -> Response:
    authenticated(request)  # 401/403 before the body is looked at
    body = await _json_body(request)
    repo_id = _repo_id_from_body(body)
    user = authorize_create(request, repo_id.split("/")[0]).name
    private = _private(body)
    url = f"{base_url(request)}/{repo_id}"
    try:
        await run_in_threadpool(hub_of(request).storage.create_repo, repo_id, private=private, author=str(user))
    except Conflict as error:
        error.body["url"] = url  # create_repo(exist_ok=True) reads the url from the 409 answer
        raise
    return JSONResponse({"url": url, "name": repo_id, "id": repo_id}, status_code=200)


async def delete_repo(request: Request) -> Response:
    authenticated(request)
    repo_id = _repo_id_from_body(await _json_body(request))
    authorize(request, repo_id, "admin")
    await run_in_threadpool(hub_of(request).storage.delete_repo, repo_id)
    await run_in_threadpool(hub_of(request).auth.access.forget, repo_id)  # a new repo of that name starts ungated
    return JSONResponse({})


async def validate_yaml(request: Request) -> Response:
    """Checks a README's metadata block the way `create_commit` asks before uploading a card."""
    body = await _json_body(request)  # bounded by 4x --max-card-size (server.guards)
    content = field(body, "content", str, "validate-yaml", "")
    try:
        await run_in_threadpool(card_metadata, content)  # YAML parsing is CPU work: never on the event loop
    except UnreadableCard as problem:
        return JSONResponse({"errors": [{"message": f"README.md metadata is unreadable: {problem}."}],
                             "warnings": []}, status_code=400)
    return JSONResponse({"errors": [], "warnings": []})


async def repo_exists_guard(request: Request) -> Response:
    raise RepoNotFound(f"Repository '{request.path_params['org']}' not found: repo ids are namespaced "
                       "('namespace/name').")


_REPO = "/api/models/{org}/{name}"
routes = [
    Route("/api/models", list_models),
    Route("/api/repos/create", create_repo, methods=["POST"]),
    Route("/api/repos/delete", delete_repo, methods=["DELETE"]),
    Route("/api/validate-yaml", validate_yaml, methods=["POST"]),
    Route(_REPO, model_info),
    Route(_REPO + "/revision/{revision}", model_info),
    Route(_REPO + "/tree/{revision}", tree),
    Route(_REPO + "/tree/{revision}/{path:path}", tree),
    Route(_REPO + "/paths-info/{revision}", paths_info, methods=["POST"]),
    Route(_REPO + "/refs", refs),
    Route(_REPO + "/commits/{revision}", commits),
    Route(_REPO + "/tag/{revision}", create_tag, methods=["POST"]),
    Route(_REPO + "/branch/{branch}", create_branch, methods=["POST"]),
    Route("/api/models/{org}", repo_exists_guard),
]
