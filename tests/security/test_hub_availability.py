"""Anonymous clients cannot make the hub buffer big bodies or block its event loop.

Every body has a limit (413 beyond it, announced or streamed); commits and LFS uploads have their own,
larger ones; YAML parsing, Markdown rendering, model info and tree listings run in the thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest
import requests
from huggingface_hub import HfApi
from starlette.testclient import TestClient

from berthub.server import cards, info
from berthub.server.app import create_app
from berthub.server.http import ServerConfig
from berthub.server.routes import api


def _chunks(total: int, size: int = 64 * 1024):
    for _ in range(total // size):
        yield b" " * size


@pytest.mark.parametrize("path", ["/api/validate-yaml", "/api/repos/create"])
def test_json_body_over_the_request_limit_is_refused_with_413_before_any_token_check(hub_server, path):
    body = json.dumps({"content": "x" * (5 * 1024**2)})  # defaults: 1 MiB requests, 4x the 1 MiB card size
    response = requests.post(hub_server.endpoint + path, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "--max-request-size" in response.json()["error"] or "--max-card-size" in response.json()["error"]


def test_streamed_body_without_content_length_is_cut_off_at_the_limit(hub_server):
    response = requests.post(hub_server.endpoint + "/api/validate-yaml", data=_chunks(5 * 1024**2),
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_limits_are_configurable_per_kind_of_body(limited_hub):
    api_ = HfApi(endpoint=limited_hub.endpoint, token=limited_hub.token)
    repo_id = limited_hub.unique_repo_id("limits")
    api_.create_repo(repo_id)
    small_json = requests.post(limited_hub.endpoint + "/api/repos/create", json={"name": "x" * 5000})
    assert small_json.status_code == 413  # 5 kB over --max-request-size 4KiB
    card = requests.post(limited_hub.endpoint + "/api/validate-yaml", json={"content": "x" * 40_000})
    assert card.status_code == 413  # over 4x --max-card-size 8KiB
    api_.upload_file(path_or_fileobj=b"a" * 20_000, path_in_repo="notes.txt", repo_id=repo_id)  # inline commit
    lines = [{"key": "header", "value": {"summary": "big"}},
             {"key": "file", "value": {"path": "big.txt", "encoding": "base64",
                                       "content": base64.b64encode(b"b" * 100_000).decode()}}]
    too_big = requests.post(f"{limited_hub.endpoint}/api/models/{repo_id}/commit/main",
                            data="\n".join(map(json.dumps, lines)),
                            headers={"Authorization": f"Bearer {limited_hub.token}",
                                     "Content-Type": "application/x-ndjson"})
    assert too_big.status_code == 413 and "--max-commit-size" in too_big.json()["error"]
    assert api_.list_repo_files(repo_id) == ["notes.txt"]


def test_oversized_yaml_card_is_answered_at_once_and_health_stays_responsive(hub_server):
    flow_lists = "---\n" + "".join(f"k{i}: [[1, 2], [3, [4, 5]]]\n" for i in range(30_000)) + "---\n"
    started = time.monotonic()
    response = requests.post(hub_server.endpoint + "/api/validate-yaml", json={"content": flow_lists[:1_000_000]})
    assert response.status_code == 400 and "over 65536 bytes" in response.json()["errors"][0]["message"]
    assert time.monotonic() - started < 5
    health = time.monotonic()
    assert requests.get(hub_server.endpoint + "/api/health").status_code == 200
    assert time.monotonic() - health < 2


@pytest.fixture
def off_loop_calls(monkeypatch, tmp_path) -> tuple[TestClient, list[str]]:
    """An in-process hub whose CPU-heavy helpers record where they ran: 'loop' or 'thread'."""
    ran: list[str] = []

    def recording(function):
        def wrapper(*args, **kwargs):
            try:
                asyncio.get_running_loop()
                ran.append(f"loop:{function.__name__}")
            except RuntimeError:
                ran.append(f"thread:{function.__name__}")
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(api, "card_metadata", recording(cards.card_metadata))
    monkeypatch.setattr(api, "model_info_json", recording(info.model_info_json))
    monkeypatch.setattr(api, "_listing", recording(api._listing))
    from berthub.server.routes import web
    monkeypatch.setattr(web, "_model_context", recording(web._model_context))
    app = create_app(ServerConfig(root=Path(tmp_path / "hub"), tokens={"t": "tester"}))
    return TestClient(app), ran


def test_yaml_markdown_model_info_and_tree_listings_run_off_the_event_loop(off_loop_calls):
    client, ran = off_loop_calls
    auth = {"Authorization": "Bearer t"}
    assert client.post("/api/repos/create", json={"name": "m", "organization": "acme"}, headers=auth).status_code == 200
    card = base64.b64encode(b"---\nlicense: mit\n---\n# Card\n").decode()
    lines = [{"key": "header", "value": {"summary": "card"}},
             {"key": "file", "value": {"path": "README.md", "content": card, "encoding": "base64"}}]
    assert client.post("/api/models/acme/m/commit/main", content="\n".join(map(json.dumps, lines)),
                       headers=auth).status_code == 200
    assert client.post("/api/validate-yaml", json={"content": "---\na: 1\n---\n"}).status_code == 200
    assert client.get("/api/models/acme/m").json()["cardData"] == {"license": "mit"}
    assert client.get("/api/models/acme/m/tree/main").status_code == 200
    assert client.get("/acme/m", headers={"Accept": "text/html"}).status_code == 200
    assert sorted(ran) == ["thread:_listing", "thread:_model_context", "thread:card_metadata",
                           "thread:model_info_json"]
    client.get("/api/models/acme/m")  # the card is parsed now: answering from memory needs no thread hop
    assert ran[-1] == "loop:model_info_json"


DEEP = "[" * 100_000 + "]" * 100_000  # 200 kB: fine for the size limits, too deep for a recursive parser


@pytest.mark.parametrize("path", ["/api/repos/create", "/api/models/{repo}/paths-info/main",
                                  "/api/models/{repo}/preupload/main", "/api/models/{repo}/commit/main",
                                  "/{repo}.git/info/lfs/objects/batch", "/api/lfs/verify", "/api/validate-yaml"])
def test_json_nested_too_deep_is_a_400_not_a_500(hub_server, path):
    repo_id = hub_server.unique_repo_id("deep")
    HfApi(endpoint=hub_server.endpoint, token=hub_server.token).create_repo(repo_id)
    response = requests.post(hub_server.endpoint + path.format(repo=repo_id), data=DEEP,
                             headers={"Authorization": f"Bearer {hub_server.token}",
                                      "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
