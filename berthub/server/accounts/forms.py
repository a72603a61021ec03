"""What the web forms share: the signed-in person, CSRF tokens, cookies and form bodies.

Every form carries a hidden `csrf` field: an HMAC, under a key derived from the hub's secret, of the
browser's CSRF cookie and its session cookie. A POST whose field does not match is refused (403), so
another site cannot submit a form for a signed-in person, and a form from before a sign-in is stale
after it. Session cookies are HttpOnly and SameSite=Lax (and Secure, with the `__Host-` prefix, when the
hub's URL is https); the CSRF cookie is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from berthub.server.accounts.auth import (
    CSRF_COOKIE,
    SECURE_CSRF_COOKIE,
    SECURE_SESSION_COOKIE,
    SESSION_COOKIE,
)
from berthub.server.accounts.policy import Caller
from berthub.server.accounts.sessions import SESSION_TTL_S
from berthub.server.errors import Forbidden
from berthub.server.http import base_url, credentials, hub_of


def signed_in(request: Request) -> Caller | None:
    """The person signed in through the web session (whatever the request method)."""
    return credentials(request).session


def csrf_token(request: Request) -> str:
    """The value this browser's forms must carry; creates its CSRF cookie when it has none."""
    found = credentials(request)
    cookie = found.csrf_cookie or getattr(request.state, "new_csrf", None)
    if cookie is None:
        cookie = request.state.new_csrf = secrets.token_urlsafe(24)
    key = hmac.new(hub_of(request).secret, b"berthub csrf", hashlib.sha256).digest()
    return hmac.new(key, f"{cookie}:{found.session_hash or ''}".encode(), hashlib.sha256).hexdigest()


def page_context(request: Request) -> dict[str, Any]:
    """What every page template sees (the top bar's sign-in state and its sign-out form)."""
    person = signed_in(request)
    return {"viewer": person.name if person else None, "csrf_token": csrf_token(request) if person else ""}


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form body (bounded by --max-request-size), first value of each field, CSRF-checked."""
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {name: values[0] for name, values in parse_qs(body, keep_blank_values=True).items()}
    has_cookie = credentials(request).csrf_cookie is not None
    if not has_cookie or not hmac.compare_digest(form.get("csrf", ""), csrf_token(request)):
        raise Forbidden("This form expired or was not sent from this hub's own page: reload the page and try "
                        "again (sign in again if it keeps happening).")
    return form


def secure(request: Request) -> bool:
    return base_url(request).startswith("https://")


def set_cookies(request: Request, response: Response, session: str | None = None, *, clear: bool = False) -> None:
    """The CSRF cookie made while rendering (if any), and a new session cookie, or none (`clear`)."""
    https = secure(request)
    new_csrf = getattr(request.state, "new_csrf", None)
    if new_csrf is not None:
        response.set_cookie(SECURE_CSRF_COOKIE if https else CSRF_COOKIE, new_csrf, max_age=SESSION_TTL_S,
                            path="/", secure=https, httponly=True, samesite="strict")
    name = SECURE_SESSION_COOKIE if https else SESSION_COOKIE
    if session is not None:
        response.set_cookie(name, session, max_age=SESSION_TTL_S, path="/", secure=https, httponly=True,
                            samesite="lax")
    elif clear:
        response.delete_cookie(name, path="/", secure=https, httponly=True, samesite="lax")


def fresh_csrf(request: Request) -> None:
    """Give the browser a new CSRF cookie with this response (at sign-in: forms from before go stale)."""
    request.state.new_csrf = secrets.token_urlsafe(24)


def local_path(target: str | None) -> str:
    """Where to go after signing in: only a path on this hub (never `//host` or a full URL)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
