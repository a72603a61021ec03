"""What no request may exceed, and the headers every answer carries: the hub's ASGI guards.

`LimitBodies` caps request bodies before any route reads them: streamed LFS PUTs at
`--max-upload-size`, commit payloads at `--max-commit-size`, validate-yaml (a whole card) at 4x
`--max-card-size`, every other body (JSON calls, forms) at `--max-request-size`. Beyond it the answer
is 413, whether the client announced the size (Content-Length) or streams it (chunked). A route
reading the body therefore never buffers more than its limit, so an anonymous client cannot make
the server hold hundreds of MB.

`SecurityHeaders` gives every answer `X-Content-Type-Options: nosniff` and a Content-Security-Policy:
pages may load their own stylesheet and images but run no script at all; API answers and repo files get
`sandbox; default-src 'none'`, so a committed .html or .svg opened in a browser cannot run script in
the hub's origin (files.py also sends such active types as attachments).
"""

from __future__ import annotations

from collections.abc import Callable

from berthub.server.errors import PayloadTooLarge
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


class LimitBodies:
    """ASGI middleware: 413 for a body over its limit, announced or streamed (see module docstring)."""

    def __init__(self, app: Callable, config: ServerConfig) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope.get("path", "")
        limit, option = body_limit(self.config, method, path)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await error_response(_too_large(method, path, limit, option, int(declared)))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # raised inside the route that reads: answered as a HubError (413)
                    raise _too_large(method, path, limit, option)
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeaders:
    """ASGI middleware: nosniff and a Content-Security-Policy on every answer (see module docstring)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", _policy(scope, headers).encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _policy(scope: dict, headers: list[tuple[bytes, bytes]]) -> str:
    content_type = dict((name.lower(), value) for name, value in headers).get(b"content-type", b"")
    is_page = content_type.startswith(b"text/html") and "/resolve/" not in scope.get("path", "")
    is_static = scope.get("path", "").startswith(_STATIC_PREFIX)
    return PAGE_CSP if is_page or is_static else FILE_CSP
