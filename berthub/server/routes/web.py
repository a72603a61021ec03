"""Server-rendered web pages: the model list (`/`) and a model's page (`/{org}/{name}`).

Cards, configs and weights headers are user content: server.cards reads them within bounds and
sanitises the rendered card, and every page carries a no-script Content-Security-Policy
(server.guards). Work that parses or renders runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from berthub.server.accounts.forms import csrf_token, page_context, signed_in
from berthub.server.accounts.policy import DOWNLOAD, VIEW, may
from berthub.server.cards import UNREADABLE
from berthub.server.errors import HubError
from berthub.server.http import base_url, caller, hub_of, readable_repo
from berthub.server.info import card, card_html, config, parameter_count
from berthub.server.names import validate_repo_id
from berthub.sources.settings import CONFIG_NAME

templates = Jinja2Templates(directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates"),
                            context_processors=[page_context])
_CONFIG_FIELDS = [
    ("model_type", "Model type"), ("architectures", "Architectures"), ("hidden_size", "Hidden size"),
    ("num_hidden_layers", "Layers"), ("num_attention_heads", "Attention heads"),
    ("intermediate_size", "Intermediate size"), ("vocab_size", "Vocabulary"),
    ("max_position_embeddings", "Max positions"), ("type_vocab_size", "Token types"),
    ("hidden_act", "Activation"), ("torch_dtype", "dtype"),
]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def human_date(iso: str) -> str:
    return datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").strftime("%Y-%m-%d %H:%M UTC")


def human_count(count: int) -> str:
    return f"{count / 1e9:.2f}B" if count >= 1e9 else f"{count / 1e6:.1f}M" if count >= 1e6 else f"{count:,}"


def human_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters.update(size=human_size, date=human_date, count=human_count, epoch=human_epoch)


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_page(request: Request, error: HubError) -> Response:
    return templates.TemplateResponse(request, "error.html", {"error": str(error), "status": error.status},
                                      status_code=error.status)


async def index(request: Request) -> Response:
    storage = hub_of(request).storage
    search = request.query_params.get("search", "").strip()
    who = caller(request)
    max_card_size = hub_of(request).config.max_card_size

    def collect() -> list[dict[str, Any]]:
        models = []
        for meta in storage.list_repos():
            if not may(who, meta, VIEW) or (search and search.lower() not in meta.repo_id.lower()):
                continue
            commit = storage.resolve(meta.repo_id, "main")
            card_meta, _ = card(storage, commit, max_card_size)
            models.append({"id": meta.repo_id, "modified": commit.date, "size": commit.size,
                           "files": len(commit.files), "tags": _tags(card_meta)[:6]})
        return sorted(models, key=lambda model: model["modified"], reverse=True)

    models = await run_in_threadpool(collect)
    return templates.TemplateResponse(request, "index.html", {"models": models, "search": search,
                                                              "endpoint": base_url(request)})


def _tags(card_meta: dict[str, Any]) -> list[str]:
    tags = card_meta.get("tags")
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def _config_rows(model_config: dict[str, Any] | str | None) -> list[tuple[str, str]]:
    if model_config == UNREADABLE:
        return [(CONFIG_NAME, UNREADABLE)]
    rows = []
    for key, label in _CONFIG_FIELDS:
        if isinstance(model_config, dict) and key in model_config:
            value = model_config[key]
            rows.append((label, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return rows


def _model_context(request: Request, repo_id: str, revision: str) -> dict[str, Any]:
    meta = readable_repo(request, repo_id)
    storage, limit = hub_of(request).storage, hub_of(request).config.max_card_size
    commit = storage.resolve(repo_id, revision)
    card_meta, _ = card(storage, commit, limit)
    params = parameter_count(storage, commit)
    return {
        "repo_id": meta.repo_id, "meta": meta, "commit": commit, "revision": revision,
        "card_meta": card_meta, "tags": _tags(card_meta), "card_html": card_html(storage, commit, limit),
        "config_rows": _config_rows(config(storage, commit, limit)), "params": params,
        "files": [{"path": entry.path, "size": entry.size, "lfs": entry.lfs,
                   "url": f"/{repo_id}/resolve/{commit.id}/{quote(entry.path)}?download=true"}
                  for entry in commit.files.values()],
        "history": storage.history(repo_id, revision, limit=50),
        "endpoint": base_url(request),
        **_access(request, meta),
    }


def _access(request: Request, meta: Any) -> dict[str, Any]:
    """Whether the viewer may download the files, and where their access request stands (gated repos)."""
    person, can_download = signed_in(request), may(caller(request), meta, DOWNLOAD)
    status = None
    if meta.gated and person is not None and not can_download:
        status = hub_of(request).auth.access.status(meta.repo_id, str(person.name))
    return {"can_download": can_download, "access_status": status,
            "form_csrf": csrf_token(request) if person else ""}


async def model_page(request: Request) -> Response:
    repo_id = validate_repo_id(f"{request.path_params['org']}/{request.path_params['name']}")
    revision = request.path_params.get("revision") or request.query_params.get("revision") or "main"
    context = await run_in_threadpool(_model_context, request, repo_id, revision)
    return templates.TemplateResponse(request, "model.html", context)


async def commit_page(request: Request) -> Response:
    """`/{org}/{name}/commit/{id}` (the commitUrl clients print) shows the model at that commit."""
    org, name, commit_id = (request.path_params[key] for key in ("org", "name", "commit"))
    repo_id = validate_repo_id(f"{org}/{name}")
    return RedirectResponse(f"/{repo_id}/tree/{quote(commit_id, safe='')}", status_code=303)


routes = [
    Route("/", index),
    Route("/{org}/{name}", model_page),
    Route("/{org}/{name}/tree/{revision}", model_page),
    Route("/{org}/{name}/commit/{commit}", commit_page),
]
