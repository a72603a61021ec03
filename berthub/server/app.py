"""The hub server's ASGI app: routes, error handling and the entry points uvicorn starts.

`create_app(config)` builds an app in-process (tests, embedding); `berthub serve` runs it under
uvicorn. With several workers uvicorn imports `app_from_env`, which reads the same configuration
from the BERTHUB_SERVER_CONFIG environment variable the command sets.
"""

from __future__ import annotations

import json
import os

from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from berthub.server import connections
from berthub.server.accounts import pages
from berthub.server.accounts import routes as accounts_api
from berthub.server.accounts.auth import Authenticate, Authenticator, log_to_stderr
from berthub.server.cache import BoundedCache
from berthub.server.db.engine import Database, database_error
from berthub.server.disk import storage_error
from berthub.server.errors import HubError
from berthub.server.guards import HubGuards
from berthub.server.http import Hub, ServerConfig, adopt_legacy_secret, error_response
from berthub.server.metrics import RequestMetrics
from berthub.server.mirror.mirror import Mirror
from berthub.server.mirror.upstream import UpstreamHub
from berthub.server.objectstore.opening import open_store
from berthub.server.prefetch import Prefetch
from berthub.server.routes import api, commits, files, operations, web
from berthub.server.storage import Storage
from berthub.sources.settings import MIRROR_TOKEN_VARIABLE, SERVER_CONFIG_VARIABLE

CONFIG_ENV = SERVER_CONFIG_VARIABLE
_STATIC = os.path.join(os.path.dirname(__file__), "static")


async def _hub_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HubError)
    if web.wants_html(request):
        return web.error_page(request, error)
    return error_response(error)


async def _storage_error(request: Request, error: Exception) -> Response:
    """A disk that is full (507) or failing (503) answers in one line, never a 500 with a traceback;
    the writers have removed what they started (server.disk)."""
    assert isinstance(error, OSError)
    return await _hub_error(request, storage_error(error, f"{request.method} {request.url.path}"))


async def _database_error(request: Request, error: Exception) -> Response:
    """The accounts database full (507) or unreachable (503): one line, never a 500 with a traceback."""
    assert isinstance(error, OperationalError)
    return await _hub_error(request, database_error(error, f"{request.method} {request.url.path}"))


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    hub_error = HubError(f"{request.method} {request.url.path}: {error.detail}")
    hub_error.status = error.status_code
    return await _hub_error(request, hub_error)


def open_storage(config: ServerConfig, database: Database | None = None) -> Storage:
    """The hub's storage as `config` describes it: its database (migrated first when it is behind), its
    object store, its cache."""
    database = database or Database.open(config.database_url)
    objects = open_store(config.storage, config.root)
    return Storage(config.root, database, objects, BoundedCache(config.cache_size), config.min_free_space)


def create_app(config: ServerConfig) -> Starlette:
    """The hub as an ASGI app serving `config.root`; its database is migrated first when it is behind,
    and its connections get `config`'s header limits."""
    storage = open_storage(config)
    if config.mirror_of:
        storage.upstream = Mirror(storage, UpstreamHub(config.mirror_of, os.environ.get(MIRROR_TOKEN_VARIABLE)),
                                  config.mirror_refresh, config.mirror_allow)
    connections.configure(config.header_limits)
    auth = Authenticator(storage.db, config.tokens, storage.cache)
    app = Starlette(
        routes=[
            *operations.routes,
            *api.routes,
            *commits.routes,
            *files.routes,
            *accounts_api.routes,  # after the hot paths (resolve, model info): each route tried costs
            Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),
            *pages.routes,  # before web's /{org}/{name} patterns, which would shadow /settings/tokens
            *web.routes,  # last: its /{org}/{name} patterns would shadow the others
        ],
        exception_handlers={HubError: _hub_error, HTTPException: _http_error, OSError: _storage_error,
                            OperationalError: _database_error},
        middleware=[Middleware(RequestMetrics), Middleware(HubGuards, config=config),
                    Middleware(Authenticate, authenticator=auth), Middleware(Prefetch, storage=storage)],
    )
    adopt_legacy_secret(config.root, storage.db)
    app.state.hub = Hub(config=config, storage=storage, secret=storage.db.secret(), auth=auth)
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes (`uvicorn --factory berthub.server.app:app_from_env`)."""
    log_to_stderr()
    return create_app(ServerConfig.from_json(json.loads(os.environ[CONFIG_ENV])))
