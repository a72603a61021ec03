"""Web pages of accounts: sign in and out, one's tokens, user and organisation pages, access requests.

Every form is CSRF-checked (forms.py). Failed sign-ins are logged and limited (sessions.py); a
successful one is logged with the user's name and address. Secrets never reach a log: a new token is
shown once, on the page that answers its creation.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from berthub.server.accounts.forms import csrf_token, fresh_csrf, local_path, read_form, set_cookies, signed_in
from berthub.server.accounts.policy import TOKEN_ROLES, VIEW, may, may_manage
from berthub.server.accounts.routes import AccountNotFound, in_thread
from berthub.server.accounts.store import ORG
from berthub.server.errors import BadRequest, Forbidden
from berthub.server.http import caller, credentials, hub_of
from berthub.server.names import validate_repo_id
from berthub.server.routes.web import templates

log = logging.getLogger("berthub.server.auth")


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    set_cookies(request, response)
    return response


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _to_login(request: Request) -> Response:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


async def login_page(request: Request) -> Response:
    return _page(request, "login.html", {"next": local_path(request.query_params.get("next")), "name": "",
                                         "error": None, "form_csrf": csrf_token(request)})


async def login(request: Request) -> Response:
    form = await read_form(request)
    name, password, target = form.get("name", "").strip()[:96], form.get("password", ""), local_path(form.get("next"))
    hub, address = hub_of(request), _address(request)
    wait = await in_thread(hub.auth.sessions.wait_before_login, name, address)
    if wait:
        log.warning("sign-in for %r from %s refused: too many failed attempts, %d s to wait", name, address, wait)
        response = _page(request, "login.html", {"next": target, "name": name, "form_csrf": csrf_token(request),
                                                 "error": "Too many failed sign-ins for this name or from this "
                                                          f"address: try again in {wait} s."}, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await in_thread(hub.auth.accounts.check_password, name, password)
    if user is None:
        await in_thread(hub.auth.sessions.record_failure, name, address)
        log.warning("failed sign-in for %r from %s", name, address)
        return _page(request, "login.html", {"next": target, "name": name, "form_csrf": csrf_token(request),
                                             "error": "Wrong name or password."}, status=401)
    await in_thread(hub.auth.sessions.clear_failures, user)
    session = await in_thread(hub.auth.sessions.start, user)
    log.info("signed in: %r from %s", user, address)
    response = RedirectResponse(target, status_code=303)
    fresh_csrf(request)
    set_cookies(request, response, session)
    return response


async def logout(request: Request) -> Response:
    await read_form(request)
    session_hash = credentials(request).session_hash
    if session_hash is not None:
        await in_thread(hub_of(request).auth.sessions.end, session_hash)
    response = RedirectResponse("/", status_code=303)
    set_cookies(request, response, clear=True)
    return response


async def tokens_page(request: Request, new_token: str | None = None, status: int = 200) -> Response:
    person = signed_in(request)
    if person is None:
        return _to_login(request)
    rows = await in_thread(hub_of(request).auth.accounts.tokens, str(person.name))
    return _page(request, "tokens.html", {"tokens": rows, "new_token": new_token, "roles": TOKEN_ROLES,
                                          "now": int(time.time())}, status)


async def create_token(request: Request) -> Response:
    form = await read_form(request)
    person = signed_in(request)
    if person is None:
        return _to_login(request)
    days = form.get("expires_days", "").strip()
    if days and not (days.isdigit() and 0 < int(days) <= 3650):
        raise BadRequest(f"Invalid expiry {days!r}: give a number of days from 1 to 3650, or leave it empty.")
    token = await in_thread(hub_of(request).auth.accounts.create_token, str(person.name), form.get("name", ""),
                            form.get("role", "read"), repos=tuple(form.get("repos", "").replace(",", " ").split()),
                            orgs=tuple(form.get("orgs", "").replace(",", " ").split()),
                            expires_at=int(time.time()) + int(days) * 86400 if days else None)
    log.info("token %r created by %r", form.get("name"), person.name)
    return await tokens_page(request, new_token=token, status=201)


async def revoke_token(request: Request) -> Response:
    form = await read_form(request)
    person = signed_in(request)
    if person is None:
        return _to_login(request)
    token_id = form.get("token_id", "")
    if not token_id.isdigit():
        raise BadRequest("Revoking a token needs its id.")
    await in_thread(hub_of(request).auth.accounts.revoke_token, str(person.name), token_id=int(token_id))
    log.info("token %s revoked by %r", token_id, person.name)
    return RedirectResponse("/settings/tokens", status_code=303)


def _account_context(request: Request, name: str) -> dict[str, Any]:
    hub = hub_of(request)
    account = hub.auth.accounts.account(name)
    if account is None:
        raise AccountNotFound(f"No user or organisation named '{name}' on this hub.")
    who, key = caller(request), account.name.lower()
    repos = [meta for meta in hub.storage.list_repos()
             if meta.repo_id.split("/")[0].lower() == key and may(who, meta, VIEW)]
    person = signed_in(request)
    context = {"account": account, "repos": repos, "members": [], "orgs": [], "manage": False,
               "form_csrf": csrf_token(request) if person else ""}
    if account.kind == ORG:
        context["members"] = hub.auth.accounts.members(account.name)
        context["manage"] = person is not None and may_manage(person, account.name)
    else:
        context["orgs"] = hub.auth.accounts.orgs_of(account.name)
    return context


async def account_page(request: Request) -> Response:
    context = await in_thread(_account_context, request, request.path_params["account"])
    return _page(request, "account.html", context)


async def _change_member(request: Request, remove: bool) -> Response:
    form = await read_form(request)
    person, org = signed_in(request), request.path_params["org"]
    if person is None:
        return _to_login(request)
    if not may_manage(person, org):
        raise Forbidden(f"'{person.name}' may not manage the members of '{org}': that needs its admin role.")
    accounts, user = hub_of(request).auth.accounts, form.get("user", "").strip()
    if remove:
        await in_thread(accounts.remove_member, org, user)
    else:
        await in_thread(accounts.set_member, org, user, form.get("role", "read"))
    log.info("%r %s %r in %r", person.name, "removed" if remove else "set the role of", user, org)
    return RedirectResponse(f"/{quote(org)}", status_code=303)


async def add_member(request: Request) -> Response:
    return await _change_member(request, remove=False)


async def remove_member(request: Request) -> Response:
    return await _change_member(request, remove=True)


async def ask_access(request: Request) -> Response:
    """POST /{org}/{name}/ask-access from a gated repo's page."""
    await read_form(request)
    person = signed_in(request)
    repo_id = validate_repo_id(f"{request.path_params['org']}/{request.path_params['name']}")
    if person is None:
        return RedirectResponse(f"/login?next=/{quote(repo_id)}", status_code=303)
    meta = hub_of(request).storage.repo(repo_id)
    if not may(person, meta, VIEW) or not meta.gated:
        raise BadRequest(f"'{repo_id}' is not a gated repo you can see; there is no access to ask for.")
    status = await in_thread(hub_of(request).auth.access.ask, meta.repo_id, str(person.name), meta.gated)
    log.info("%r asked for access to %r: %s", person.name, meta.repo_id, status)
    return RedirectResponse(f"/{meta.repo_id}", status_code=303)


routes = [
    Route("/login", login_page),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/settings/tokens", tokens_page),
    Route("/settings/tokens", create_token, methods=["POST"]),
    Route("/settings/tokens/revoke", revoke_token, methods=["POST"]),
    Route("/organizations/{org}/members", add_member, methods=["POST"]),
    Route("/organizations/{org}/members/remove", remove_member, methods=["POST"]),
    Route("/{org}/{name}/ask-access", ask_access, methods=["POST"]),
    Route("/{account}", account_page),
]
