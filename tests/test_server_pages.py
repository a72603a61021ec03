"""The hub's web pages as HTML: the model list, a model's page, and a card that tries to run script."""

from __future__ import annotations

import re

import pytest
import requests
from huggingface_hub import HfApi

from berthub.server.cards import render_markdown

HTML = {"Accept": "text/html"}


def test_model_list_shows_a_pushed_model_with_its_size(hub_server, hub_minilm):
    repo_id, _ = hub_minilm
    page = requests.get(hub_server.endpoint + "/", headers=HTML)
    assert page.status_code == 200
    assert f'href="/{repo_id}"' in page.text
    assert "91.6 MB" in page.text  # MiniLM folder: 90.9 MB weights + tokenizer and configs


def test_search_box_filters_the_list(hub_server, hub_minilm):
    repo_id, _ = hub_minilm
    found = requests.get(hub_server.endpoint + "/", params={"search": "minilm"}, headers=HTML).text
    missing = requests.get(hub_server.endpoint + "/", params={"search": "no-such-model"}, headers=HTML).text
    assert repo_id in found
    assert repo_id not in missing and "No model matches" in missing


def test_model_page_renders_card_config_files_and_history(hub_server, hub_minilm):
    repo_id, commit = hub_minilm
    page = requests.get(f"{hub_server.endpoint}/{repo_id}", headers=HTML).text
    assert "<h1>all-MiniLM-L6-v2</h1>" in page  # the README's title, rendered from markdown
    assert re.search(r"<th>Hidden size</th><td>384</td>", page)
    assert re.search(r"<th>Parameters</th><td>22\.7M", page)
    assert f'href="/{repo_id}/resolve/{commit}/model.safetensors?download=true"' in page
    assert "MiniLM</a>" in page  # the commit title in the history


def test_missing_model_page_is_a_404_page(hub_server):
    page = requests.get(f"{hub_server.endpoint}/nobody/nothing", headers=HTML)
    assert page.status_code == 404
    assert "<h1>404</h1>" in page.text


def test_card_cannot_run_script_in_the_visitors_browser(hub_server):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("evil-card")
    api.create_repo(repo_id)
    card = '# Hi\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2)) <img src=x onerror="alert(3)">\n'
    api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id)
    page = requests.get(f"{hub_server.endpoint}/{repo_id}", headers=HTML).text
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "javascript:" not in page
    assert "<img src=x" not in page


@pytest.mark.parametrize("markdown_text, expected", [
    ("| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>"),
    ("```python\nx = 1\n```", "<code class=\"language-python\">"),
    ("[docs](https://example.org)", 'href="https://example.org"'),
])
def test_card_markdown_keeps_tables_code_and_web_links(markdown_text, expected):
    assert expected in render_markdown(markdown_text)
