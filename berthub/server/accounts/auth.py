"""Who a request comes from: bearer tokens and session cookies to a `Caller`, before any route runs.

`Authenticate` (ASGI middleware) puts the request's `Credentials` in its scope; berthub.server.http
reads them (`caller`, `writer`, `authorize`). A request with neither an Authorization header nor a
cookie costs one look through its headers and nothing else.

Looking a token up takes a few database queries, so the answer is kept in the hub's one bounded
cache (server.cache, `--cache-size`), keyed by the accounts generation (db.engine) and the token's
sha256, never by anything a client spells: every request carrying a token reads the generation
(microseconds on SQLite), so a revoked token, a removed membership or an ended session is refused on
the very next request, in every worker, and the answers of earlier generations are never read again
(the LRU drops them). Expiry is checked on every use. Unknown tokens are cached too (as unknown), so a
client that sends a foreign HF_TOKEN everywhere costs no query per request.

Brute force: each client address may present at most BAD_SECRETS_LIMIT different unknown tokens or
session cookies within BAD_SECRETS_WINDOW_S; beyond that its requests carrying an unverified secret
are answered 429 without a lookup. Each unknown secret is logged once with a fingerprint (the first
12 hex digits of its sha256), never the secret. Limits are per worker process.
"""

from __future__ import annotations

import hmac
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from berthub.server.accounts.access import AccessRequests
from berthub.server.accounts.policy import ANONYMOUS, Caller
from berthub.server.accounts.sessions import Sessions
from berthub.server.accounts.store import Accounts, digest
from berthub.server.cache import BoundedCache, approximate_size
from berthub.server.db.engine import Database

log = logging.getLogger("berthub.server.auth")

CREDENTIALS = "berthub.credentials"  # the ASGI scope key
SESSION_COOKIE = "berthub_session"
SECURE_SESSION_COOKIE = "__Host-berthub_session"  # over https: the browser pins it to this exact origin
CSRF_COOKIE = "berthub_csrf"
SECURE_CSRF_COOKIE = "__Host-berthub_csrf"
BAD_SECRETS_LIMIT = 20
BAD_SECRETS_WINDOW_S = 600
TOUCH_EVERY_S = 60  # "last used" is recorded to the minute, not on every request
_MAX_TOUCHED = 4096
_MAX_ADDRESSES = 10_000
_MISSING = object()


@dataclass(frozen=True)
class Credentials:
    """What a request presented. `bearer` is "none", "valid", "unknown" or "throttled" (too many unknown
    secrets from its address: `retry_after` seconds); `session` is the signed-in person, if any."""

    caller: Caller = ANONYMOUS
    bearer: str = "none"
    session: Caller | None = None
    session_hash: str | None = None
    csrf_cookie: str | None = None
    retry_after: int = 0


NO_CREDENTIALS = Credentials()


