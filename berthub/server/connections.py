"""Limits on what a client sends before its request reaches the app: header bytes, count and time.

uvicorn's HTTP parsers do not bound these the same way, or at all: httptools (its choice when
installed) buffers a header line of any length and any number of headers, h11 bounds only their
bytes, and neither closes a connection that stops in the middle of its headers. `berthub serve`
therefore runs uvicorn with the protocol classes below, which put the same three limits in front of
either parser (`protocol_class()` picks as uvicorn's "auto" does):

- at most `max_bytes` from the first byte of a request to the end of its headers (request line
  included), counted before the parser sees them: beyond it, 431 and the connection is closed;
- at most `max_count` header lines: 431 and closed;
- at most `timeout_s` seconds from the connection's opening, then from each later request's first
  byte, to the end of the headers: 408 and closed. A keep-alive connection idle between requests is
  closed by uvicorn's keep-alive timeout.

uvicorn builds one protocol object per connection from a class and passes it no settings of ours, so
the limits are read from this module, set by `configure` (create_app calls it, in every worker).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: uvicorn, and protocol_class(), use h11
    HttpToolsProtocol = None


@dataclass(frozen=True)
class HeaderLimits:
    max_bytes: int = 64 * 1024  # request line + headers; browsers and HfApi send 1-8 KiB
    max_count: int = 100  # Apache's LimitRequestFields; clients send about 10
    timeout_s: float = 10.0


DEFAULT_HEADER_LIMITS = HeaderLimits()
_limits = DEFAULT_HEADER_LIMITS


def configure(limits: HeaderLimits) -> None:
    """The limits every connection accepted from now on in this process is held to."""
    global _limits
    _limits = limits


def _answer(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 answer in the hub's error shape that closes the connection."""
    body = json.dumps({"error": message}).encode()
    phrase = HTTPStatus(status).phrase
    head = (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            f"x-error-message: {message}\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Limited:
    """Mixin in front of a uvicorn HTTP protocol. The parser-specific subclass calls `_headers_done`
    when a request's headers are complete, `_message_done` when its body is, and `_count_headers`."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    logger: Any
    client: tuple[str, int] | None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._limits = _limits
        self._header_bytes, self._awaiting_headers, self._refused = 0, True, False
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._awaiting_headers:
            super().data_received(data)  # type: ignore[misc]
            return
        self._arm()
        head = data[: self._limits.max_bytes - self._header_bytes]
        self._header_bytes += len(head)
        super().data_received(head)  # type: ignore[misc]
        if len(head) < len(data) and not self.transport.is_closing():
            if self._awaiting_headers:
                self._refuse(431, f"Request headers are over this hub's limit of {self._limits.max_bytes} bytes "
                                  "(`berthub serve --max-header-size`).")
            else:
                self.data_received(data[len(head):])  # the body, and perhaps the next request

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # refused already, with its own answer
            super().send_400_response(msg)  # type: ignore[misc]

    def _count_headers(self, count: int) -> None:
        if count > self._limits.max_count:
            self._refuse(431, f"Request has more than {self._limits.max_count} headers, this hub's limit "
                              "(`berthub serve --max-headers`).")
            raise _Refused

    def _headers_done(self) -> None:
        self._awaiting_headers = False
        self._disarm()

    def _message_done(self) -> None:
        self._awaiting_headers, self._header_bytes = True, 0

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self._limits.timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm()  # a pipelined request waits for the answer in progress: it is not slow
        elif self._awaiting_headers and not self.transport.is_closing():
            self._refuse(408, f"Request headers did not arrive within {self._limits.timeout_s:g}s "
                              "(`berthub serve --header-timeout`).")

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        self._disarm()
        where = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.warning("Refused the connection of %s: %s", where, message)
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_answer(status, message))  # never in the middle of another answer
        self.transport.close()


class _Refused(Exception):
    """Stops the parser after a refusal; uvicorn reports it through send_400_response (a no-op then)."""


class LimitedH11Protocol(_Limited, H11Protocol):
    """uvicorn's h11 protocol with the header limits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        next_event = self.conn.next_event

        def watched_next_event() -> Any:
            event = next_event()
            if isinstance(event, h11.Request):
                self._headers_done()
                try:
                    self._count_headers(len(event.headers))
                except _Refused:
                    raise h11.RemoteProtocolError("too many headers") from None
            elif isinstance(event, h11.EndOfMessage):
                self._message_done()
            return event

        self.conn.next_event = watched_next_event  # type: ignore[method-assign]


if HttpToolsProtocol is not None:
    class LimitedHttpToolsProtocol(_Limited, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header limits."""

        def on_message_begin(self) -> None:
            self._header_count = 0
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            self._header_count += 1
            self._count_headers(self._header_count)  # raising stops the parser: uvicorn answers 400, a no-op
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._headers_done()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._message_done()


def protocol_class() -> type[asyncio.Protocol]:
    """The limited protocol for httptools when it is installed (uvicorn's own choice), else h11."""
    return LimitedH11Protocol if HttpToolsProtocol is None else LimitedHttpToolsProtocol
