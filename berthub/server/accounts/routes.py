"""The accounts side of the HTTP API, shaped as the public hub's where it has one.

- `GET /api/whoami-v2`: the caller, their organisations (`roleInOrg`) and the token (`auth.accessToken`).
- `PUT /api/models/{repo}/settings`: `private` / `visibility` and `gated` ("auto", "manual", false); admins.
- `/api/models/{repo}/user-access-request/{pending,accepted,rejected}`, `.../handle`, `.../grant`: the
  owner side of gated repos (HfApi.list_*_access_requests, accept/reject/cancel_access_request,
  grant_access); the repo's writers.
- `/api/organizations/{org}/members` (GET, POST {"user", "role"}) and `.../members/{user}` (DELETE):
  berthub's own, for scripts; the organisation's admins change them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from berthub.errors import ConfigError, NotFoundError
from berthub.server.accounts.access import STATUSES
from berthub.server.accounts.policy import Caller, may_manage
from berthub.server.errors import BadRequest, Forbidden, HubError
from berthub.server.http import authenticated, authorize, caller, hub_of, writer
from berthub.server.names import validate_repo_id
from berthub.server.payload import field, json_object

T = TypeVar("T")


class AccountNotFound(HubError, NotFoundError):
    status = 404


async def in_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking accounts call off the event loop; its refusals become the hub's answers."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except NotFoundError as error:
        raise AccountNotFound(str(error)) from None
    except ConfigError as error:
        raise BadRequest(str(error)) from None


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is `{}`); its fields are read with payload.field."""
    return json_object(await request.body() or b"{}", f"{request.method} {request.url.path}")


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def whoami(request: Request) -> Response:
    who = authenticated(request)
    orgs = [] if who.hub_admin else await in_thread(hub_of(request).auth.accounts.orgs_of, str(who.name))
    token: dict[str, Any] = {"displayName": who.token_name, "role": who.token_role or "write"}
    if who.scope is not None:
        token["role"] = "fineGrained"
        token["fineGrained"] = {"scoped": [
            *({"entity": {"type": "model", "name": repo}, "permissions": _permissions(who)} for repo in
              sorted(who.scope.repos)),
            *({"entity": {"type": "org", "name": org}, "permissions": _permissions(who)} for org in
              sorted(who.scope.orgs))]}
    return JSONResponse({"type": "user", "name": who.name, "fullname": who.name, "isHubAdmin": who.hub_admin,
                         "orgs": [{"type": "org", "name": name, "fullname": name, "roleInOrg": role}
                                  for name, role in orgs],
                         "auth": {"type": "access_token", "accessToken": token}})


def _permissions(who: Caller) -> list[str]:
    return ["repo.content.read"] + (["repo.write"] if who.token_role == "write" else [])


def _repo_id(request: Request) -> str:
    return validate_repo_id(f"{request.path_params['org']}/{request.path_params['name']}")


async def repo_settings(request: Request) -> Response:
    """PUT .../settings: visibility and gating (HfApi.update_repo_settings)."""
    repo_id = _repo_id(request)
    authorize(request, repo_id, "admin")
    body = await json_body(request)
    private = field(body, "private", bool, "update_repo_settings", None)
    gated = body.get("gated")  # a string or false: no one JSON type, so checked by value
    visibility = field(body, "visibility", str, "update_repo_settings", None)
    if visibility is not None:
        if visibility not in ("public", "private"):
            raise BadRequest(f"Invalid visibility {visibility!r}: use 'public' or 'private'.")
        private = visibility == "private"
    if gated is not None and not (gated is False or gated in ("auto", "manual")):
        raise BadRequest(f"Invalid 'gated' {gated!r}: use 'auto', 'manual' or false.")
    meta = await run_in_threadpool(hub_of(request).storage.update_repo_settings, repo_id, private=private,
                                   gated=gated)
    return JSONResponse({"private": meta.private, "gated": meta.gated or False})


