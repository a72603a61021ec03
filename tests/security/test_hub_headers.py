"""Headers have limits whatever uvicorn's HTTP parser (server/connections.py): a 1 MiB header line,
10,000 headers and 400 connections stopped mid-header are each refused or closed in time, and
/api/health answers as fast while they run.

Under uvicorn with httptools, the attack that found it was answered 200 for three 128 MiB header
lines (the server grew by 384 MiB), accepted 20,000 headers, and kept 400 half-sent requests open
for good. The first test attacks a real `berthub serve` (httptools, what users run); the second runs
the same three against each parser's protocol in this process.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Callable

import pytest
import requests
import uvicorn
from hubserver import free_port

from berthub.server.app import create_app
from berthub.server.http import ServerConfig

BIG_HEADER = b"GET /api/health HTTP/1.1\r\nHost: hub\r\nX-Big: " + b"a" * 1024**2 + b"\r\n\r\n"
MANY_HEADERS = b"GET /api/health HTTP/1.1\r\nHost: hub\r\n" + b"a:b\r\n" * 10_000 + b"\r\n"  # 50 kB: under the size
HALF_SENT = b"GET /api/health HTTP/1.1\r\nHost: hub\r\nX-Slow: "


def _status(port: int, payload: bytes) -> tuple[int | None, float]:
    """(status answered, or None when the server closed or reset the connection; seconds it took)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(payload)
            answer = sock.recv(64)
        except ConnectionError:  # closed while we were still sending: refused as well
            answer = b""
    return (int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None), time.monotonic() - started


def _half_sent(port: int, count: int) -> list[tuple[socket.socket, float]]:
    """`count` connections that stop in the middle of their headers, each with when it was opened."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(HALF_SENT)
        sockets.append((sock, time.monotonic()))
    return sockets


def _closed_within(sockets: list[tuple[socket.socket, float]], deadline_s: float) -> list[float]:
    """Seconds from its opening until the server closed each connection (an answer, then EOF), for
    those it closed within `deadline_s` of their opening."""
    closed = []
    for sock, opened in sockets:
        sock.settimeout(max(0.01, deadline_s - (time.monotonic() - opened)))
        try:
            while sock.recv(4096):
                pass
            closed.append(time.monotonic() - opened)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            sock.close()
    return closed


def _health_p99(endpoint: str, count: int = 200) -> float:
    session, times = requests.Session(), []
    for _ in range(count):
        started = time.monotonic()
        assert session.get(f"{endpoint}/api/health").status_code == 200
        times.append(time.monotonic() - started)
    return statistics.quantiles(times, n=100)[98]


def _while_repeating(attack: Callable[[], object], endpoint: str) -> tuple[float, list]:
    """(health p99 measured while `attack` runs again and again in another thread, its results)."""
    results: list = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            results.append(attack())

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        return _health_p99(endpoint), results
    finally:
        stop.set()
        thread.join()


def test_big_headers_many_headers_and_half_sent_requests_are_cut_off_while_health_answers(attack_hub):
    port, timeout = attack_hub.port, float(attack_hub.extra_args[attack_hub.extra_args.index("--header-timeout") + 1])
    before = _health_p99(attack_hub.endpoint)
    big_p99, big = _while_repeating(lambda: _status(port, BIG_HEADER), attack_hub.endpoint)
    many_p99, many = _while_repeating(lambda: _status(port, MANY_HEADERS), attack_hub.endpoint)
    sockets = _half_sent(port, 400)
    time.sleep(0.2)  # the server has accepted them all: health is measured beside 400 waiting connections
    half_p99 = _health_p99(attack_hub.endpoint)
    closed = _closed_within(sockets, timeout + 3)
    print(f"\n/api/health p99: {before * 1000:.1f} ms alone, {big_p99 * 1000:.1f} ms under {len(big)} 1 MiB headers "
          f"(each answered in {max(t for _, t in big) * 1000:.0f} ms at most), {many_p99 * 1000:.1f} ms under "
          f"{len(many)} requests of 10,000 headers, {half_p99 * 1000:.1f} ms beside 400 half-sent requests "
          f"(all closed after {max(closed, default=0):.2f} s)")
    assert {status for status, _ in big} <= {431, None} and max(t for _, t in big) < 1
    assert {status for status, _ in many} == {431} and max(t for _, t in many) < 1
    assert len(closed) == 400 and max(closed) < timeout + 1
    for during in (big_p99, many_p99, half_p99):
        assert during < max(3 * before, before + 0.05), (before, big_p99, many_p99, half_p99)


@pytest.fixture(params=["httptools", "h11"])
def in_process_hub(request, tmp_path):
    """The hub under uvicorn in this process, with one parser's limited protocol and a 0.5 s timeout."""
    from berthub.server import connections

    protocol = {"httptools": connections.protocol_class(), "h11": connections.LimitedH11Protocol}[request.param]
    assert request.param in protocol.__name__.lower()
    app = create_app(ServerConfig(root=tmp_path / "hub", header_timeout=0.5))
    server = uvicorn.Server(uvicorn.Config(app, port=free_port(), http=protocol, log_level="warning",
                                           h11_max_incomplete_event_size=64 * 1024))
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield server.config.port
    server.should_exit = True
    thread.join()
    connections.configure(connections.DEFAULT_HEADER_LIMITS)  # create_app set this process's limits


def test_each_parser_gets_the_same_header_limits(in_process_hub):
    port = in_process_hub
    assert _status(port, b"GET /api/health HTTP/1.1\r\nHost: hub\r\n\r\n")[0] == 200
    assert _status(port, BIG_HEADER)[0] in (431, None)
    assert _status(port, MANY_HEADERS)[0] == 431
    sockets = _half_sent(port, 20)
    assert sockets[0][0].recv(64).startswith(b"HTTP/1.1 408 ")
    assert len(_closed_within(sockets, 1.5)) == 20
