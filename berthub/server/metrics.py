"""`GET /metrics` in Prometheus' text format: requests, latency, bytes in and out, storage, upstream.

    berthub_http_requests_total{method, route, status}      answers, by route template (never the raw path)
    berthub_http_request_duration_seconds{method, route}    from the request to the last byte of the answer
    berthub_http_received_bytes_total / _sent_bytes_total   request and answer bodies
    berthub_store_written_bytes_total / _objects_total      blobs stored (uploads, inline files, mirror)
    berthub_upstream_fetches_total{kind, outcome}           a mirror's calls to its upstream: repo, revision, file
    berthub_upstream_received_bytes_total                   file bytes fetched from the upstream
    berthub_repos, berthub_commits                          what the hub's database holds (read when scraped)
    berthub_disk_free_bytes                                 free space under --root (tmp/, SQLite, local blobs)

With `--workers N` every worker counts into files under PROMETHEUS_MULTIPROC_DIR (set by `berthub serve`
before the workers start) and any worker's /metrics adds them up; each replica reports its own
processes, the scraper adds up the replicas (docs/hub-server.md). Only hub admins may read it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from berthub.server.disk import free_bytes

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("berthub_http_requests_total", "Requests answered", ["method", "route", "status"])
LATENCY = Histogram("berthub_http_request_duration_seconds", "Seconds from a request to its answer's last byte",
                    ["method", "route"], buckets=_LATENCY_BUCKETS)
RECEIVED = Counter("berthub_http_received_bytes_total", "Bytes of request bodies")
SENT = Counter("berthub_http_sent_bytes_total", "Bytes of answer bodies")
STORE_BYTES = Counter("berthub_store_written_bytes_total", "Bytes of blobs written to the object store")
STORE_OBJECTS = Counter("berthub_store_written_objects_total", "Blobs written to the object store")
UPSTREAM = Counter("berthub_upstream_fetches_total", "Calls a mirror made to its upstream hub", ["kind", "outcome"])
UPSTREAM_BYTES = Counter("berthub_upstream_received_bytes_total", "File bytes a mirror fetched from its upstream")


def blob_written(size: int) -> None:
    STORE_OBJECTS.inc()
    STORE_BYTES.inc(size)


class RequestMetrics:
    """ASGI middleware counting every HTTP request: a few microseconds each, no I/O."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def counting_receive() -> dict:
            message = await receive()
            RECEIVED.inc(len(message.get("body", b"")))
            return message

        async def counting_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                SENT.inc(len(message.get("body", b"")))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status[0])).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


class _HubState:
    """What the hub's database and disk hold, read when /metrics is scraped."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def collect(self) -> Iterator[GaugeMetricFamily]:
        repos, commits = self._storage.catalog.counts()
        yield GaugeMetricFamily("berthub_repos", "Repos the hub holds", value=repos)
        yield GaugeMetricFamily("berthub_commits", "Commits the hub holds", value=commits)
        yield GaugeMetricFamily("berthub_disk_free_bytes", "Free bytes under --root", value=free_bytes(
            self._storage.root))


class _Together:
    """Several collectors as one (the process's own metrics and the hub's state)."""

    def __init__(self, *collectors: Any) -> None:
        self._collectors = collectors

    def collect(self) -> Iterator[Any]:
        for collector in self._collectors:
            yield from collector.collect()


def exposition(storage: Any) -> bytes:
    """The metrics of this process (or of every worker, with several) and the hub's state, as text."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)  # every worker's counts, added up
        registry.register(_HubState(storage))
    else:
        registry.register(_Together(REGISTRY, _HubState(storage)))
    return generate_latest(registry)