async def _gated_repo(request: Request) -> str:
    """The route's repo, if the caller may manage its access requests (write access) and it is gated."""
    repo_id = _repo_id(request)
    writer(request, repo_id)
    meta = hub_of(request).storage.repo(repo_id)
    if not meta.gated:
        raise BadRequest(f"'{meta.repo_id}' is not gated: turn it on with HfApi.update_repo_settings(gated='auto' "
                         "or 'manual').")
    return meta.repo_id


async def list_access_requests(request: Request) -> Response:
    repo_id = await _gated_repo(request)
    status = request.path_params["status"]
    if status not in STATUSES:
        raise BadRequest(f"Unknown access request status '{status}': use one of {', '.join(STATUSES)}.")
    found = await in_thread(hub_of(request).auth.access.listing, repo_id, status)
    return JSONResponse([{"user": {"user": item.user, "fullname": item.user}, "requestId": str(item.id),
                          "status": item.status, "timestamp": iso(item.created_at), "fields": {}}
                         for item in found])


async def handle_access_request(request: Request) -> Response:
    repo_id = await _gated_repo(request)
    body = await json_body(request)
    what = "user-access-request/handle"
    request_id = body.get("requestId")  # the id listings give (a string), or that number
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, (str, int))):
        raise BadRequest(f"{what}: 'requestId' must be a string or an integer, got {request_id!r}.")
    await in_thread(hub_of(request).auth.access.answer, repo_id, field(body, "status", str, what),
                    user=field(body, "user", str, what, None),
                    request_id=str(request_id) if request_id is not None else None)
    return JSONResponse({})


async def grant_access(request: Request) -> Response:
    repo_id = await _gated_repo(request)
    user = field(await json_body(request), "user", str, "grant ({'user': NAME})")
    if not user:
        raise BadRequest("grant expects a JSON body {'user': NAME}.")
    await in_thread(hub_of(request).auth.access.grant, repo_id, user)
    return JSONResponse({"user": user, "status": "accepted"})


def _managed_org(request: Request) -> Caller:
    org = request.path_params["org"]
    who = authenticated(request)
    if not may_manage(who, org):
        raise Forbidden(f"'{who.name}' may not manage the members of '{org}': that needs its admin role.")
    return who


async def list_members(request: Request) -> Response:
    org = request.path_params["org"]
    members = await in_thread(hub_of(request).auth.accounts.members, org)
    who = caller(request)
    show_roles = who.hub_admin or (who.name or "").lower() in {name.lower() for name, _ in members}
    return JSONResponse([{"user": name, **({"role": role} if show_roles else {})} for name, role in members])


async def add_member(request: Request) -> Response:
    _managed_org(request)
    body = await json_body(request)
    what = "members ({'user': NAME, 'role': 'read' | 'write' | 'admin'})"
    user, role = field(body, "user", str, what), field(body, "role", str, what, "read")
    await in_thread(hub_of(request).auth.accounts.set_member, request.path_params["org"], user, role)
    return JSONResponse({"user": user, "role": role})


async def remove_member(request: Request) -> Response:
    _managed_org(request)
    await in_thread(hub_of(request).auth.accounts.remove_member, request.path_params["org"],
                    request.path_params["user"])
    return JSONResponse({})


_REPO = "/api/models/{org}/{name}"
_ACCESS = _REPO + "/user-access-request"
routes = [
    Route("/api/whoami-v2", whoami),
    Route(_REPO + "/settings", repo_settings, methods=["PUT"]),
    Route(_ACCESS + "/handle", handle_access_request, methods=["POST"]),
    Route(_ACCESS + "/grant", grant_access, methods=["POST"]),
    Route(_ACCESS + "/{status}", list_access_requests),
    Route("/api/organizations/{org}/members", list_members),
    Route("/api/organizations/{org}/members", add_member, methods=["POST"]),
    Route("/api/organizations/{org}/members/{user}", remove_member, methods=["DELETE"]),
]
