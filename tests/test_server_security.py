"""Who may write, and what names the hub accepts: tokens, private repos, traversal, sizes."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from hubserver import running_hub
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError


def _commit(hub, repo_id: str, path: str, token: str | None) -> requests.Response:
    """A raw commit (what HfApi sends), so paths the client would refuse still reach the server."""
    lines = [{"key": "header", "value": {"summary": "raw"}},
             {"key": "file", "value": {"path": path, "content": base64.b64encode(b"x").decode(),
                                       "encoding": "base64"}}]
    headers = {"Content-Type": "application/x-ndjson", **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.post(f"{hub.endpoint}/api/models/{repo_id}/commit/main", headers=headers,
                         data="\n".join(json.dumps(line) for line in lines))


@pytest.fixture(scope="module")
def repo(hub_server) -> str:
    repo_id = hub_server.unique_repo_id("guarded")
    HfApi(endpoint=hub_server.endpoint, token=hub_server.token).create_repo(repo_id)
    return repo_id


def test_upload_without_a_token_is_refused_with_401(hub_server, repo):
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=hub_server.endpoint, token=False).upload_file(
            path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo)
    assert refused.value.response.status_code == 401
    assert "needs a token" in refused.value.response.headers["X-Error-Message"]


def test_upload_with_a_wrong_token_is_refused_with_403(hub_server, repo):
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=hub_server.endpoint, token="not-a-token").upload_file(
            path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo)
    assert refused.value.response.status_code == 403
    assert HfApi(endpoint=hub_server.endpoint).list_repo_files(repo) == []


def test_reads_need_no_token_and_ignore_foreign_tokens(hub_server, repo):
    assert HfApi(endpoint=hub_server.endpoint, token=False).model_info(repo).id == repo
    assert HfApi(endpoint=hub_server.endpoint, token="hf_from_the_public_hub").model_info(repo).id == repo


def test_private_repo_is_invisible_without_a_token(hub_server):
    owner = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    repo_id = hub_server.unique_repo_id("secret")
    owner.create_repo(repo_id, private=True)
    assert owner.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_server.endpoint, token=False).model_info(repo_id)
    assert repo_id not in [m.id for m in HfApi(endpoint=hub_server.endpoint, token=False).list_models()]


@pytest.mark.parametrize("path", ["../../outside.txt", "/etc/passwd", "a\\..\\b.txt", "a\x00b", ".git/config"])
def test_file_paths_escaping_the_repo_are_refused_with_400(hub_server, repo, path):
    response = _commit(hub_server, repo, path, hub_server.token)
    assert response.status_code == 400
    assert "Invalid file path" in response.json()["error"]


@pytest.mark.parametrize("url_path", ["/..%2F..%2Fetc/passwd/resolve/main/x", "/acme/..%2Fx/resolve/main/x",
                                      "/acme/x/resolve/main/..%2F..%2Fsecret"])
def test_traversal_in_urls_is_refused_with_400(hub_server, url_path):
    assert requests.get(hub_server.endpoint + url_path).status_code == 400


@pytest.mark.parametrize("name, organization", [("..", "acme"), ("x", ".."), ("a/../../b", "acme"),
                                                ("bert-base-uncased", None)])
def test_bad_or_unnamespaced_repo_ids_are_refused_with_400(hub_server, name, organization):
    response = requests.post(f"{hub_server.endpoint}/api/repos/create", json={"name": name,
                             "organization": organization}, headers={"Authorization": f"Bearer {hub_server.token}"})
    assert response.status_code == 400
    assert "Invalid repo id" in response.json()["error"]


@pytest.mark.slow
def test_files_over_the_configured_limit_are_refused_with_413(tmp_path):
    with running_hub(tmp_path / "small-hub", extra_args=("--max-upload-size", "1MB")) as hub:
        api = HfApi(endpoint=hub.endpoint, token=hub.token)
        api.create_repo("acme/tiny")
        with pytest.raises(HfHubHTTPError) as refused:
            api.upload_file(path_or_fileobj=b"\x00" * 2_000_000, path_in_repo="model.safetensors",
                            repo_id="acme/tiny")
        assert refused.value.response.status_code == 413
        assert api.list_repo_files("acme/tiny") == []


def test_every_token_of_a_token_file_and_of_the_environment_may_write(tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# team tokens\nalice:tok-alice-1234\ntok-ci-5678\n\n")
    with running_hub(tmp_path / "team-hub", extra_args=("--token-file", str(tokens))) as hub:
        HfApi(endpoint=hub.endpoint, token="tok-alice-1234").create_repo("team/shared")
        for token in ("tok-alice-1234", "tok-ci-5678", hub.token):  # hub.token comes from BERTHUB_SERVER_TOKEN
            assert _commit(hub, "team/shared", f"by-{token}.txt", token).status_code == 200
        assert _commit(hub, "team/shared", "intruder.txt", "alice").status_code == 403  # a name is no token
        files = HfApi(endpoint=hub.endpoint).list_repo_files("team/shared")
        assert sorted(f for f in files if f.startswith("by-")) == sorted(
            f"by-{t}.txt" for t in ("tok-alice-1234", "tok-ci-5678", hub.token))
