"""Local HTTP servers for download tests: one that misbehaves on purpose, one that counts.

FaultServer: each path serves a `Route`: its bytes, optionally after some 500 errors, cut off
mid-body, slowly, or ignoring Range. CountingProxy: a reverse proxy in front of `berthub serve`
that logs what reaches the hub, and can be stopped to play "network down". Every request is logged
(method, path, Range header) so tests can count them.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Route:
    body: bytes
    failures: int = 0  # answer this many requests with HTTP 500 first
    status: int = 200  # a fixed error status (404, 401, 403) instead of the body
    drop_after: int | None = None  # the first full response stops after this many bytes and hangs up
    seconds_per_chunk: float = 0.0  # slow server: pause after each 64 KiB
    honour_range: bool = True
    headers: dict[str, str] = field(default_factory=dict)  # extra headers on error answers


@dataclass
class Logged:
    method: str
    path: str
    range: str | None


@dataclass
class FaultServer:
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[Logged] = field(default_factory=list)
    url: str = ""
    stop: Callable[[], None] = field(default=lambda: None, repr=False)  # set while running

    def requests_to(self, path: str, method: str = "GET") -> list[Logged]:
        return [entry for entry in self.log if entry.path == path and entry.method == method]


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    def route_headers(path: str) -> dict[str, str]:
        route = server.routes.get(path)
        return route.headers if route is not None else {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            with lock:
                server.log.append(Logged(self.command, self.path, self.headers.get("Range")))
                route = server.routes.get(self.path)
                failing = route is not None and route.failures > 0
                if failing:
                    route.failures -= 1
            if route is None or route.status != 200 or failing:
                status = 404 if route is None else (500 if failing else route.status)
                self._send_status(status)
                return
            self._send_body(route)

        do_HEAD = do_GET

        def _send_status(self, status: int) -> None:
            body = f"status {status}".encode()
            self.send_response(status)
            for key, value in route_headers(self.path).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _send_body(self, route: Route) -> None:
            start = 0
            requested = self.headers.get("Range")
            if requested and route.honour_range:
                start = int(requested.removeprefix("bytes=").split("-")[0])
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(route.body) - 1}/{len(route.body)}")
            else:
                self.send_response(200)
            payload = route.body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("ETag", f'"{len(route.body)}"')
            self.end_headers()
            if self.command == "HEAD":
                return
            if route.drop_after is not None and start == 0:
                route_drop, route.drop_after = route.drop_after, None
                self.wfile.write(payload[:route_drop])
                self.wfile.flush()
                self.close_connection = True
                return
            for offset in range(0, len(payload), 1 << 16):
                self.wfile.write(payload[offset : offset + (1 << 16)])
                if route.seconds_per_chunk:
                    time.sleep(route.seconds_per_chunk)

    return Handler


class _Server(ThreadingHTTPServer):
    """Remembers its connections so stopping it also cuts keep-alive ones, as a real outage would."""

    daemon_threads = True

    def get_request(self):  # noqa: ANN201 (socketserver's signature)
        connection, address = super().get_request()
        self.connections = [*getattr(self, "connections", []), connection]
        return connection, address

    def cut_connections(self) -> None:
        for connection in getattr(self, "connections", []):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class running:
    """`with running(FaultServer()) as server:` serves on a free port until the block ends."""

    def __init__(self, server: FaultServer) -> None:  # also CountingProxy, through `proxying`
        self.server = server
        self.httpd = _Server(("127.0.0.1", 0), _handler(server))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        self.server.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.server.stop = self.stop
        return self.server

    def stop(self) -> None:
        """Stop answering at once: the port closes and open connections are cut."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd.cut_connections()
            self.thread.join()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class CountingProxy:
    """A reverse proxy to `upstream` that logs every request; stop it to simulate the network going down."""

    upstream: str
    log: list[Logged] = field(default_factory=list)
    url: str = ""
    stop: Callable[[], None] = field(default=lambda: None, repr=False)  # set while running
    fail_with: int | None = None  # answer every request with this status instead of forwarding
    fail_next: int = 0  # answer this many requests with HTTP 503 first, then forward again
    fail_when: Callable[[Logged], int | None] | None = None  # per request: a status to answer instead, or None

    def downloads(self) -> list[Logged]:
        """GET requests for file contents (HEAD metadata checks excluded)."""
        return [entry for entry in self.log if entry.method == "GET" and "/resolve/" in entry.path]


def _proxy_handler(proxy: CountingProxy) -> type[BaseHTTPRequestHandler]:
    host, port = urlsplit(proxy.upstream).hostname, urlsplit(proxy.upstream).port

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            if self.path.startswith("http"):  # used as HTTP_PROXY: absolute-form request target
                parts = urlsplit(self.path)
                self.path = parts.path + (f"?{parts.query}" if parts.query else "")
            proxy.log.append(Logged(self.command, self.path, self.headers.get("Range")))
            failing = proxy.fail_next > 0
            proxy.fail_next -= 1 if failing else 0
            chosen = proxy.fail_when(proxy.log[-1]) if proxy.fail_when is not None else None
            if proxy.fail_with is not None or failing or chosen is not None:
                self.send_response(chosen or proxy.fail_with or 503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream = http.client.HTTPConnection(host, port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "keep-alive"):
                        self.send_header(key, value)
                payload = response.read()
                if "content-length" not in {k.lower() for k, _ in response.getheaders()}:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            finally:
                upstream.close()

        do_GET = do_HEAD = do_POST = do_PUT = _forward

    return Handler


class proxying(running):
    """`with proxying(CountingProxy(hub.endpoint)) as proxy:` counts what reaches the hub through proxy.url."""

    def __init__(self, proxy: CountingProxy) -> None:
        self.server = proxy
        self.httpd = _Server(("127.0.0.1", 0), _proxy_handler(proxy))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
