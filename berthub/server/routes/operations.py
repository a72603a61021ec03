"""Routes for the hub's operators: `/api/health` (load balancers) and `/metrics` (Prometheus)."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from berthub.server.disk import disk_health
from berthub.server.errors import Forbidden
from berthub.server.http import authenticated, hub_of
from berthub.server.metrics import exposition


async def health(request: Request) -> Response:
    """200 while the hub serves reads; `disk.low` (and status "low_disk") when writes are refused for
    space. 503 (status "unavailable") when the database or the object store does not answer: a load
    balancer then sends requests to the other replicas. The pid tells operators (and bench/hub.py) which
    worker process answered."""
    hub = hub_of(request)
    disk = disk_health(hub.storage.root, hub.config.min_free_space)
    checks = hub.storage.health() if hub.storage.db.cheap_reads and hub.storage.objects.kind == "disk" \
        else await run_in_threadpool(hub.storage.health)
    failed = any(state != "ok" for state in checks.values())
    status = "unavailable" if failed else "low_disk" if disk["low"] else "ok"
    return JSONResponse({"status": status, "pid": os.getpid(), "disk": disk, **checks},
                        status_code=503 if failed else 200)


async def metrics(request: Request) -> Response:
    """The Prometheus exposition (server.metrics), for hub admins only: Prometheus sends a token-file
    token as its bearer."""
    if not authenticated(request).hub_admin:
        raise Forbidden("/metrics is for the hub's operators: send a hub-admin token (--token-file, "
                        "BERTHUB_SERVER_TOKEN) as 'Authorization: Bearer ...'.")
    body = await run_in_threadpool(exposition, hub_of(request).storage)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/api/health", health),
    Route("/metrics", metrics),
]
