"""What the hub stores and answers cannot be ambiguous or leak: file/folder clashes, commit-id-like
branch names, case variants of repo ids, private repos, and links built from the Host header."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError
from starlette.testclient import TestClient

from berthub.server.accounts.store import Accounts
from berthub.server.app import create_app
from berthub.server.db.engine import Database, default_url
from berthub.server.http import ServerConfig


@pytest.fixture
def repo(hub_server, api) -> str:
    repo_id = hub_server.unique_repo_id("rules")
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="cfg", repo_id=repo_id)
    return repo_id


def test_a_file_under_an_existing_file_is_refused(api, repo):
    with pytest.raises(HfHubHTTPError) as refused:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="cfg/x", repo_id=repo)
    assert refused.value.response.status_code == 400 and "both a file and the folder" in str(refused.value)
    assert api.list_repo_files(repo) == ["cfg"]


def test_a_file_where_a_folder_exists_is_refused_in_one_commit_too(api, hub_server):
    repo_id = hub_server.unique_repo_id("rules")
    api.create_repo(repo_id)
    with pytest.raises(HfHubHTTPError, match="both a file and the folder"):
        api.create_commit(repo_id, [CommitOperationAdd("a/b/c.txt", b"1"), CommitOperationAdd("a/b", b"2")],
                          commit_message="clash")


def test_replacing_a_file_by_a_folder_in_one_commit_is_allowed(api, repo):
    api.create_commit(repo, [CommitOperationDelete("cfg"), CommitOperationAdd("cfg/x", b"1")], commit_message="ok")
    assert api.list_repo_files(repo) == ["cfg/x"]


@pytest.mark.parametrize("kind", ["branch", "tag"])
def test_names_that_look_like_commit_ids_are_refused(api, repo, kind):
    name = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(HfHubHTTPError) as refused:
        (api.create_branch if kind == "branch" else api.create_tag)(repo, **{kind: name})
    assert refused.value.response.status_code == 400 and "commit id" in str(refused.value)
    assert name not in str(api.list_repo_refs(repo))


def test_repo_ids_differing_only_in_case_are_one_repo(api, hub_server):
    repo_id = hub_server.unique_repo_id("CaseRepo", namespace="Acme")
    api.create_repo(repo_id)
    with pytest.raises(HfHubHTTPError) as refused:
        api.create_repo(repo_id.lower())
    assert refused.value.response.status_code == 409 and "case-insensitive" in str(refused.value)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo_id.upper())
    assert api.model_info(repo_id.lower()).id == repo_id
    assert api.list_repo_files(repo_id) == ["a.txt"]


ROUTES = [("GET", "/api/models/{repo}"), ("GET", "/api/models/{repo}/revision/main"),
          ("GET", "/api/models/{repo}/tree/main"), ("GET", "/api/models/{repo}/tree/main?recursive=true&cursor=1000"),
          ("GET", "/api/models/{repo}/refs"),
          ("GET", "/api/models/{repo}/commits/main"), ("POST", "/api/models/{repo}/paths-info/main"),
          ("HEAD", "/{repo}/resolve/main/config.json"), ("GET", "/{repo}/resolve/main/config.json"),
          ("GET", "/{repo}")]


# Writes by a signed-in caller with no rights there: the repo must not exist for them either.
WRITE_ROUTES = [("POST", "/api/models/{repo}/preupload/main"), ("POST", "/api/models/{repo}/commit/main"),
                ("POST", "/api/models/{repo}/branch/b"), ("PUT", "/api/models/{repo}/settings"),
                ("POST", "/{repo}.git/info/lfs/objects/batch"),
                ("GET", "/api/models/{repo}/user-access-request/pending")]


@pytest.fixture(scope="module")
def outsider(hub_server) -> str:
    """A token of a user of `hub_server` who belongs to no organisation."""
    database = Database.open(default_url(hub_server.root))
    Accounts(database).add_user("rules-outsider")
    token = Accounts(database).create_token("rules-outsider", "t", "write")
    database.close()
    return token


def _answer(hub_server, method: str, route: str, repo_id: str, token: str | None = None) -> tuple:
    response = requests.request(method, hub_server.endpoint + route.format(repo=repo_id),
                                data={"paths": ["config.json"]} if method == "POST" else None,
                                headers={"Authorization": f"Bearer {token}"} if token else None)
    body = response.text.replace(repo_id, "REPO")
    headers = {key: value.replace(repo_id, "REPO") for key, value in response.headers.items()
               if key.lower() not in ("date", "content-length")}
    return response.status_code, headers, body


@pytest.mark.parametrize("method, route, who", [(*route, "anonymous") for route in ROUTES] +
                         [(*route, "outsider") for route in ROUTES + WRITE_ROUTES])
def test_a_private_repo_answers_exactly_like_a_missing_one(api, hub_server, outsider, method, route, who):
    private = hub_server.unique_repo_id("hidden")
    api.create_repo(private, private=True)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=private)
    missing = hub_server.unique_repo_id("hidden")
    token = outsider if who == "outsider" else None
    if (method, route) in ROUTES:  # the hub now remembers the repo's commit: it must not answer from memory
        assert _answer(hub_server, method, route, private, hub_server.token)[0] == 200
    assert _answer(hub_server, method, route, private, token) == _answer(hub_server, method, route, missing, token)
    assert _answer(hub_server, method, route, private, token)[0] == 404


def _lfs_href(client: TestClient, headers: dict[str, str]) -> str:
    client.post("/api/repos/create", json={"name": "m", "organization": "acme"}, headers=headers)
    batch = client.post("/acme/m.git/info/lfs/objects/batch", headers=headers,
                        json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": 3}]})
    return batch.json()["objects"][0]["actions"]["upload"]["href"]


@pytest.mark.parametrize("public_url, expected", [(None, "http://testserver:80/api/lfs/objects/"),
                                                  ("https://hub.example.org/", "https://hub.example.org/api/lfs/")])
def test_upload_links_never_come_from_the_host_header(tmp_path: Path, public_url, expected):
    config = ServerConfig(root=tmp_path / "hub", tokens={"t": "tester"}, public_url=public_url)
    client = TestClient(create_app(config))  # its connections arrive at the address "testserver:80"
    href = _lfs_href(client, {"Authorization": "Bearer t", "Host": "attacker.example"})
    assert href.startswith(expected) and "attacker" not in href


def test_paths_info_answers_files_and_folders(api, hub_server):
    repo_id = hub_server.unique_repo_id("paths")
    api.create_repo(repo_id)
    api.create_commit(repo_id, [CommitOperationAdd("config.json", b"{}"), CommitOperationAdd("sub/dir/x.txt", b"1")],
                      commit_message="files")
    found = {item.path: type(item).__name__ for item in
             api.get_paths_info(repo_id, ["config.json", "sub", "sub/dir", "sub/dir/x.txt", "missing"])}
    assert found == {"config.json": "RepoFile", "sub": "RepoFolder", "sub/dir": "RepoFolder",
                     "sub/dir/x.txt": "RepoFile"}
