"""User content cannot run script in the hub's origin or blow up its answers.

Cards: every spelling of a `javascript:` link is neutralised by the sanitiser. Repo files: served
sandboxed, never sniffed, active types as attachments. Card metadata: aliases and size bounded.
Malformed config.json / safetensors headers read as "unreadable", never as a 500.
"""

from __future__ import annotations

import base64
import html.parser
import json
import re
import struct

import pytest
import requests
from huggingface_hub import CommitOperationAdd, HfApi

from berthub.server.cards import render_markdown

HTML = {"Accept": "text/html"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
XSS_CARDS = {
    "decimal entity colon": "[x](javascript&#58;alert(1))",
    "named entity colon": "[x](javascript&colon;alert(1))",
    "hex entity colon": "[x](javascript&#x3a;alert(1))",
    "reference-style link": "[x][evil]\n\n[evil]: javascript:alert(1)",
    "reference-style with entity": "[x][evil]\n\n[evil]: javascript&#58;alert(1)",
    "tab inside the scheme": "[x](java&#9;script&#58;alert(1))",
    "newline entity in the scheme": "[x](java&#10;script:alert(1))",
    "mixed case": "[x](JaVaScRiPt:alert(1))",
    "leading space entity": "[x](&#32;javascript:alert(1))",
    "image source": "![x](javascript:alert(1))",
    "autolink": "<javascript:alert(1)>",
    "data url": "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "vbscript": "[x](vbscript:msgbox(1))",
    "raw html anchor": '<a href="javascript:alert(1)">x</a>',
    "raw html event handler": '<img src="x" onerror="alert(1)">',
}


class _Attributes(html.parser.HTMLParser):
    """Every tag and attribute of a page, with entities decoded as a browser decodes them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.extend((tag, name, value or "") for name, value in attrs)


def _dangerous(rendered: str) -> list[tuple[str, str, str]]:
    parser = _Attributes()
    parser.feed(rendered)
    bad = []
    for tag, name, value in parser.found:
        # Browsers drop ASCII tab/newline anywhere in a URL and leading control characters/spaces.
        url = re.sub(r"[\t\n\r]", "", value).lstrip("\x00\x01\x02\x03\x04\x05\x06\x07\x08 \x0b\x0c").lower()
        if name.startswith("on") or tag == "script" or (name in ("href", "src") and url.startswith(BAD_SCHEMES)):
            bad.append((tag, name, value))
    return bad


@pytest.mark.parametrize("card", XSS_CARDS.values(), ids=XSS_CARDS.keys())
def test_no_spelling_of_a_script_link_survives_rendering(card):
    rendered = render_markdown(card)
    assert _dangerous(rendered) == [], rendered
    assert "<script" not in rendered


def test_safe_links_and_formatting_survive_the_sanitiser():
    rendered = render_markdown("# T\n\n[site](https://example.org/a?b=1) [mail](mailto:a@b.c) [rel](docs/x.md) "
                               "**bold** `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    for expected in ('href="https://example.org/a?b=1"', 'href="mailto:a@b.c"', 'href="docs/x.md"',
                     "<strong>bold</strong>", "<code>code</code>", "<td>1</td>", "<h1>T</h1>"):
        assert expected in rendered


@pytest.fixture(scope="module")
def hostile_repo(hub_server) -> str:
    """A repo holding every hostile card variant, an HTML and an SVG file, a billion-laughs card."""
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("hostile")
    api.create_repo(repo_id)
    files = {"README.md": "# Card\n\n" + "\n\n".join(XSS_CARDS.values()) + "\n",
             "page.html": "<script>document.title='pwned'</script>",
             "logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
             "notes.xml": "<?xml version='1.0'?><x/>"}
    api.create_commit(repo_id, [CommitOperationAdd(name, data.encode()) for name, data in files.items()],
                      commit_message="hostile files")
    return repo_id


def test_model_page_of_a_hostile_card_has_no_live_script_and_a_no_script_csp(hub_server, hostile_repo):
    page = requests.get(f"{hub_server.endpoint}/{hostile_repo}", headers=HTML)
    assert page.status_code == 200
    article = page.text.split('id="model-card">', 1)[1].split("</article>", 1)[0]
    assert _dangerous(article) == []
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("name", ["page.html", "logo.svg", "notes.xml"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_active_repo_files_are_sandboxed_attachments(hub_server, hostile_repo, name, method):
    response = requests.request(method, f"{hub_server.endpoint}/{hostile_repo}/resolve/main/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_plain_repo_files_are_sandboxed_but_served_inline(hub_server, hostile_repo):
    response = requests.get(f"{hub_server.endpoint}/{hostile_repo}/resolve/main/README.md")
    assert "Content-Disposition" not in response.headers
    assert "sandbox" in response.headers["Content-Security-Policy"]


def _billion_laughs(levels: int = 9) -> str:
    """Nine levels of nine aliases each: 9**9 "lol"s once expanded, in about 350 bytes."""
    names = "abcdefghi"[:levels]
    lines = [f"{names[0]}: &{names[0]} [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for previous, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "---\n" + "\n".join(lines) + "\n---\n# laughs\n"


@pytest.fixture(scope="module")
def laughing_repo(hub_server) -> str:
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("laughs")
    api.create_repo(repo_id)
    card = _billion_laughs()
    assert len(card) < 400  # the 354-byte class of card from the issue
    # A raw commit: HfApi would first ask validate-yaml, which refuses this card; a hostile client would not.
    lines = [{"key": "header", "value": {"summary": "laughs"}},
             {"key": "file", "value": {"path": "README.md", "encoding": "base64",
                                       "content": base64.b64encode(card.encode()).decode()}}]
    response = requests.post(f"{hub_server.endpoint}/api/models/{repo_id}/commit/main",
                             data="\n".join(map(json.dumps, lines)),
                             headers={"Authorization": f"Bearer {hub_server.token}"})
    assert response.status_code == 200
    return repo_id


@pytest.mark.parametrize("path", ["/api/models/{repo}", "/api/models?search={name}&full=true", "/", "/{repo}"])
def test_card_with_nested_yaml_aliases_does_not_expand(hub_server, laughing_repo, path):
    url = hub_server.endpoint + path.format(repo=laughing_repo, name=laughing_repo.split("/")[1])
    response = requests.get(url, headers=HTML if not path.startswith("/api") else {})
    assert response.status_code == 200
    assert len(response.content) < 200_000  # 42 MB before the bound
    assert "lol" not in response.text


@pytest.mark.parametrize("card, reason", [
    (_billion_laughs(), "expands to more than 10000 values"),
    ("---\na: &a 1\nb: [" + ", ".join(["*a"] * 150) + "]\n---\n", "more than 100 YAML aliases"),
    ("---\na: " + "[" * 100 + "]" * 100 + "\n---\n", "nested more than 64 deep"),
], ids=["alias expansion", "alias count", "nesting"])
def test_validate_yaml_refuses_unbounded_metadata_and_says_why(hub_server, card, reason):
    response = requests.post(hub_server.endpoint + "/api/validate-yaml", json={"content": card})
    assert response.status_code == 400 and reason in response.json()["errors"][0]["message"]


def test_validate_yaml_accepts_an_ordinary_card(hub_server):
    card = "---\nlicense: apache-2.0\ntags: [bert, fill-mask]\nbase: &b x\nother: *b\n---\n# Model\n"
    assert requests.post(hub_server.endpoint + "/api/validate-yaml", json={"content": card}).status_code == 200


@pytest.fixture(scope="module")
def malformed_repo(hub_server) -> str:
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("malformed")
    api.create_repo(repo_id)
    header = b"[1, 2, 3]"
    depth = 100_000
    files = {"model.safetensors": struct.pack("<Q", len(header)) + header,
             "config.json": ('{"a":' * depth + "1" + "}" * depth).encode(),
             "README.md": b"# still a card\n"}
    api.create_commit(repo_id, [CommitOperationAdd(name, data) for name, data in files.items()],
                      commit_message="malformed")
    return repo_id


@pytest.mark.parametrize("path", ["/{repo}", "/api/models/{repo}", "/api/models?config=true&full=true"])
def test_malformed_config_and_safetensors_header_read_as_unreadable_not_500(hub_server, malformed_repo, path):
    url = hub_server.endpoint + path.format(repo=malformed_repo)
    response = requests.get(url, headers=HTML if not path.startswith("/api") else {})
    assert response.status_code == 200
    if not path.startswith("/api"):
        assert "unreadable" in response.text and "still a card" in response.text
    elif path.startswith("/api/models/"):
        assert response.json()["config"] is None


def test_card_over_the_configured_card_size_is_not_parsed(limited_hub):
    api = HfApi(endpoint=limited_hub.endpoint, token=limited_hub.token)
    repo_id = limited_hub.unique_repo_id("big-card")
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=("---\nlicense: mit\n---\n" + "words " * 3000).encode(),
                    path_in_repo="README.md", repo_id=repo_id)  # 18 kB, over --max-card-size 8KiB
    info = requests.get(f"{limited_hub.endpoint}/api/models/{repo_id}").json()
    assert "cardData" not in info
    page = requests.get(f"{limited_hub.endpoint}/{repo_id}", headers=HTML).text
    assert "words words" not in page


@pytest.mark.parametrize("metadata", ["released: 2020-01-01", "score: .nan", "limit: .inf", "blob: !!binary aGk=",
                                      "kinds: !!set {a, b}", "1: one\n~: none"])
def test_card_and_config_values_json_cannot_hold_do_not_break_model_info(hub_server, metadata):
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("odd-yaml")
    api.create_repo(repo_id)
    api.create_commit(repo_id, [CommitOperationAdd("README.md", f"---\n{metadata}\n---\n# odd\n".encode()),
                                CommitOperationAdd("config.json", b'{"hidden_size": NaN, "vocab_size": 99}')],
                      commit_message="odd values")
    for path in (f"/api/models/{repo_id}", f"/api/models?search={repo_id.split('/')[1]}&config=true", f"/{repo_id}"):
        response = requests.get(hub_server.endpoint + path, headers=HTML if "/api/" not in path else {})
        assert response.status_code == 200, (path, response.text[:300])
    assert api.model_info(repo_id).config == {"hidden_size": None, "vocab_size": 99}