class Authenticator:
    """Token-file tokens, the accounts database and, in the hub's `cache`, who its tokens and sessions are."""

    def __init__(self, database: Database, file_tokens: dict[str, str], cache: BoundedCache) -> None:
        self.db = database
        self.cache = cache
        self.accounts = Accounts(database)
        self.sessions = Sessions(database)
        self.access = AccessRequests(database)
        self._file_tokens = [(token.encode(), Caller(name=name, hub_admin=True, token_name=name, token_role="write"))
                             for token, name in file_tokens.items()]
        self._bad = BadSecrets()
        self._touched: dict[str, int] = {}

    async def credentials(self, scope: dict) -> Credentials:
        authorization = cookie = None
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                authorization = value
            elif name == b"cookie":
                cookie = value
        if authorization is None and cookie is None:
            return NO_CREDENTIALS
        address = (scope.get("client") or ("unknown",))[0]
        cookies = _cookies(cookie)
        session, session_hash, bearer = None, None, ("none", ANONYMOUS, 0)
        secret = cookies.get(SECURE_SESSION_COOKIE) or cookies.get(SESSION_COOKIE)
        if secret:
            session_hash = "s:" + digest(secret)
            state, session, _ = await self._resolve(session_hash, self.sessions.caller, address, scope)
            session_hash = session_hash[2:] if state == "valid" else None
        token = _bearer(authorization)
        if token is not None:
            bearer = await self._bearer(token, address, scope)
        return Credentials(caller=bearer[1], bearer=bearer[0], session=session, session_hash=session_hash,
                           csrf_cookie=cookies.get(SECURE_CSRF_COOKIE) or cookies.get(CSRF_COOKIE),
                           retry_after=bearer[2])

    async def _bearer(self, token: str, address: str, scope: dict) -> tuple[str, Caller, int]:
        found = None
        for known, caller in self._file_tokens:  # constant-time comparisons, every one of them
            if _same(known, token):
                found = caller
        if found is not None:
            return "valid", found, 0
        key = "t:" + digest(token)
        state, caller, retry_after = await self._resolve(key, self.accounts.caller_for_token, address, scope)
        if state == "valid":
            await self._touch(key[2:])
        return state, caller or ANONYMOUS, retry_after

    async def _resolve(self, key: str, lookup: Callable[[str], Caller | None], address: str,
                       scope: dict) -> tuple[str, Caller | None, int]:
        generation = self.db.generation() if self.db.cheap_reads else await run_in_threadpool(
            self.db.generation)
        cache_key = ("credential", generation, key)
        caller = self.cache.get(cache_key, _MISSING)
        if caller is _MISSING:
            wait = self._bad.retry_after(address)
            if wait:
                return "throttled", None, wait
            caller = await run_in_threadpool(lookup, key[2:])
            self.cache.put(cache_key, caller, _weight(cache_key, caller))
            if caller is None:
                self._refused(key, address, scope)
        if caller is None or (caller.expires_at is not None and caller.expires_at <= time.time()):
            return "unknown", None, 0
        return "valid", caller, 0

    def _refused(self, key: str, address: str, scope: dict) -> None:
        what = "session cookie" if key.startswith("s:") else "token"
        log.warning("unknown %s %s from %s on %s %s", what, key[2:14], address, scope.get("method"), scope.get("path"))
        if self._bad.record(address, key):
            log.warning("%s presented %d unknown tokens or session cookies within %d s: its unverified secrets "
                        "are refused (429) for a while", address, BAD_SECRETS_LIMIT, BAD_SECRETS_WINDOW_S)

    async def _touch(self, token_hash: str) -> None:
        at = int(time.time())
        if at - self._touched.get(token_hash, 0) >= TOUCH_EVERY_S:
            if len(self._touched) > _MAX_TOUCHED:
                self._touched.clear()
            self._touched[token_hash] = at
            try:
                await run_in_threadpool(self.accounts.touch_token, token_hash, at)
            except OperationalError as error:  # a full disk must not cost the request it serves
                log.warning("could not record the last use of token %s: %s", token_hash[:12], error.orig)


def _weight(key: tuple, caller: Caller | None) -> int:
    """What a cached answer holds: its key, the caller with its roles and grants, a token's scope."""
    held = (key, vars(caller), vars(caller.scope) if caller.scope else None) if caller else key
    return approximate_size(held) + (sys.getsizeof(caller) if caller else 0)


def log_to_stderr() -> None:
    """Sign-ins, refused tokens and account changes (logger berthub.server) go to stderr, beside uvicorn's
    lines; called by `berthub serve` and by each worker process it starts."""
    logger = logging.getLogger("berthub.server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


class BadSecrets:
    """Per client address: the distinct unknown secrets it presented within the window."""

    def __init__(self, limit: int = BAD_SECRETS_LIMIT, window_s: int = BAD_SECRETS_WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self._seen: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def _recent(self, address: str) -> OrderedDict[str, float]:
        seen = self._seen.get(address)
        if seen is None:
            return OrderedDict()
        horizon = time.monotonic() - self.window_s
        while seen and next(iter(seen.values())) < horizon:
            seen.popitem(last=False)
        return seen

    def retry_after(self, address: str) -> int:
        """Seconds until `address` may present an unverified secret again; 0 when it may now."""
        seen = self._recent(address)
        if len(seen) < self.limit:
            return 0
        return max(1, int(next(iter(seen.values())) + self.window_s - time.monotonic()) + 1)

    def record(self, address: str, fingerprint: str) -> bool:
        """Count one unknown secret; True when this one reached the limit."""
        seen = self._recent(address)
        self._seen[address] = seen
        self._seen.move_to_end(address)
        if len(self._seen) > _MAX_ADDRESSES:
            self._seen.popitem(last=False)
        seen[fingerprint] = time.monotonic()
        return len(seen) == self.limit


class Authenticate:
    """ASGI middleware: every HTTP request gets its `Credentials` under scope[CREDENTIALS]."""

    def __init__(self, app: Callable[..., Awaitable[None]], authenticator: Authenticator) -> None:
        self.app, self.authenticator = app, authenticator

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            scope[CREDENTIALS] = await self.authenticator.credentials(scope)
        await self.app(scope, receive, send)


def _bearer(header: bytes | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _same(known: bytes, token: str) -> bool:
    return hmac.compare_digest(known, token.encode("utf-8", "surrogatepass"))


def _cookies(header: bytes | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if header:
        for part in header.decode("latin-1").split(";"):
            name, _, value = part.strip().partition("=")
            if name and name not in found:
                found[name] = value.strip().strip('"')
    return found
