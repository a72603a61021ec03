"""What every request passes before a route: no traversal, bounded bodies, security headers.

`HubGuards` refuses URLs with '.'/'..' segments, backslashes or NUL (400), and caps request bodies
before any route reads them: streamed LFS PUTs at `--max-upload-size`, commit payloads at
`--max-commit-size`, validate-yaml (a whole card) at 4x `--max-card-size`, every other body (JSON
calls, forms) at `--max-request-size`. Beyond it the answer is 413, whether the client announced the
size (Content-Length) or streams it (chunked). A route reading the body therefore never buffers more
than its limit, so an anonymous client cannot make the server hold hundreds of MB.

It gives every answer `X-Content-Type-Options: nosniff` and a Content-Security-Policy:
pages may load their own stylesheet and images but run no script at all; API answers and repo files get
`sandbox; default-src 'none'`, so a committed .html or .svg opened in a browser cannot run script in
the hub's origin (files.py also sends such active types as attachments).
"""

from __future__ import annotations

from collections.abc import Callable

from berthub.server.errors import HubError, PayloadTooLarge
from berthub.server.http import ServerConfig, error_response

PAGE_CSP = ("default-src 'none'; style-src 'self'; img-src 'self' https: http: data:; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
FILE_CSP = "sandbox; default-src 'none'"
_STATIC_PREFIX = "/static/"
_VALIDATE_FACTOR = 4  # JSON escaping (\n, \", \uXXXX) makes a card's text up to ~6x longer; 4x covers real cards


def body_limit(config: ServerConfig, method: str, path: str) -> tuple[int, str]:
    """(largest body accepted, the option that sets it) for a request."""
    if method == "PUT" and path.startswith("/api/lfs/objects/"):
        return config.max_upload_size, "--max-upload-size"
    if method == "POST" and path.startswith("/api/models/") and "/commit/" in path:
        return config.max_commit_size, "--max-commit-size"
    if path == "/api/validate-yaml":  # HfApi sends a whole README.md here, JSON-escaped, before committing it
        return _VALIDATE_FACTOR * config.max_card_size, "--max-card-size"
    return config.max_request_size, "--max-request-size"


def _too_large(method: str, path: str, limit: int, option: str, size: int | None = None) -> PayloadTooLarge:
    what = f"of {size} bytes " if size is not None else ""
    return PayloadTooLarge(f"{method} {path}: request body {what}is over this hub's limit of {limit} bytes "
                           f"(`berthub serve {option}`). Large files go through LFS uploads.")


class HubGuards:
    """ASGI middleware every request passes before any route: refuses traversal URLs (400), bodies
    over their limit (413), and adds the security headers to every answer (see module docstring).

    One layer rather than three: this runs on every request, including the HEAD /resolve of every
    cached load, so it does no work a request does not need (no body wrapper for GET and HEAD).
    """

    def __init__(self, app: Callable, config: ServerConfig) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path", "")
        send = _with_security_headers(scope, send)
        refused = _traversal(path)
        if refused is None and method not in ("GET", "HEAD"):
            limit, option = body_limit(self.config, method, path)
            declared = dict(scope.get("headers") or []).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > limit:
                refused = _too_large(method, path, limit, option, int(declared))
            else:
                receive = _limited(receive, method, path, limit, option)
        if refused is not None:
            await error_response(refused)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _traversal(path: str) -> HubError | None:
    """Route handlers validate the names they use as well; this refuses such URLs up front, whatever
    route they would have matched (or not), so a traversal attempt never reads as a plain 404."""
    if "\\" in path or "\x00" in path or ("/." in path and any(part in (".", "..") for part in path.split("/"))):
        return HubError(f"Invalid path {path!r}: '.' and '..' segments, backslashes and NUL are not allowed.")
    return None


def _limited(receive: Callable, method: str, path: str, limit: int, option: str) -> Callable:
    received = 0

    async def limited_receive() -> dict:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:  # raised inside the route that reads: answered as a HubError (413)
                raise _too_large(method, path, limit, option)
        return message

    return limited_receive


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_REFERRER = (b"referrer-policy", b"same-origin")
_PAGE_POLICY = (b"content-security-policy", PAGE_CSP.encode())
_FILE_POLICY = (b"content-security-policy", FILE_CSP.encode())


def _with_security_headers(scope: dict, send: Callable) -> Callable:
    path = scope.get("path", "")
    may_be_page = "/resolve/" not in path

    async def send_with_headers(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            page = may_be_page and any(name == b"content-type" and value.startswith(b"text/html")
                                       for name, value in headers)
            headers += [_PAGE_POLICY if page or path.startswith(_STATIC_PREFIX) else _FILE_POLICY, _NOSNIFF,
                        _REFERRER]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers
